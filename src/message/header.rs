//! The 20-byte Diameter message header (RFC 6733 §3).

use std::fmt;

/// Length of the Diameter message header in bytes.
pub const HEADER_LENGTH: usize = 20;

/// A Diameter message header (python's `MessageHeader`).
///
/// ```
/// use diameter::message::MessageHeader;
///
/// let mut hdr = MessageHeader::new(257, 0);
/// hdr.set_request(true);
/// hdr.hop_by_hop_identifier = 0x2711;
/// let bytes = hdr.as_bytes();
/// assert_eq!(MessageHeader::from_bytes(&bytes).unwrap(), hdr);
/// assert!(hdr.to_string().starts_with("<Version: 0x01, Length: 0, Flags: 0x80 (request)"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageHeader {
    /// Protocol version, always 1 on the wire.
    pub version: u8,
    /// Message Length including the header; set by decoding and by
    /// [`Message::as_bytes`](crate::message::Message::as_bytes) output, not
    /// kept in sync while AVPs change.
    pub length: u32,
    /// The command flags byte (R, P, E, T and four reserved bits).
    pub command_flags: u8,
    /// Command code (24 bits).
    pub command_code: u32,
    /// Application id.
    pub application_id: u32,
    /// Hop-by-hop identifier.
    pub hop_by_hop_identifier: u32,
    /// End-to-end identifier.
    pub end_to_end_identifier: u32,
}

impl Default for MessageHeader {
    fn default() -> Self {
        MessageHeader {
            version: 1,
            length: 0,
            command_flags: 0,
            command_code: 0,
            application_id: 0,
            hop_by_hop_identifier: 0,
            end_to_end_identifier: 0,
        }
    }
}

impl MessageHeader {
    /// The R bit: the message is a request.
    pub const FLAG_REQUEST: u8 = 0x80;
    /// The P bit: the message may be proxied, relayed or redirected.
    pub const FLAG_PROXYABLE: u8 = 0x40;
    /// The E bit: the answer carries a protocol error.
    pub const FLAG_ERROR: u8 = 0x20;
    /// The T bit: the request may be a retransmission.
    pub const FLAG_RETRANSMIT: u8 = 0x10;

    /// A version 1 header for a command and application, all else zero.
    pub fn new(command_code: u32, application_id: u32) -> Self {
        MessageHeader {
            command_code,
            application_id,
            ..Self::default()
        }
    }

    /// The header of this request's answer: its version, command code,
    /// application id and identifiers, every flag clear but P, which is kept.
    pub fn to_answer(&self) -> MessageHeader {
        let mut answer = MessageHeader {
            version: self.version,
            ..MessageHeader::new(self.command_code, self.application_id)
        };
        answer.hop_by_hop_identifier = self.hop_by_hop_identifier;
        answer.end_to_end_identifier = self.end_to_end_identifier;
        answer.set_proxyable(self.is_proxyable());
        answer
    }

    flag_accessors! {
        command_flags;
        /// Whether the R (request) bit is set.
        is_request, set_request, FLAG_REQUEST;
        /// Whether the P (proxyable) bit is set.
        is_proxyable, set_proxyable, FLAG_PROXYABLE;
        /// Whether the E (error) bit is set.
        is_error, set_error, FLAG_ERROR;
        /// Whether the T (potentially retransmitted) bit is set.
        is_retransmit, set_retransmit, FLAG_RETRANSMIT;
    }

    /// Parses the first 20 bytes; `None` when fewer are given. Like python,
    /// this does not validate version, flags or length: see
    /// [`Message::from_bytes`](crate::message::Message::from_bytes) and the
    /// [`framer`](crate::message::framer) for that.
    pub fn from_bytes(data: &[u8]) -> Option<MessageHeader> {
        let b: &[u8; HEADER_LENGTH] = data.get(..HEADER_LENGTH)?.try_into().ok()?;
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(MessageHeader {
            version: b[0],
            length: word(0) & 0x00ff_ffff,
            command_flags: b[4],
            command_code: word(4) & 0x00ff_ffff,
            application_id: word(8),
            hop_by_hop_identifier: word(12),
            end_to_end_identifier: word(16),
        })
    }

    /// The 20 header bytes. Length and command code are cut to their 24 bits.
    pub fn as_bytes(&self) -> [u8; HEADER_LENGTH] {
        let mut out = [0u8; HEADER_LENGTH];
        self.write(&mut out);
        out
    }

    pub(crate) fn write(&self, out: &mut [u8; HEADER_LENGTH]) {
        let words = [
            u32::from(self.version) << 24 | (self.length & 0x00ff_ffff),
            u32::from(self.command_flags) << 24 | (self.command_code & 0x00ff_ffff),
            self.application_id,
            self.hop_by_hop_identifier,
            self.end_to_end_identifier,
        ];
        for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
}

impl fmt::Display for MessageHeader {
    /// Python's format: `<Version: 0x01, Length: 180, Flags: 0x80 (request),
    /// Hop-by-Hop Identifier: 0xb237ee97, End-to-End Identifier: 0x6801428f>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Version: 0x{:02x}, Length: {}, Flags: 0x{:02x} (",
            self.version, self.length, self.command_flags
        )?;
        let names = [
            (self.is_request(), "request"),
            (self.is_proxyable(), "proxyable"),
            (self.is_error(), "error"),
            (self.is_retransmit(), "retransmit"),
        ];
        let mut first = true;
        for (_, name) in names.iter().filter(|(set, _)| *set) {
            if !first {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
            first = false;
        }
        write!(
            f,
            "), Hop-by-Hop Identifier: 0x{:x}, End-to-End Identifier: 0x{:x}>",
            self.hop_by_hop_identifier, self.end_to_end_identifier
        )
    }
}
