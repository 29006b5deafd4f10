//! python's `diameter.node.peer` constants: directions, transports,
//! connection states and disconnect reasons, with the same names and values.

/// The peer connected to us.
pub const PEER_RECV: u8 = 0x01;
/// We connected to the peer.
pub const PEER_SEND: u8 = 0x02;
/// TCP transport.
pub const PEER_TRANSPORT_TCP: u8 = 0x0a;
/// SCTP transport.
pub const PEER_TRANSPORT_SCTP: u8 = 0x0b;
/// Transport connecting.
pub const PEER_CONNECTING: u8 = 0x10;
/// Transport up, capabilities exchange (or reopen) in progress.
pub const PEER_CONNECTED: u8 = 0x11;
/// Open and carrying traffic.
pub const PEER_READY: u8 = 0x12;
/// Open, a DWR waits for its DWA (or the connection is suspect).
pub const PEER_READY_WAITING_DWA: u8 = 0x13;
/// DPR sent or received.
pub const PEER_DISCONNECTING: u8 = 0x1a;
/// Closing once the output is written.
pub const PEER_CLOSING: u8 = 0x1b;
/// Closed.
pub const PEER_CLOSED: u8 = 0x1c;
/// The states in which a connection counts as ready.
pub const PEER_READY_STATES: [u8; 2] = [PEER_READY, PEER_READY_WAITING_DWA];

/// The peer sent a DPR.
pub const DISCONNECT_REASON_DPR: u8 = 0x20;
/// This node stopped.
pub const DISCONNECT_REASON_NODE_SHUTDOWN: u8 = 0x21;
/// A DPR/DPA exchange completed.
pub const DISCONNECT_REASON_CLEAN_DISCONNECT: u8 = 0x22;
/// A socket error.
pub const DISCONNECT_REASON_SOCKET_FAIL: u8 = 0x30;
/// The peer closed the transport.
pub const DISCONNECT_REASON_GONE_AWAY: u8 = 0x31;
/// The transport connection could not be made.
pub const DISCONNECT_REASON_FAILED_CONNECT: u8 = 0x32;
/// The capabilities exchange failed or timed out.
pub const DISCONNECT_REASON_FAILED_CONNECT_CE: u8 = 0x33;
/// The peer refused our CER.
pub const DISCONNECT_REASON_CER_REJECTED: u8 = 0x34;
/// The watchdog found the peer down.
pub const DISCONNECT_REASON_DWA_TIMEOUT: u8 = 0x35;
/// The byte stream could not be framed (not in python: it never closes for it).
pub const DISCONNECT_REASON_PROTOCOL_ERROR: u8 = 0x36;
/// Unknown.
pub const DISCONNECT_REASON_UNKNOWN: u8 = 0x40;
