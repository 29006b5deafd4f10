//! What makes two requests the same request, as one number: the digest the
//! duplicate-detection table keys its records with.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use crate::message::constants::{AVP_PROXY_INFO, AVP_ROUTE_RECORD};
use crate::message::Avp;

/// The digest of what makes a request the same request, for its
/// `RequestKey` (core/agent/duplicates.rs): a keyed 64-bit SipHash-1-3 (random key of this process)
/// of the command code and application id (header bytes 5..12) and of every
/// top-level AVP of `frame` as received, AVP header and data, except
/// Route-Record (282) and Proxy-Info (284) without the V bit, which relays
/// and proxies add on the way. The command flags (the T flag among them),
/// the Hop-by-Hop identifier and the End-to-End identifier are left out.
///
/// `frame` is one whole message, as the framer cut it; nothing is
/// allocated. Bytes that do not parse as AVPs (which the decoder would have
/// refused already) are hashed as they are.
pub(crate) fn request_digest(frame: &[u8]) -> u64 {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    let mut h = KEY.get_or_init(RandomState::new).build_hasher();
    h.write(frame.get(5..12).unwrap_or_default());
    let mut rest = frame.get(20..).unwrap_or_default();
    // every AVP carries its own length in its header: the bytes hashed
    // parse back into the same AVPs, so two contents cannot run together
    while let [c0, c1, c2, c3, flags, l0, l1, l2, ..] = *rest {
        let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
        let Some(avp) = rest.get(..len).filter(|_| len >= 8) else {
            break;
        };
        let code = u32::from_be_bytes([c0, c1, c2, c3]);
        let added_on_the_way =
            flags & Avp::FLAG_VENDOR == 0 && (code == AVP_ROUTE_RECORD || code == AVP_PROXY_INFO);
        if !added_on_the_way {
            h.write(avp);
        }
        // padded to 4 bytes; a last AVP without its padding ends the loop
        rest = rest.get(len.saturating_add(3) & !3..).unwrap_or_default();
    }
    h.write(rest);
    h.finish()
}
