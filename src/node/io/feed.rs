//! What the loop does with what a transport read: it hands it to the
//! connection's peer machine. The transport fills the loop's buffers and
//! says what they hold; the machine never sees a socket, the transport
//! never sees a machine.

use std::time::Instant;

use crate::node::io::transport::{Got, Inbox, ReadEnd, Stream};
use crate::node::peer::{Connection, State};

/// Reads `stream` into `machine` until it would block, the machine takes no
/// more, or about `budget` bytes were read (then [`ReadEnd::More`]).
/// Cleartext reading stops once the machine waits for an in-band TLS
/// handshake: what follows is TLS, read after the session starts.
pub(crate) fn read(
    stream: &mut Stream,
    machine: &mut Connection,
    inbox: &mut Inbox,
    now: Instant,
    mut budget: usize,
) -> ReadEnd {
    loop {
        if machine.state() == State::Closed || (machine.is_awaiting_tls() && stream.stops_for_tls())
        {
            return ReadEnd::WouldBlock;
        }
        if budget == 0 {
            return ReadEnd::More;
        }
        match stream.read(inbox, &mut budget) {
            Got::Clear(n) => machine.handle_bytes(now, inbox.chunk.get(..n).unwrap_or_default()),
            Got::Secure {
                handshake_done,
                end,
            } => {
                if !inbox.plain.is_empty() {
                    machine.handle_secure_bytes(now, &inbox.plain);
                    inbox.plain.clear();
                }
                if handshake_done {
                    if let Err(mismatch) = handshake_done_(stream, machine, inbox, now) {
                        return mismatch;
                    }
                }
                if let Some(end) = end {
                    return end;
                }
            }
            Got::Again => {}
            Got::End(end) => return end,
        }
    }
}

/// The TLS handshake just finished: an in-band responder checks that the
/// peer's certificate names the Origin-Host of its CER before anything sent
/// through the session is read; then the machine learns TLS is up, and
/// takes what was held.
fn handshake_done_(
    stream: &mut Stream,
    machine: &mut Connection,
    inbox: &mut Inbox,
    now: Instant,
) -> Result<(), ReadEnd> {
    if !machine.is_initiator() {
        if let Some(host) = machine.remote().map(|r| r.origin_host.clone()) {
            #[cfg(feature = "tls")]
            if let Some(Err(e)) = stream.check_tls_identity(&host) {
                inbox.held.clear();
                return Err(ReadEnd::IdentityMismatch(e.to_string()));
            }
            #[cfg(not(feature = "tls"))]
            let _ = (host, &stream);
        }
    }
    machine.tls_ready(now);
    if !inbox.held.is_empty() {
        machine.handle_secure_bytes(now, &inbox.held);
        inbox.held.clear();
    }
    Ok(())
}
