//! The per-connection protocol core: RFC 6733 §5.6 capabilities exchange and
//! disconnect, RFC 3539 watchdog, and the protocol checks of received
//! messages. Sans-IO: it takes bytes and the current time, and hands back
//! bytes to write, events and its next deadline; it never touches a socket or
//! reads a clock.
//!
//! ```text
//!   initiator                         responder
//!   new_initiator: CER sent           new_responder
//!        |                                 |
//!   WaitCea --CEA 2001, common app-->  WaitCer --CER--> WaitCerDecision
//!        |            |                                  | accept_cer: CEA 2001
//!        |            v                                  v
//!        |          Open  <------------------------------+
//!        |      (watchdog: Okay <-> Suspect; Reopen after a failure)
//!        |        |   \
//!        |  disconnect  DPR received: DPA sent
//!        |  (DPR sent)    |
//!        |        v       v
//!        |     Closing  Disconnecting   (DPA / peer close / timer)
//!        v        |       |
//!      Closed <---+-------+   (CEA refused, CE timer, watchdog down, broken frame)
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, log_enabled, warn, Level};

use crate::message::constants::*;
use crate::message::framer::Framer;
use crate::message::{dump, Avp, AvpValue, DecodeLimits, Message, MessageDecodeError};
use crate::node::peer::capabilities::{
    answer_header, cap_error_message, choose_inband_security, common_applications,
    inband_security_avp, AppId, InbandChoice, LocalCapabilities, RemoteCapabilities,
};
use crate::node::peer::constants::*;
use crate::node::peer::digest::request_digest;
use crate::node::SequenceGenerator;

/// Timers and limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// How long an initiator waits for the CEA (python's `cea_timeout`, 4 s).
    pub cea_timeout: Duration,
    /// How long a responder waits for the CER (python's `cer_timeout`, 4 s).
    pub cer_timeout: Duration,
    /// Tw: idle time before a DWR (python's `idle_timeout`, 30 s); jittered.
    pub idle_timeout: Duration,
    /// How long to wait for a DWA before the connection is suspect, and
    /// again before it is down (python's `dwa_timeout`, 4 s).
    pub dwa_timeout: Duration,
    /// How long to wait for a DPA, or for the peer to close after our DPA.
    pub dpa_timeout: Duration,
    /// Largest message accepted.
    pub max_message_size: u32,
    /// Most bytes waiting to be written: over it, sends are refused, and
    /// received messages are not decoded until the output drains below it
    /// (see [`Connection::wants_read`]), so the machine's own answers (DWA,
    /// error answers) pass it by one message at most.
    pub max_output_buffer: usize,
    /// Largest watchdog jitter (RFC 3539: ±2 s); capped at a quarter of Tw.
    pub max_jitter: Duration,
    /// The silent-peer rule: when a request was sent
    /// ([`requests_written`](Connection::requests_written)) and nothing
    /// has been received since for this long, a DWR goes at once (or the
    /// one waiting is given this long again, not `dwa_timeout`); when
    /// nothing is received within that time either, the watchdog is
    /// SUSPECT, as after a missed DWA. Zero: off (only Tw). 1 s by default.
    pub silent_peer_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            cea_timeout: crate::node::peer::DEFAULT_CEA_TIMEOUT,
            cer_timeout: crate::node::peer::DEFAULT_CER_TIMEOUT,
            idle_timeout: crate::node::peer::DEFAULT_IDLE_TIMEOUT,
            dwa_timeout: crate::node::peer::DEFAULT_DWA_TIMEOUT,
            dpa_timeout: crate::node::peer::DEFAULT_DPA_TIMEOUT,
            max_message_size: crate::message::framer::DEFAULT_MAX_MESSAGE_SIZE,
            max_output_buffer: 64 << 20,
            max_jitter: Duration::from_secs(2),
            silent_peer_timeout: crate::node::peer::DEFAULT_SILENT_PEER_TIMEOUT,
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Initiator: CER sent, waiting for the CEA.
    WaitCea,
    /// Responder: waiting for the CER.
    WaitCer,
    /// Responder: CER received, waiting for [`Connection::accept_cer`] or
    /// [`Connection::reject_cer`].
    WaitCerDecision,
    /// Capabilities exchanged; see [`Watchdog`] for whether traffic flows.
    Open,
    /// We sent a DPR and wait for the DPA.
    Closing,
    /// We answered a DPR and wait for the peer to close.
    Disconnecting,
    /// Done: write what is left, then close the transport.
    Closed,
}

/// RFC 3539 watchdog state of an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watchdog {
    /// Traffic flows; `pending` while a DWR waits for its DWA.
    Okay {
        /// A DWR is outstanding.
        pending: bool,
    },
    /// A DWA was missed: no new traffic until the peer answers again.
    Suspect,
    /// After a failure: traffic resumes after three DWAs in a row.
    Reopen {
        /// A DWR is outstanding.
        pending: bool,
        /// DWAs received so far.
        num_dwa: u8,
    },
}

/// What a connection tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// Responder: a CER arrived; decide with [`Connection::accept_cer`] or
    /// [`Connection::reject_cer`].
    CerReceived(RemoteCapabilities),
    /// CER/CEA agreed on in-band TLS (Inband-Security-Id 1): the transport
    /// must start TLS now, after writing what is queued (a responder's CEA)
    /// in the clear, and call [`Connection::tls_ready`] once the handshake
    /// is done; [`PeerEvent::Opened`] follows then.
    StartTls,
    /// Capabilities were exchanged with the applications both sides support.
    Opened {
        /// The other side's capabilities.
        remote: RemoteCapabilities,
        /// The negotiated applications.
        applications: Vec<AppId>,
    },
    /// Requests may be sent (after the exchange, or once a suspect or
    /// reopened connection answers again).
    Ready,
    /// Requests must not be sent (watchdog failover, or disconnecting).
    NotReady,
    /// An application request or answer arrived.
    Message(Message),
    /// The peer sent a DPR with this Disconnect-Cause (answered already).
    DprReceived(Option<i32>),
    /// The connection is finished; close the transport once the output is written.
    Closed(u8),
}

/// One transport connection's protocol state.
#[derive(Debug)]
pub struct Connection {
    local: Arc<LocalCapabilities>,
    config: ConnectionConfig,
    limits: DecodeLimits,
    is_initiator: bool,
    expected_peer: Option<String>,
    state: State,
    watchdog: Watchdog,
    framer: Framer,
    out: Vec<u8>,
    events: std::collections::VecDeque<PeerEvent>,
    hop_by_hop: SequenceGenerator,
    end_to_end: Arc<SequenceGenerator>,
    remote: Option<RemoteCapabilities>,
    applications: Vec<AppId>,
    ce_deadline: Option<Instant>,
    watchdog_deadline: Option<Instant>,
    close_deadline: Option<Instant>,
    close_reason: Option<u8>,
    pending_cer: Option<crate::message::MessageHeader>,
    /// In-band TLS agreed: the connection opens once the handshake is done.
    awaiting_tls: Option<(RemoteCapabilities, Vec<AppId>)>,
    rng: u64,
    name: String,
    counters: Option<Arc<crate::node::peer::PeerCounters>>,
    /// Application messages keep their received bytes (a relay's).
    keep_bytes: bool,
    /// When bytes were last received.
    pub last_read: Instant,
    /// Bytes received so far (wrapping): whether anything came in after a
    /// given moment.
    bytes_read: u64,
    /// When the outstanding DWR was sent.
    pub dwr_sent: Option<Instant>,
    /// When the first request sent since bytes were last received went.
    unanswered_since: Option<Instant>,
    /// The silent-peer rule's DWR waits (its deadline is the rule's).
    probing: bool,
    /// Requests were queued since [`requests_written`](Self::requests_written).
    requests_queued: bool,
    /// Decoding stopped with bytes left because the output was at its
    /// bound ([`resume`](Self::resume) goes on).
    input_held: bool,
}

impl Connection {
    fn new(
        now: Instant,
        local: Arc<LocalCapabilities>,
        config: ConnectionConfig,
        end_to_end: Arc<SequenceGenerator>,
        is_initiator: bool,
        seed: u64,
    ) -> Connection {
        Connection {
            limits: DecodeLimits {
                max_message_size: config.max_message_size as usize,
                ..DecodeLimits::DEFAULT
            },
            framer: Framer::with_max_message_size(config.max_message_size),
            local,
            config,
            is_initiator,
            expected_peer: None,
            state: if is_initiator {
                State::WaitCea
            } else {
                State::WaitCer
            },
            watchdog: Watchdog::Okay { pending: false },
            out: Vec::new(),
            events: Default::default(),
            hop_by_hop: SequenceGenerator::starting_at((seed as u32).max(1)),
            end_to_end,
            remote: None,
            applications: Vec::new(),
            ce_deadline: None,
            watchdog_deadline: None,
            close_deadline: None,
            close_reason: None,
            pending_cer: None,
            awaiting_tls: None,
            rng: seed | 1,
            name: String::new(),
            counters: None,
            keep_bytes: false,
            last_read: now,
            bytes_read: 0,
            dwr_sent: None,
            unanswered_since: None,
            probing: false,
            requests_queued: false,
            input_held: false,
        }
    }

    /// A connection we opened: the CER is written at once. `expected_peer`
    /// is the Origin-Host the CEA must carry (RFC 6733 §5.6.1: the peer we
    /// meant to reach); `seed` feeds the hop-by-hop start and the watchdog
    /// jitter. `reopen` starts the RFC 3539 REOPEN phase (three DWAs before
    /// traffic) for a peer whose previous connection failed its watchdog.
    pub fn new_initiator(
        now: Instant,
        local: Arc<LocalCapabilities>,
        config: ConnectionConfig,
        end_to_end: Arc<SequenceGenerator>,
        expected_peer: Option<String>,
        reopen: bool,
        seed: u64,
    ) -> Connection {
        let mut c = Self::new(now, local, config, end_to_end, true, seed);
        c.name = expected_peer.clone().unwrap_or_default();
        c.expected_peer = expected_peer;
        if reopen {
            c.watchdog = Watchdog::Reopen {
                pending: false,
                num_dwa: 0,
            };
        }
        c.ce_deadline = Some(later(now, config.cea_timeout));
        let hbh = c.hop_by_hop.next_sequence();
        let e2e = c.end_to_end.next_sequence();
        match c.local.cer(hbh, e2e) {
            Ok(cer) => c.queue(&cer),
            Err(e) => c.fail(
                now,
                DISCONNECT_REASON_FAILED_CONNECT_CE,
                &format!("cannot build CER: {e}"),
            ),
        }
        c
    }

    /// A connection the peer opened; it waits for the CER.
    pub fn new_responder(
        now: Instant,
        local: Arc<LocalCapabilities>,
        config: ConnectionConfig,
        end_to_end: Arc<SequenceGenerator>,
        seed: u64,
    ) -> Connection {
        let mut c = Self::new(now, local, config, end_to_end, false, seed);
        c.ce_deadline = Some(later(now, config.cer_timeout));
        c
    }

    /// Counts every message received from now on into `counters` (the
    /// peer's, once known).
    pub fn set_counters(&mut self, counters: Arc<crate::node::peer::PeerCounters>) {
        self.counters = Some(counters);
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The watchdog state (meaningful while open).
    pub fn watchdog(&self) -> Watchdog {
        self.watchdog
    }

    /// python's PEER_* state number for this connection.
    pub fn python_state(&self) -> u8 {
        match (self.state, self.watchdog) {
            (State::WaitCea | State::WaitCer | State::WaitCerDecision, _) => PEER_CONNECTED,
            (State::Open, Watchdog::Okay { pending: false }) => PEER_READY,
            (State::Open, Watchdog::Okay { pending: true }) => PEER_READY_WAITING_DWA,
            // SUSPECT carries no requests (RFC 3539 §3.4.1): not a ready
            // state, or routing would pick the peer it cannot send to
            (State::Open, Watchdog::Suspect | Watchdog::Reopen { .. }) => PEER_CONNECTED,
            (State::Closing | State::Disconnecting, _) => PEER_DISCONNECTING,
            (State::Closed, _) if !self.out.is_empty() => PEER_CLOSING,
            (State::Closed, _) => PEER_CLOSED,
        }
    }

    /// Whether we opened this connection.
    pub fn is_initiator(&self) -> bool {
        self.is_initiator
    }

    /// Whether requests may be sent now: open and the watchdog okay.
    pub fn is_ready(&self) -> bool {
        self.state == State::Open && matches!(self.watchdog, Watchdog::Okay { .. })
    }

    /// The other side's capabilities, once exchanged.
    pub fn remote(&self) -> Option<&RemoteCapabilities> {
        self.remote.as_ref()
    }

    /// The negotiated applications.
    pub fn applications(&self) -> &[AppId] {
        &self.applications
    }

    /// The reason the connection closed, once it did.
    pub fn close_reason(&self) -> Option<u8> {
        self.close_reason
    }

    /// The next hop-by-hop identifier of this connection.
    pub fn next_hop_by_hop(&self) -> u32 {
        self.hop_by_hop.next_sequence()
    }

    /// Bytes waiting to be written.
    pub fn pending_output(&self) -> &[u8] {
        &self.out
    }

    /// Drops the first `n` written bytes.
    pub fn consume_output(&mut self, n: usize) {
        if n >= self.out.len() {
            self.out.clear();
        } else {
            self.out.drain(..n);
        }
    }

    /// Takes the output buffer whole (for a writer that keeps its own).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// The earliest deadline; call [`handle_timeout`](Self::handle_timeout) then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ce_deadline,
            self.watchdog_deadline,
            self.close_deadline,
            self.probe_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the transport should be closed now (closed and nothing left to write).
    pub fn wants_close(&self) -> bool {
        self.state == State::Closed && self.out.is_empty()
    }

    fn queue(&mut self, msg: &Message) {
        let start = self.out.len();
        if let Err(e) = msg.encode_into(&mut self.out) {
            warn!(target: "diameter.peer", "{}: cannot encode {}: {e}", self.name, msg);
            return;
        }
        if log_enabled!(target: "diameter.peer.msg", Level::Debug) {
            log_sent(&self.name, self.out.get(start..).unwrap_or_default());
        }
    }

    /// Queues already-encoded application messages (requests or answers).
    /// Requests are refused unless [`is_ready`](Self::is_ready); answers are
    /// accepted until the connection closes.
    pub fn send_bytes(&mut self, bytes: &[u8], is_request: bool) -> Result<(), SendError> {
        let open = match self.state {
            State::Open => !is_request || self.is_ready(),
            State::Closing | State::Disconnecting => !is_request,
            _ => false,
        };
        if !open {
            return Err(SendError::NotReady);
        }
        if self.out.len() + bytes.len() > self.config.max_output_buffer {
            return Err(SendError::BufferFull);
        }
        if log_enabled!(target: "diameter.peer.msg", Level::Debug) {
            log_sent(&self.name, bytes);
        }
        self.out.extend_from_slice(bytes);
        self.requests_queued |= is_request;
        Ok(())
    }

    /// The in-band TLS handshake that followed [`PeerEvent::StartTls`] is
    /// done: the connection opens. Bytes received after the handshake open
    /// it too.
    pub fn tls_ready(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if let Some((remote, applications)) = self.awaiting_tls.take() {
            self.open(now, remote, applications);
        }
    }

    /// Whether an in-band TLS handshake must finish before the connection opens.
    pub fn is_awaiting_tls(&self) -> bool {
        self.awaiting_tls.is_some()
    }

    /// Feeds bytes received through a TLS session: reaching here means its
    /// handshake is done, so an in-band connection waiting for it opens
    /// first.
    pub fn handle_secure_bytes(&mut self, now: Instant, data: &[u8]) {
        self.tls_ready(now);
        self.handle_bytes(now, data);
    }

    /// Feeds received bytes. Once CER/CEA agreed on in-band TLS, nothing may
    /// arrive in the clear before the handshake: such bytes are not read,
    /// and the connection closes.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if self.awaiting_tls.is_some() {
            self.fail(
                now,
                DISCONNECT_REASON_PROTOCOL_ERROR,
                "cleartext received after in-band TLS was agreed",
            );
            return;
        }
        self.last_read = now;
        self.bytes_read = self.bytes_read.wrapping_add(data.len() as u64);
        self.unanswered_since = None;
        self.framer.feed(data);
        self.decode(now);
    }

    /// Whether the caller should feed more bytes: false once the output is
    /// at `max_output_buffer` (the peer has not read what it asked for), or
    /// when the connection is closed. Bytes fed anyway are kept undecoded.
    pub fn wants_read(&self) -> bool {
        self.state != State::Closed && self.out.len() < self.config.max_output_buffer
    }

    /// Whether received bytes wait undecoded because the output was at its
    /// bound; [`resume`](Self::resume) decodes them once it has drained.
    pub fn holds_input(&self) -> bool {
        self.input_held && self.state != State::Closed && self.awaiting_tls.is_none()
    }

    /// Decodes the messages held while the output was at its bound (after
    /// the caller wrote some of it); does nothing when none are held.
    pub fn resume(&mut self, now: Instant) {
        if self.holds_input() {
            self.decode(now);
        }
    }

    /// Decodes and handles the buffered messages while the output has room:
    /// the machine answers DWRs, CERs and broken requests itself, so a peer
    /// that sends without reading would otherwise make it queue answers
    /// without bound. What is left stays in the framer.
    fn decode(&mut self, now: Instant) {
        self.input_held = false;
        loop {
            if self.out.len() >= self.config.max_output_buffer {
                self.input_held = self.framer.buffered() > 0;
                return;
            }
            // decoded straight from the framer's buffer, no copy
            let decoded = match self.framer.next_frame() {
                Ok(Some(frame)) => {
                    let decoded = Message::from_bytes_with(frame, &self.limits);
                    match decoded {
                        Ok(mut msg) if !is_base_command(&msg) => {
                            if self.keep_bytes {
                                // a relay takes the digest from these bytes
                                // for the requests it handles itself
                                msg.wire = Some(frame.to_vec());
                            } else if msg.header.is_request() {
                                // what duplicate detection compares, taken
                                // from the bytes at hand
                                msg.request_digest = request_digest(frame);
                            }
                            Ok(msg)
                        }
                        other => other,
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.fail(
                        now,
                        DISCONNECT_REASON_PROTOCOL_ERROR,
                        &format!("broken stream: {e}"),
                    );
                    return;
                }
            };
            match decoded {
                Ok(msg) => self.handle_message(now, msg),
                Err(e) => self.handle_decode_error(now, e),
            }
            if self.state == State::Closed {
                return;
            }
            if self.awaiting_tls.is_some() {
                // the CER/CEA that chose TLS: whatever followed it in the
                // clear is not read
                if self.framer.buffered() > 0 {
                    self.fail(
                        now,
                        DISCONNECT_REASON_PROTOCOL_ERROR,
                        "cleartext received after in-band TLS was agreed",
                    );
                }
                return;
            }
        }
    }

    /// Bytes received on the connection so far (wrapping): unchanged
    /// between two moments when nothing was read in between.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Whether application requests and answers keep their received bytes
    /// (for a relay, which forwards them unchanged).
    pub(crate) fn set_keep_bytes(&mut self, keep: bool) {
        self.keep_bytes = keep;
    }

    /// The transport closed under us (EOF or error).
    pub fn handle_transport_closed(&mut self, now: Instant, reason: u8) {
        let reason = match self.state {
            State::Disconnecting => DISCONNECT_REASON_DPR,
            State::Closing => DISCONNECT_REASON_CLEAN_DISCONNECT,
            _ => reason,
        };
        self.out.clear();
        self.close(now, reason);
    }

    fn handle_decode_error(&mut self, now: Instant, e: MessageDecodeError) {
        let Some(header) = e.header().copied() else {
            return;
        };
        crate::node::ratelimit::warn(
            now,
            &INVALID_MESSAGE_LOG,
            format_args!("{}: invalid message: {e}", self.name),
        );
        if self.state == State::WaitCer {
            // nothing but a valid CER is expected first (RFC 6733 §5.6)
            self.close(now, DISCONNECT_REASON_PROTOCOL_ERROR);
            return;
        }
        if !header.is_request() || self.state == State::WaitCea {
            return;
        }
        self.note_traffic(now, false);
        let answer = self.error_answer(
            &header,
            e.result_code(),
            Some(&e.to_string()),
            e.failed_avp().cloned(),
        );
        self.queue(&answer);
    }

    /// An answer to `request` with `result_code`, Origin-Host/Realm, an
    /// Error-Message and a Failed-AVP; the E bit is set for 3xxx codes.
    pub fn error_answer(
        &self,
        request: &crate::message::MessageHeader,
        result_code: u32,
        error_message: Option<&str>,
        failed_avp: Option<Avp>,
    ) -> Message {
        build_error_answer(&self.local, request, result_code, error_message, failed_avp)
    }

    fn handle_message(&mut self, now: Instant, msg: Message) {
        if log_enabled!(target: "diameter.peer.msg", Level::Debug) {
            debug!(target: "diameter.peer.msg", "RECV {}\n{}", self.name, dump(&msg));
        }
        let code = msg.header.command_code;
        let is_request = msg.header.is_request();
        if let Some(counters) = &self.counters {
            counters.count(code, is_request);
        }
        match (self.state, code, is_request) {
            (State::WaitCer, CMD_CAPABILITIES_EXCHANGE, true) => self.on_cer(now, msg),
            (State::WaitCea, CMD_CAPABILITIES_EXCHANGE, false) => self.on_cea(now, msg),
            (State::WaitCer, _, _) => {
                // RFC 6733 §5.6: only a CER is expected first on an
                // incoming connection; anything else closes it at once
                self.fail(
                    now,
                    DISCONNECT_REASON_PROTOCOL_ERROR,
                    &format!("{msg} before the CER"),
                );
            }
            (State::WaitCea | State::WaitCerDecision, _, _) => {
                debug!(target: "diameter.peer", "{}: {} before capabilities exchange, dropped", self.name, msg);
            }
            (_, CMD_DEVICE_WATCHDOG, true) => {
                self.note_traffic(now, false);
                self.answer_dwr(&msg);
            }
            (_, CMD_DEVICE_WATCHDOG, false) => self.note_traffic(now, true),
            (_, CMD_DISCONNECT_PEER, true) => self.on_dpr(now, &msg),
            (State::Closing, CMD_DISCONNECT_PEER, false) => {
                self.close(now, DISCONNECT_REASON_CLEAN_DISCONNECT)
            }
            (_, CMD_CAPABILITIES_EXCHANGE, true) => {
                // RFC 6733 §5.6: a CER on an open connection is not expected
                let cea = self.local.cea(
                    &msg.header,
                    E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY,
                    Some("capabilities already exchanged"),
                );
                if let Ok(cea) = cea {
                    self.queue(&cea);
                }
            }
            (_, CMD_CAPABILITIES_EXCHANGE | CMD_DISCONNECT_PEER, false) => {
                debug!(target: "diameter.peer", "{}: unexpected {}, dropped", self.name, msg);
            }
            _ => {
                if matches!(self.watchdog, Watchdog::Reopen { .. }) && self.state == State::Open {
                    // RFC 3539 §3.4.1: traffic is thrown away until reopened
                    debug!(target: "diameter.peer", "{}: {} while reopening, dropped", self.name, msg);
                    return;
                }
                self.note_traffic(now, false);
                self.events.push_back(PeerEvent::Message(msg));
            }
        }
    }

    fn on_cer(&mut self, _now: Instant, msg: Message) {
        let missing = crate::message::commands::missing_avps(&msg);
        if !missing.is_empty() {
            let mut cea = build_error_answer(
                &self.local,
                &msg.header,
                E_RESULT_CODE_DIAMETER_MISSING_AVP,
                Some("Mandatory AVPs missing"),
                None,
            );
            if let Ok(failed) = Avp::new(AVP_FAILED_AVP, 0, missing) {
                cea.append_avp(failed);
            }
            self.queue(&cea);
            self.state = State::Closed;
            self.finish(DISCONNECT_REASON_FAILED_CONNECT_CE);
            return;
        }
        match RemoteCapabilities::from_message(&msg) {
            Ok(remote) => {
                self.name = remote.origin_host.clone();
                self.state = State::WaitCerDecision;
                self.pending_cer = Some(msg.header);
                self.remote = Some(remote.clone());
                self.events.push_back(PeerEvent::CerReceived(remote));
            }
            Err((code, name)) => {
                let failed = Avp::with_value(code, 0, AvpValue::Raw(Vec::new()));
                let cea = build_error_answer(
                    &self.local,
                    &msg.header,
                    E_RESULT_CODE_DIAMETER_MISSING_AVP,
                    Some(&format!("{name} missing")),
                    Some(failed),
                );
                self.queue(&cea);
                self.state = State::Closed;
                self.finish(DISCONNECT_REASON_FAILED_CONNECT_CE);
            }
        }
    }

    /// Accepts the received CER: a CEA 2001 is written and the connection
    /// opens, or, when no application is common, a CEA 5010 is written and
    /// the connection closes.
    pub fn accept_cer(&mut self, now: Instant) {
        let (Some(header), Some(remote)) = (self.pending_cer.take(), self.remote.clone()) else {
            return;
        };
        if self.state != State::WaitCerDecision {
            return;
        }
        let common = common_applications(&self.local.applications, &remote.applications);
        let security = choose_inband_security(&self.local.inband_security, &remote.inband_security);
        let refusal = if common.is_empty() {
            Some(E_RESULT_CODE_DIAMETER_NO_COMMON_APPLICATION)
        } else if security == InbandChoice::NoCommon {
            Some(E_RESULT_CODE_DIAMETER_NO_COMMON_SECURITY)
        } else {
            None
        };
        if let Some(code) = refusal {
            if let Ok(cea) = self.local.cea(&header, code, None) {
                self.queue(&cea);
            }
            self.state = State::Closed;
            self.finish(DISCONNECT_REASON_FAILED_CONNECT_CE);
            return;
        }
        match self
            .local
            .cea(&header, E_RESULT_CODE_DIAMETER_SUCCESS, None)
        {
            Ok(mut cea) => {
                // the CEA names the choice when this side offers anything
                if !self.local.inband_security.is_empty() {
                    let id = match security {
                        InbandChoice::Tls => E_INBAND_SECURITY_ID_TLS,
                        _ => E_INBAND_SECURITY_ID_NO_INBAND_SECURITY,
                    };
                    cea.avps.push(inband_security_avp(id as u32));
                }
                self.queue(&cea);
                if security == InbandChoice::Tls {
                    self.events.push_back(PeerEvent::StartTls);
                    self.awaiting_tls = Some((remote, common));
                    return;
                }
            }
            Err(e) => {
                self.fail(
                    now,
                    DISCONNECT_REASON_FAILED_CONNECT_CE,
                    &format!("cannot build CEA: {e}"),
                );
                return;
            }
        }
        self.open(now, remote, common);
    }

    /// Refuses the received CER with `result_code` (3010 unknown peer, 4003
    /// election lost, ...): the CEA is written, then the connection closes.
    pub fn reject_cer(&mut self, _now: Instant, result_code: u32, error_message: Option<&str>) {
        let Some(header) = self.pending_cer.take() else {
            return;
        };
        if let Ok(cea) = self.local.cea(&header, result_code, error_message) {
            self.queue(&cea);
        }
        self.state = State::Closed;
        self.finish(DISCONNECT_REASON_FAILED_CONNECT_CE);
    }

    fn on_cea(&mut self, now: Instant, msg: Message) {
        let remote = match RemoteCapabilities::from_message(&msg) {
            Ok(r) => r,
            Err((_, name)) => {
                self.fail(
                    now,
                    DISCONNECT_REASON_CER_REJECTED,
                    &format!("CEA without {name}"),
                );
                return;
            }
        };
        if remote.result_code != Some(E_RESULT_CODE_DIAMETER_SUCCESS) {
            self.fail(
                now,
                DISCONNECT_REASON_CER_REJECTED,
                &format!("CEA result {:?}", remote.result_code),
            );
            return;
        }
        if let Some(expected) = &self.expected_peer {
            if !expected.eq_ignore_ascii_case(&remote.origin_host) {
                let text = format!(
                    "CEA from {} while {expected} was expected",
                    remote.origin_host
                );
                self.fail(now, DISCONNECT_REASON_CER_REJECTED, &text);
                return;
            }
        }
        let common = common_applications(&self.local.applications, &remote.applications);
        if common.is_empty() {
            self.fail(now, DISCONNECT_REASON_CER_REJECTED, "no common application");
            return;
        }
        self.name = remote.origin_host.clone();
        match choose_inband_security(&self.local.inband_security, &remote.inband_security) {
            InbandChoice::Clear => {}
            InbandChoice::Tls => {
                self.events.push_back(PeerEvent::StartTls);
                self.awaiting_tls = Some((remote, common));
                return;
            }
            InbandChoice::NoCommon => {
                self.fail(now, DISCONNECT_REASON_CER_REJECTED, "no common security");
                return;
            }
        }
        self.open(now, remote, common);
    }

    fn open(&mut self, now: Instant, remote: RemoteCapabilities, applications: Vec<AppId>) {
        self.state = State::Open;
        self.ce_deadline = None;
        self.remote = Some(remote.clone());
        self.applications = applications.clone();
        debug!(target: "diameter.peer", "{}: capabilities exchanged, applications {:?}", self.name, applications);
        self.events.push_back(PeerEvent::Opened {
            remote,
            applications,
        });
        match self.watchdog {
            Watchdog::Reopen { .. } => self.send_dwr(now),
            _ => {
                self.events.push_back(PeerEvent::Ready);
                self.set_watchdog(now);
            }
        }
    }

    fn answer_dwr(&mut self, dwr: &Message) {
        let mut dwa = Message::new(answer_header(&dwr.header), Vec::with_capacity(4));
        let avps = [
            Avp::new(AVP_RESULT_CODE, 0, E_RESULT_CODE_DIAMETER_SUCCESS),
            Avp::new(AVP_ORIGIN_HOST, 0, self.local.origin_host.as_str()),
            Avp::new(AVP_ORIGIN_REALM, 0, self.local.origin_realm.as_str()),
            Avp::new(AVP_ORIGIN_STATE_ID, 0, self.local.origin_state_id),
        ];
        dwa.avps.extend(avps.into_iter().flatten());
        self.queue(&dwa);
    }

    fn on_dpr(&mut self, now: Instant, dpr: &Message) {
        let cause = dpr
            .find_avp(&[(AVP_DISCONNECT_CAUSE, 0)])
            .and_then(Avp::as_i32);
        let mut dpa = Message::new(answer_header(&dpr.header), Vec::with_capacity(3));
        let avps = [
            Avp::new(AVP_RESULT_CODE, 0, E_RESULT_CODE_DIAMETER_SUCCESS),
            Avp::new(AVP_ORIGIN_HOST, 0, self.local.origin_host.as_str()),
            Avp::new(AVP_ORIGIN_REALM, 0, self.local.origin_realm.as_str()),
        ];
        dpa.avps.extend(avps.into_iter().flatten());
        self.queue(&dpa);
        let was_ready = self.is_ready();
        self.state = State::Disconnecting;
        self.watchdog_deadline = None;
        self.close_deadline = Some(later(now, self.config.dpa_timeout));
        if was_ready {
            self.events.push_back(PeerEvent::NotReady);
        }
        self.events.push_back(PeerEvent::DprReceived(cause));
    }

    /// Starts a clean disconnect: a DPR with `cause` (an
    /// `E_DISCONNECT_CAUSE_*` value) when the connection is open, else an
    /// immediate close.
    pub fn disconnect(&mut self, now: Instant, cause: i32) {
        match self.state {
            State::Open => {
                let was_ready = self.is_ready();
                let mut header = crate::message::MessageHeader::new(CMD_DISCONNECT_PEER, 0);
                header.set_request(true);
                header.hop_by_hop_identifier = self.hop_by_hop.next_sequence();
                header.end_to_end_identifier = self.end_to_end.next_sequence();
                let mut dpr = Message::new(header, Vec::with_capacity(3));
                let avps = [
                    Avp::new(AVP_ORIGIN_HOST, 0, self.local.origin_host.as_str()),
                    Avp::new(AVP_ORIGIN_REALM, 0, self.local.origin_realm.as_str()),
                    Avp::new(AVP_DISCONNECT_CAUSE, 0, cause),
                ];
                dpr.avps.extend(avps.into_iter().flatten());
                self.queue(&dpr);
                self.state = State::Closing;
                self.watchdog_deadline = None;
                self.close_deadline = Some(later(now, self.config.dpa_timeout));
                if was_ready {
                    self.events.push_back(PeerEvent::NotReady);
                }
            }
            State::Closing | State::Disconnecting | State::Closed => {}
            _ => self.close(now, DISCONNECT_REASON_NODE_SHUTDOWN),
        }
    }

    /// Closes at once (node shutdown with force, or the owner's decision).
    pub fn abort(&mut self, now: Instant, reason: u8) {
        self.out.clear();
        self.close(now, reason);
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ce_deadline.is_some_and(|d| d <= now) {
            self.ce_deadline = None;
            self.fail(
                now,
                DISCONNECT_REASON_FAILED_CONNECT_CE,
                "capabilities exchange timed out",
            );
            return;
        }
        if self.close_deadline.is_some_and(|d| d <= now) {
            self.close_deadline = None;
            let reason = match self.state {
                State::Disconnecting => DISCONNECT_REASON_DPR,
                _ => DISCONNECT_REASON_CLEAN_DISCONNECT,
            };
            self.close(now, reason);
            return;
        }
        if self.watchdog_deadline.is_some_and(|d| d <= now) {
            self.watchdog_deadline = None;
            self.watchdog_expired(now);
        } else if self.probe_deadline().is_some_and(|d| d <= now) {
            self.probe(now);
        }
    }

    /// The requests [`send_bytes`](Self::send_bytes) took since the last
    /// call go out at `now` (the owner calls this when it writes): the
    /// silent-peer rule counts from the first request sent since bytes
    /// were last received.
    pub fn requests_written(&mut self, now: Instant) {
        if std::mem::take(&mut self.requests_queued) && self.unanswered_since.is_none() {
            self.unanswered_since = Some(now);
        }
    }

    /// When the silent-peer rule asks the peer whether it is alive: the
    /// first request sent since bytes were last received, plus
    /// `silent_peer_timeout`; none while a DWR of the rule waits, when the
    /// rule is off or the connection carries no requests.
    fn probe_deadline(&self) -> Option<Instant> {
        let wait = self.config.silent_peer_timeout;
        if wait.is_zero() || self.probing || !self.is_ready() {
            return None;
        }
        self.unanswered_since.map(|t| later(t, wait))
    }

    /// The silent-peer rule: a DWR now (unless one waits already), and the
    /// watchdog SUSPECT unless something comes within `silent_peer_timeout`.
    fn probe(&mut self, now: Instant) {
        let wait = self.config.silent_peer_timeout;
        debug!(target: "diameter.peer", "{}: requests unanswered and nothing received for {wait:?}, DWR", self.name);
        self.probing = true;
        match self.watchdog {
            Watchdog::Okay { pending: false } => {
                self.send_dwr(now);
                self.watchdog_deadline = Some(later(now, wait));
            }
            Watchdog::Okay { pending: true } => {
                let by = later(now, wait);
                self.watchdog_deadline = Some(self.watchdog_deadline.map_or(by, |d| d.min(by)));
            }
            Watchdog::Suspect | Watchdog::Reopen { .. } => self.probing = false,
        }
    }

    /// RFC 3539 §3.4.1, "timer expires".
    fn watchdog_expired(&mut self, now: Instant) {
        match self.watchdog {
            Watchdog::Okay { pending: false } => self.send_dwr(now),
            Watchdog::Okay { pending: true } => {
                debug!(target: "diameter.peer", "{}: DWA missed, connection suspect", self.name);
                self.probing = false;
                self.watchdog = Watchdog::Suspect;
                self.events.push_back(PeerEvent::NotReady);
                self.watchdog_deadline = Some(later(now, self.config.dwa_timeout));
            }
            Watchdog::Suspect => self.fail(now, DISCONNECT_REASON_DWA_TIMEOUT, "second DWA missed"),
            Watchdog::Reopen { pending: false, .. } => self.send_dwr(now),
            Watchdog::Reopen { pending: true, .. } => self.fail(
                now,
                DISCONNECT_REASON_DWA_TIMEOUT,
                "DWA missed while reopening",
            ),
        }
    }

    fn send_dwr(&mut self, now: Instant) {
        let mut header = crate::message::MessageHeader::new(CMD_DEVICE_WATCHDOG, 0);
        header.set_request(true);
        header.hop_by_hop_identifier = self.hop_by_hop.next_sequence();
        header.end_to_end_identifier = self.end_to_end.next_sequence();
        let mut dwr = Message::new(header, Vec::with_capacity(3));
        let avps = [
            Avp::new(AVP_ORIGIN_HOST, 0, self.local.origin_host.as_str()),
            Avp::new(AVP_ORIGIN_REALM, 0, self.local.origin_realm.as_str()),
            Avp::new(AVP_ORIGIN_STATE_ID, 0, self.local.origin_state_id),
        ];
        dwr.avps.extend(avps.into_iter().flatten());
        self.queue(&dwr);
        self.dwr_sent = Some(now);
        self.watchdog = match self.watchdog {
            Watchdog::Reopen { num_dwa, .. } => Watchdog::Reopen {
                pending: true,
                num_dwa,
            },
            _ => Watchdog::Okay { pending: true },
        };
        self.watchdog_deadline = Some(later(now, self.config.dwa_timeout));
    }

    /// RFC 3539 §3.4.1, "receive DWA" and "receive non-DWA".
    fn note_traffic(&mut self, now: Instant, is_dwa: bool) {
        if self.state != State::Open {
            return;
        }
        match self.watchdog {
            Watchdog::Okay { pending } => {
                let pending = pending && !is_dwa;
                self.watchdog = Watchdog::Okay { pending };
                if is_dwa {
                    self.dwr_sent = None;
                }
                if !pending {
                    self.set_watchdog(now);
                } else if self.probing {
                    // heard from: the DWR waits as long as any
                    let wait = self.config.dwa_timeout;
                    self.watchdog_deadline = Some(later(self.dwr_sent.unwrap_or(now), wait));
                }
                self.probing = false;
            }
            Watchdog::Suspect => {
                debug!(target: "diameter.peer", "{}: peer answers again", self.name);
                self.watchdog = Watchdog::Okay { pending: false };
                self.dwr_sent = None;
                self.events.push_back(PeerEvent::Ready);
                self.set_watchdog(now);
            }
            Watchdog::Reopen { num_dwa, .. } if is_dwa => {
                self.dwr_sent = None;
                if num_dwa + 1 >= 3 {
                    self.watchdog = Watchdog::Okay { pending: false };
                    self.events.push_back(PeerEvent::Ready);
                } else {
                    self.watchdog = Watchdog::Reopen {
                        pending: false,
                        num_dwa: num_dwa + 1,
                    };
                }
                self.set_watchdog(now);
            }
            Watchdog::Reopen { .. } => {}
        }
    }

    /// Tw with jitter (RFC 3539 §3.4.1: ±2 s, here at most a quarter of Tw).
    fn set_watchdog(&mut self, now: Instant) {
        let tw = self.config.idle_timeout;
        let max = self.config.max_jitter.min(tw / 4);
        let span = u64::try_from(max.as_millis()).unwrap_or(u64::MAX / 4) * 2;
        let tw = if span > 0 {
            // xorshift64: cheap, good enough for jitter
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            tw.saturating_sub(max)
                .saturating_add(Duration::from_millis(self.rng % (span + 1)))
        } else {
            tw
        };
        self.watchdog_deadline = Some(later(now, tw));
    }

    fn fail(&mut self, now: Instant, reason: u8, why: &str) {
        crate::node::ratelimit::warn(
            now,
            &CLOSING_LOG,
            format_args!("{}: closing: {why}", self.name),
        );
        self.close(now, reason);
    }

    fn close(&mut self, _now: Instant, reason: u8) {
        if self.state == State::Closed {
            return;
        }
        let was_ready = self.is_ready();
        self.state = State::Closed;
        if was_ready {
            self.events.push_back(PeerEvent::NotReady);
        }
        self.finish(reason);
    }

    fn finish(&mut self, reason: u8) {
        self.ce_deadline = None;
        self.watchdog_deadline = None;
        self.close_deadline = None;
        self.pending_cer = None;
        if self.close_reason.is_none() {
            self.close_reason = Some(reason);
            self.events.push_back(PeerEvent::Closed(reason));
        }
    }
}

/// Why application bytes could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection does not carry requests now.
    #[error("connection not ready")]
    NotReady,
    /// Too many bytes wait to be written.
    #[error("output buffer full")]
    BufferFull,
}

/// An error answer to `request` (RFC 6733 §7.2): Result-Code, Origin-Host,
/// Origin-Realm, Error-Message, Failed-AVP, and the E bit for 3xxx codes.
pub fn build_error_answer(
    local: &LocalCapabilities,
    request: &crate::message::MessageHeader,
    result_code: u32,
    error_message: Option<&str>,
    failed_avp: Option<Avp>,
) -> Message {
    let mut answer = Message::new(answer_header(request), Vec::with_capacity(6));
    answer.header.set_error((3000..4000).contains(&result_code));
    let avps = [
        Avp::new(AVP_RESULT_CODE, 0, result_code),
        Avp::new(AVP_ORIGIN_HOST, 0, local.origin_host.as_str()),
        Avp::new(AVP_ORIGIN_REALM, 0, local.origin_realm.as_str()),
    ];
    answer.avps.extend(avps.into_iter().flatten());
    if let Some(text) = error_message {
        if let Ok(a) = Avp::new(AVP_ERROR_MESSAGE, 0, cap_error_message(text).as_ref()) {
            answer.avps.push(a.with_mandatory(false));
        }
    }
    if let Some(failed) = failed_avp.map(cap_failed_avp) {
        if let Ok(a) = Avp::new(AVP_FAILED_AVP, 0, vec![failed]) {
            answer.avps.push(a);
        }
    }
    answer
}

/// Largest AVP echoed whole in a Failed-AVP: a bigger one is sent with its
/// code, flags and vendor but no data, so a large bad request never earns a
/// large answer.
pub const MAX_FAILED_AVP_ECHO: usize = 1024;

/// `avp`, or its empty-data form when it is larger than [`MAX_FAILED_AVP_ECHO`].
pub fn cap_failed_avp(avp: Avp) -> Avp {
    if avp.padded_len() <= MAX_FAILED_AVP_ECHO {
        return avp;
    }
    let mut empty = Avp::with_value(avp.code(), avp.vendor_id(), AvpValue::Raw(Vec::new()));
    empty.set_flags(avp.flags());
    empty
}

/// `now + d`, saturating: a setting near `Duration::MAX` means "never"
/// instead of an overflow.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// What "never" is: far enough for any deadline a node can have.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

static INVALID_MESSAGE_LOG: crate::node::ratelimit::RateLimit =
    crate::node::ratelimit::RateLimit::new("diameter.peer");
static CLOSING_LOG: crate::node::ratelimit::RateLimit =
    crate::node::ratelimit::RateLimit::new("diameter.peer");

/// python's `SENT <peer>` dump on `diameter.peer.msg`, read back from the
/// encoded bytes so that the header shows what goes out (its Length, the
/// hop-by-hop identifier the connection set). Only called when that
/// target's debug level is on.
fn log_sent(name: &str, bytes: &[u8]) {
    match Message::from_bytes(bytes) {
        Ok(msg) => debug!(target: "diameter.peer.msg", "SENT {name}\n{}", dump(&msg)),
        Err(e) => debug!(
            target: "diameter.peer.msg",
            "SENT {name}\nFailed to produce a message dump: {e}"
        ),
    }
}

/// CER/CEA, DWR/DWA and DPR/DPA: the peer machine's own.
fn is_base_command(msg: &Message) -> bool {
    matches!(
        msg.header.command_code,
        CMD_CAPABILITIES_EXCHANGE | CMD_DEVICE_WATCHDOG | CMD_DISCONNECT_PEER
    )
}
