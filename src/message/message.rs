//! Messages: a header and a list of AVPs.

use std::fmt::{self, Write};

use super::avp::{decode_avps, DecodeLimits, DecodeState, MAX_LENGTH};
use super::dictionary;
use super::header::{MessageHeader, HEADER_LENGTH};
use super::Avp;
use crate::error::{AvpEncodeError, MessageDecodeError};

/// The largest received length [`Message::as_bytes`] takes as its capacity.
const MAX_GUESS: usize = 1 << 16;

/// A Diameter message (python's `Message`): a header and its AVPs in order.
///
/// ```
/// use diameter::message::{Avp, Message};
/// use diameter::message::constants::*;
///
/// // python: msg = Message(); msg.header.command_code = 280; msg.header.is_request = True
/// let mut msg = Message::default();
/// msg.header.command_code = 280;
/// msg.header.set_request(true);
/// msg.avps = vec![
///     Avp::new(AVP_ORIGIN_HOST, 0, "dra2.gy.mvno.net")?,
///     Avp::new(AVP_ORIGIN_REALM, 0, "mvno.net")?,
///     Avp::new(AVP_ORIGIN_STATE_ID, 0, 1682525023)?,
/// ];
/// let bytes = msg.as_bytes()?;
/// assert_eq!(bytes.len(), 72);
///
/// let back = Message::from_bytes(&bytes)?;
/// assert_eq!(back.header.length, 72);
/// assert_eq!(back.find_avps(&[(AVP_ORIGIN_REALM, 0)])[0].as_str(), Some("mvno.net"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Message {
    /// The header. Its `length` is what was received; encoding computes the
    /// length anew.
    pub header: MessageHeader,
    /// The AVPs, in wire order.
    pub avps: Vec<Avp>,
    /// The node connection a received request came in on (0: none); kept by
    /// [`to_answer`](Self::to_answer), so that its answer goes back there.
    /// Not on the wire, not compared, not printed.
    pub(crate) received_on: u64,
    /// The received bytes of a message a relay may forward (kept only by
    /// connections of an agent node). Not compared, not printed.
    pub(crate) wire: Option<Vec<u8>>,
    /// The digest of a received request's identifying content, for
    /// duplicate detection, taken from the bytes received (by the
    /// connection that decoded it, or by a relay for a request it handles
    /// itself; 0 otherwise). Not on the wire, not compared, not printed.
    pub(crate) request_digest: u64,
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.header == other.header && self.avps == other.avps
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("header", &self.header)
            .field("avps", &self.avps)
            .finish()
    }
}

impl Message {
    /// A message from a header and AVPs (python's `Message(header, avps)`).
    pub fn new(header: MessageHeader, avps: Vec<Avp>) -> Message {
        Message {
            header,
            avps,
            received_on: 0,
            wire: None,
            request_digest: 0,
        }
    }

    /// The command's name (`"Credit-Control"`), `"Unknown"` for codes the
    /// dictionary does not know.
    pub fn name(&self) -> &'static str {
        dictionary::command_name(self.header.command_code)
    }

    /// Decodes exactly one message with the default [`DecodeLimits`]: the
    /// buffer must hold exactly `header.length` bytes.
    pub fn from_bytes(data: &[u8]) -> Result<Message, MessageDecodeError> {
        Self::from_bytes_with(data, &DecodeLimits::DEFAULT)
    }

    /// Decodes exactly one message under the given limits.
    pub fn from_bytes_with(
        data: &[u8],
        limits: &DecodeLimits,
    ) -> Result<Message, MessageDecodeError> {
        let header = MessageHeader::from_bytes(data).ok_or(MessageDecodeError::Truncated {
            header: None,
            length: HEADER_LENGTH,
            available: data.len(),
        })?;
        if header.version != 1 {
            return Err(MessageDecodeError::UnsupportedVersion {
                header,
                version: header.version,
            });
        }
        let length = header.length as usize;
        if length < HEADER_LENGTH || length % 4 != 0 || length > limits.max_message_size {
            return Err(MessageDecodeError::InvalidLength { header, length });
        }
        if data.len() < length {
            return Err(MessageDecodeError::Truncated {
                header: Some(header),
                length,
                available: data.len(),
            });
        }
        if data.len() > length {
            return Err(MessageDecodeError::TrailingBytes {
                header,
                length,
                extra: data.len() - length,
            });
        }
        if header.is_request() && header.is_error() {
            return Err(MessageDecodeError::InvalidHeaderBits {
                header,
                flags: header.command_flags,
            });
        }
        let body = data.get(HEADER_LENGTH..length).unwrap_or_default();
        let mut st = DecodeState::default();
        let avps = decode_avps(body, limits, 0, &mut st)
            .map_err(|source| MessageDecodeError::Avp { header, source })?;
        Ok(Message::new(header, avps))
    }

    /// The length the message has on the wire.
    pub fn length(&self) -> usize {
        HEADER_LENGTH + self.avps.iter().map(Avp::padded_len).sum::<usize>()
    }

    /// The message on the wire; the header's Message Length is computed.
    pub fn as_bytes(&self) -> Result<Vec<u8>, AvpEncodeError> {
        // The capacity: the received length of a decoded message (the
        // vector grows if AVPs were added since), else the length measured
        // (a walk over every AVP, as long as the encoding itself). The
        // guess is trusted up to 64 KiB only, so that a length set by hand
        // never sizes a large allocation.
        let received = self.header.length as usize;
        let capacity = if (HEADER_LENGTH..=MAX_GUESS).contains(&received) {
            received
        } else {
            self.length()
        };
        let mut out = Vec::with_capacity(capacity);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the message on the wire to `out` (for writing several
    /// messages into one buffer). On error `out` is left as it was.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), AvpEncodeError> {
        if self.header.command_code > MAX_LENGTH as u32 {
            return Err(AvpEncodeError::InvalidCommandCode(self.header.command_code));
        }
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LENGTH]);
        for avp in &self.avps {
            if let Err(e) = avp.encode_into(out) {
                out.truncate(start);
                return Err(e);
            }
        }
        let length = out.len() - start;
        if length > MAX_LENGTH {
            out.truncate(start);
            return Err(AvpEncodeError::MessageTooLong { length });
        }
        let mut header = self.header;
        header.length = length as u32;
        let mut bytes = [0u8; HEADER_LENGTH];
        header.write(&mut bytes);
        if let Some(slot) = out.get_mut(start..start + HEADER_LENGTH) {
            slot.copy_from_slice(&bytes);
        }
        Ok(())
    }

    /// Appends an AVP.
    pub fn append_avp(&mut self, avp: Avp) {
        self.avps.push(avp);
    }

    /// Finds AVPs by a path of `(code, vendor_id)` pairs (python's
    /// `find_avps`): one pair gives every matching top-level AVP; more pairs
    /// walk into grouped AVPs and give the AVPs at the end of every matching
    /// branch (a non-grouped AVP matching before the end of the path is
    /// returned as it is). Nothing is cached: the result always reflects the
    /// current AVPs.
    ///
    /// ```
    /// # use diameter::message::{Avp, Message};
    /// # use diameter::message::constants::*;
    /// let mut msg = Message::default();
    /// let mscc = Avp::new(AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, 0, vec![
    ///     Avp::new(AVP_USED_SERVICE_UNIT, 0, Avp::new(AVP_CC_TOTAL_OCTETS, 0, 1000u64)?)?,
    /// ])?;
    /// msg.append_avp(mscc);
    /// let found = msg.find_avps(&[
    ///     (AVP_MULTIPLE_SERVICES_CREDIT_CONTROL, 0),
    ///     (AVP_USED_SERVICE_UNIT, 0),
    ///     (AVP_CC_TOTAL_OCTETS, 0),
    /// ]);
    /// assert_eq!(found[0].as_u64(), Some(1000));
    /// # Ok::<(), diameter::AvpEncodeError>(())
    /// ```
    pub fn find_avps(&self, path: &[(u32, u32)]) -> Vec<&Avp> {
        find_avps_in(&self.avps, path)
    }

    /// The first AVP [`find_avps`](Self::find_avps) would give.
    pub fn find_avp(&self, path: &[(u32, u32)]) -> Option<&Avp> {
        let mut found = None;
        walk(&self.avps, path, &mut |avp| {
            found = Some(avp);
            false
        });
        found
    }

    /// A new answer to this request (python's `to_answer`): version, command
    /// code, application id and both identifiers copied, every flag clear
    /// except P, which is kept as received; no AVPs.
    pub fn to_answer(&self) -> Message {
        let mut answer = Message::new(self.header.to_answer(), Vec::new());
        answer.received_on = self.received_on;
        answer
    }
}

/// [`Message::find_avps`] over any list of AVPs (python's `alt_list`).
pub fn find_avps_in<'a>(avps: &'a [Avp], path: &[(u32, u32)]) -> Vec<&'a Avp> {
    let mut found = Vec::new();
    walk(avps, path, &mut |avp| {
        found.push(avp);
        true
    });
    found
}

/// Calls `visit` for every AVP at the end of `path`; stops when it returns false.
fn walk<'a>(avps: &'a [Avp], path: &[(u32, u32)], visit: &mut dyn FnMut(&'a Avp) -> bool) -> bool {
    let Some((&(code, vendor), rest)) = path.split_first() else {
        return true;
    };
    for avp in avps {
        if avp.code() != code || avp.vendor_id() != vendor {
            continue;
        }
        let go_on = match avp.as_grouped() {
            Some(members) if !rest.is_empty() => walk(members, rest, visit),
            _ => visit(avp),
        };
        if !go_on {
            return false;
        }
    }
    true
}

impl fmt::Display for Message {
    /// Python's `str(msg)`: the command name and the header.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name(), self.header)
    }
}

/// A human-readable dump of a message, line for line as python-diameter's
/// `dump`: the message line, then one line per AVP, members of grouped AVPs
/// indented two more spaces per level.
pub fn dump(msg: &Message) -> String {
    let mut out = String::new();
    // writing into a String cannot fail
    let _ = writeln!(out, "{msg}");
    dump_avps(&mut out, &msg.avps, 2);
    out
}

fn dump_avps(out: &mut String, avps: &[Avp], indent: usize) {
    for avp in avps {
        let _ = writeln!(out, "{:indent$}{avp}", "");
        if let Some(members) = avp.as_grouped() {
            dump_avps(out, members, indent + 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::constants::*;

    #[test]
    fn as_bytes_ignores_a_stale_or_forged_length() {
        let mut msg = Message::default();
        msg.header.command_code = 280;
        msg.avps = vec![
            Avp::new(AVP_ORIGIN_HOST, 0, "dra2.gy.mvno.net").expect("known"),
            Avp::new(AVP_ORIGIN_STATE_ID, 0, 7u32).expect("known"),
        ];
        let exact = msg.as_bytes().expect("encodes");
        for length in [0, 4, 20, 24, exact.len() as u32, 4096, 70_000, 0x00ff_ffff] {
            msg.header.length = length;
            assert_eq!(
                msg.as_bytes().expect("encodes"),
                exact,
                "header.length {length}"
            );
        }
        // a decoded message that grew since
        let mut back = Message::from_bytes(&exact).expect("decodes");
        back.append_avp(Avp::new(AVP_ORIGIN_REALM, 0, "mvno.net").expect("known"));
        let grown = back.as_bytes().expect("encodes");
        assert_eq!(grown.len(), back.length());
        assert_eq!(
            Message::from_bytes(&grown).expect("decodes").avps,
            back.avps
        );
    }
}
