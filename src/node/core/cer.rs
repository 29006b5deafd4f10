//! The CER decision (RFC 6733 §5.6.1, §5.6.4): who may connect, from
//! where, over what, and which of two connections to one peer survives.

use std::sync::Arc;
use std::time::Instant;

use log::info;

use crate::message::constants::*;
use crate::node::core::conn::ConnId;
use crate::node::core::dispatch::{peer_key, CertificateCheck, Dispatch, REFUSED_LOG};
use crate::node::peer::*;
use crate::node::ratelimit;
use crate::node::shared::count;

/// A refusal of a CER: its Result-Code and why (logged, and the CEA's
/// Error-Message).
struct Refusal(u32, String);

impl Refusal {
    fn unknown_peer(why: impl Into<String>) -> Refusal {
        Refusal(E_RESULT_CODE_DIAMETER_UNKNOWN_PEER, why.into())
    }
}

impl Dispatch {
    /// RFC 6733 §5.6.1 and §5.6.4: who may connect, and which of two
    /// connections to one peer survives.
    pub(crate) fn decide_cer(
        &mut self,
        now: Instant,
        id: ConnId,
        remote: &RemoteCapabilities,
        certs: &mut dyn CertificateCheck,
    ) {
        let host = remote.origin_host.to_ascii_lowercase();
        if let Some(Err(why)) = certs.check_identity(&remote.origin_host) {
            count(&self.transport.tls_identity_mismatches);
            return self.refuse(now, id, E_RESULT_CODE_DIAMETER_UNKNOWN_PEER, &why);
        }
        let Some(peer) = self.configured_peer(&host) else {
            return self.cer_from_unknown(now, id, &host);
        };
        if !self.conns.contains_key(&id) {
            return;
        }
        let checked = self
            .cer_address_allowed(id, &peer, &host)
            .and_then(|()| self.cer_security_allowed(id, &peer, remote))
            .and_then(|()| self.elect(now, id, &peer, &host));
        if let Err(Refusal(code, why)) = checked {
            return self.refuse(now, id, code, &why);
        }
        self.accept_cer(now, id, peer, host);
    }

    /// The configured peer named `host` (lowercase).
    fn configured_peer(&self, host: &str) -> Option<Arc<Peer>> {
        self.snapshot
            .peers
            .iter()
            .find(|p| p.node_name.eq_ignore_ascii_case(host))
            .cloned()
    }

    /// A CER from a host no peer is configured for: accepted when the node
    /// says so, refused otherwise.
    fn cer_from_unknown(&mut self, now: Instant, id: ConnId, host: &str) {
        if !self.config.accept_unknown_peers {
            return self.refuse(now, id, E_RESULT_CODE_DIAMETER_UNKNOWN_PEER, "unknown peer");
        }
        info!(target: "diameter.node", "CER from unknown peer {host}, accepted");
        if let Some(conn) = self.conns.get_mut(&id) {
            // a peer nobody configured proves nothing about its
            // name: duplicates are detected per connection
            conn.identity = Some(Arc::from(format!("{host}#{id}")));
            if let Some(m) = conn.machine.as_mut() {
                m.accept_cer(now);
            }
        }
    }

    /// A configured peer's addresses are the only ones it may come from.
    fn cer_address_allowed(&self, id: ConnId, peer: &Peer, host: &str) -> Result<(), Refusal> {
        let Some(conn) = self.conns.get(&id) else {
            return Ok(());
        };
        let from_its_address = conn.remote_ips.iter().any(|ip| {
            peer.ip_addresses
                .iter()
                .any(|p| p.to_canonical() == ip.to_canonical())
        });
        if !self.config.check_peer_addresses || peer.ip_addresses.is_empty() || from_its_address {
            return Ok(());
        }
        count(&self.counters.peers_refused_address);
        Err(Refusal::unknown_peer(format!(
            "{} is not expected from {}",
            cap_error_message(host),
            conn.remote.ip()
        )))
    }

    /// A peer configured with aaas:// talks over TLS only: from the first
    /// byte, or in-band when this connection will start it.
    fn cer_security_allowed(
        &self,
        id: ConnId,
        peer: &Peer,
        remote: &RemoteCapabilities,
    ) -> Result<(), Refusal> {
        let Some(conn) = self.conns.get(&id) else {
            return Ok(());
        };
        if !peer.is_secure {
            return Ok(());
        }
        let tls = conn.secure
            || (conn.can_start_tls
                && choose_inband_security(&self.config.inband_security, &remote.inband_security)
                    == InbandChoice::Tls);
        if tls {
            return Ok(());
        }
        Err(Refusal(
            E_RESULT_CODE_DIAMETER_NO_COMMON_SECURITY,
            "TLS required".into(),
        ))
    }

    /// RFC 6733 §5.6.4: with another connection to `peer`, the election
    /// decides which one stays (the other one is closed here when this
    /// one wins).
    fn elect(
        &mut self,
        now: Instant,
        id: ConnId,
        peer: &Arc<Peer>,
        host: &str,
    ) -> Result<(), Refusal> {
        let other = self
            .conns
            .values()
            .find(|c| c.id != id && c.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, peer)))
            .map(|c| {
                (
                    c.id,
                    c.machine.as_ref().map(|m| (m.is_initiator(), m.state())),
                )
            });
        let Some((other_id, other_state)) = other else {
            return Ok(());
        };
        let contest = matches!(other_state, None | Some((true, State::WaitCea)));
        let own = self.snapshot.identity.origin_host.clone();
        if !(contest && election_won(&own, host)) {
            let why = if contest {
                "election lost"
            } else {
                "already connected"
            };
            return Err(Refusal(E_RESULT_CODE_DIAMETER_ELECTION_LOST, why.into()));
        }
        info!(target: "diameter.node", "{peer}: election won, keeping the connection it opened");
        if let Some(c) = self.conns.get_mut(&other_id) {
            match c.machine.as_mut() {
                Some(m) => m.abort(now, DISCONNECT_REASON_CLEAN_DISCONNECT),
                None => c.connect_deadline = Some(now),
            }
            // the other connection is no longer this peer's
            c.peer = None;
            self.dirty.push(other_id);
        }
        Ok(())
    }

    /// The CER of `peer` is accepted on `id`.
    fn accept_cer(&mut self, now: Instant, id: ConnId, peer: Arc<Peer>, host: String) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        conn.peer = Some(peer.clone());
        conn.identity = Some(Arc::from(host));
        let Some(m) = conn.machine.as_mut() else {
            return;
        };
        m.set_counters(peer.counters.clone());
        peer.counters.count(CMD_CAPABILITIES_EXCHANGE, true);
        self.reconnect_at.remove(&peer_key(&peer));
        m.accept_cer(now);
    }

    pub(crate) fn refuse(&mut self, now: Instant, id: ConnId, result_code: u32, why: &str) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        ratelimit::warn(
            now,
            &REFUSED_LOG,
            format_args!("refused CER from {}: {why} ({result_code})", conn.remote),
        );
        if let Some(m) = conn.machine.as_mut() {
            m.reject_cer(now, result_code, Some(why));
        }
    }
}
