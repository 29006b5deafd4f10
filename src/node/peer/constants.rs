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
/// Transport up, not carrying requests: capabilities exchange in progress,
/// or the watchdog is SUSPECT or reopening (RFC 3539).
pub const PEER_CONNECTED: u8 = 0x11;
/// Open and carrying traffic.
pub const PEER_READY: u8 = 0x12;
/// Open and carrying traffic, a DWR waits for its DWA.
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

// python's defaults, by name (python's `Node` and `Peer` attributes), used
// by the node's and the peers' own defaults.

/// How long an initiator waits for the CEA (python's `Node.cea_timeout`, 4 s).
pub const DEFAULT_CEA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// How long a responder waits for the CER (python's `Node.cer_timeout`, 4 s).
pub const DEFAULT_CER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// The silent-peer rule's wait
/// ([`NodeLimits::silent_peer_timeout`](crate::node::NodeLimits::silent_peer_timeout)):
/// 1 s.
pub const DEFAULT_SILENT_PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a DWR waits for its DWA (python's `Node.dwa_timeout`, 4 s).
pub const DEFAULT_DWA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// Watchdog idle time Tw before a DWR (python's `Node.idle_timeout`, 30 s).
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a DPR waits for its DPA, and a DPR receiver for the close (no
/// python counterpart: python waits for `stop`'s `wait_timeout`).
pub const DEFAULT_DPA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// python's `Node.wakeup_interval` (6 s), its `select()` timeout; kept for
/// compatibility (the node's timers follow their own deadlines).
pub const DEFAULT_WAKEUP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(6);
/// Wait before reconnecting a persistent peer (python's `Peer.reconnect_wait`, 30 s).
pub const DEFAULT_RECONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// Wait for a TCP or SCTP connect to complete (no python counterpart).
pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// python's `Node.retransmit_queue_size` (10,240); kept for compatibility.
pub const DEFAULT_RETRANSMIT_QUEUE_SIZE: usize = 10240;
/// How often a statistics snapshot goes into the node's history (python:
/// every 60 s).
pub const DEFAULT_STATISTICS_HISTORY_INTERVAL: std::time::Duration =
    std::time::Duration::from_secs(60);
/// How many statistics snapshots the history keeps (python's
/// `statistics_history` deque: `maxlen=1440`, a day at one a minute).
pub const STATISTICS_HISTORY_SIZE: usize = 1440;
/// Vendor-Id sent in CER/CEA (python's `Node.vendor_id`, 99999).
pub const DEFAULT_VENDOR_ID: u32 = 99999;
/// python's `Node.stop(wait_timeout=180)` default, for ports that name it.
pub const DEFAULT_STOP_WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// python's `state_names`: the name of a `PEER_*` state ("UNKNOWN" for any
/// other value, as python's peer log prints).
pub fn state_name(state: u8) -> &'static str {
    match state {
        PEER_CONNECTING => "CONNECTING",
        PEER_CONNECTED => "CONNECTED",
        PEER_READY => "READY",
        PEER_READY_WAITING_DWA => "READY_WAITING_DWA",
        PEER_DISCONNECTING => "DISCONNECTING",
        PEER_CLOSING => "CLOSING",
        PEER_CLOSED => "CLOSED",
        _ => "UNKNOWN",
    }
}
