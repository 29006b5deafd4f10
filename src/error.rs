//! Error types, one enum per layer, named after python-diameter's exceptions.
//!
//! Decode errors carry what an RFC 6733 error answer needs: the Result-Code
//! ([`AvpDecodeError::result_code`]), the offending AVP for the Failed-AVP
//! ([`AvpDecodeError::failed_avp`]) and, at message level, the header when it
//! parsed ([`MessageDecodeError::header`]). Framing errors
//! ([`FrameError`]) are connection-level: the stream cannot be resynchronised
//! and the connection has to close.

use std::fmt;

use crate::message::constants::*;
use crate::message::{Avp, Message, MessageHeader};

/// Why a received AVP could not be decoded (python's `AvpDecodeError`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AvpDecodeError {
    /// Fewer bytes were left than an AVP header needs.
    #[error("avp header truncated: {available} bytes left, {needed} needed")]
    TruncatedHeader {
        /// Bytes needed for the header (8, or 12 with a vendor id).
        needed: usize,
        /// Bytes that were left.
        available: usize,
        /// The partial header, zero-padded to a full one (RFC 6733 §7.5).
        failed_avp: Box<Avp>,
    },
    /// The AVP Length field is shorter than the header, runs past the end of
    /// the enclosing message or grouped AVP, or does not fit the AVP's type
    /// (an Unsigned32 with 5 bytes).
    #[error("avp {code} (vendor {vendor_id}) has an invalid length of {length}")]
    InvalidLength {
        /// AVP code.
        code: u32,
        /// Vendor id, 0 when none.
        vendor_id: u32,
        /// The AVP Length field as received.
        length: u32,
        /// The AVP header with a zero-filled payload of the type's minimum
        /// length, as RFC 6733 §7.5 asks for DIAMETER_INVALID_AVP_LENGTH.
        failed_avp: Box<Avp>,
    },
    /// The AVP's payload is not a valid value of its type (invalid UTF-8, an
    /// IPv4 address of 5 bytes, ...).
    #[error("avp {code} (vendor {vendor_id}) has an invalid value: {reason}")]
    InvalidValue {
        /// AVP code.
        code: u32,
        /// Vendor id, 0 when none.
        vendor_id: u32,
        /// What is wrong with it.
        reason: &'static str,
        /// The AVP as received.
        failed_avp: Box<Avp>,
    },
    /// Reserved AVP flag bits are set (RFC 6733 §4.1: an unrecognised bit is
    /// an error).
    #[error("avp {code} (vendor {vendor_id}) has invalid flags {flags:#04x}")]
    InvalidBits {
        /// AVP code.
        code: u32,
        /// Vendor id, 0 when none.
        vendor_id: u32,
        /// The flags byte as received.
        flags: u8,
        /// The AVP as received.
        failed_avp: Box<Avp>,
    },
    /// Grouped AVPs are nested deeper than the configured limit.
    #[error("grouped avps nested deeper than {max_depth} levels")]
    TooDeep {
        /// The limit in force.
        max_depth: usize,
        /// The grouped AVP at the limit, with an empty payload.
        failed_avp: Box<Avp>,
    },
    /// The message holds more AVPs than the configured limit.
    #[error("more than {max_avps} avps in one message")]
    TooManyAvps {
        /// The limit in force.
        max_avps: usize,
    },
}

impl AvpDecodeError {
    /// The Result-Code an answer to a request carrying this AVP should have.
    pub fn result_code(&self) -> u32 {
        match self {
            AvpDecodeError::TruncatedHeader { .. } | AvpDecodeError::InvalidLength { .. } => {
                E_RESULT_CODE_DIAMETER_INVALID_AVP_LENGTH
            }
            AvpDecodeError::InvalidValue { .. } => E_RESULT_CODE_DIAMETER_INVALID_AVP_VALUE,
            AvpDecodeError::InvalidBits { .. } => E_RESULT_CODE_DIAMETER_INVALID_AVP_BITS,
            AvpDecodeError::TooDeep { .. } | AvpDecodeError::TooManyAvps { .. } => {
                E_RESULT_CODE_DIAMETER_UNABLE_TO_COMPLY
            }
        }
    }

    /// The AVP to put in the answer's Failed-AVP, when there is one. For an
    /// AVP inside a grouped AVP this is the enclosing grouped AVP holding only
    /// the offending member (RFC 6733 §7.5).
    pub fn failed_avp(&self) -> Option<&Avp> {
        match self {
            AvpDecodeError::TruncatedHeader { failed_avp, .. }
            | AvpDecodeError::InvalidLength { failed_avp, .. }
            | AvpDecodeError::InvalidValue { failed_avp, .. }
            | AvpDecodeError::InvalidBits { failed_avp, .. }
            | AvpDecodeError::TooDeep { failed_avp, .. } => Some(failed_avp),
            AvpDecodeError::TooManyAvps { .. } => None,
        }
    }

    pub(crate) fn failed_avp_mut(&mut self) -> Option<&mut Box<Avp>> {
        match self {
            AvpDecodeError::TruncatedHeader { failed_avp, .. }
            | AvpDecodeError::InvalidLength { failed_avp, .. }
            | AvpDecodeError::InvalidValue { failed_avp, .. }
            | AvpDecodeError::InvalidBits { failed_avp, .. }
            | AvpDecodeError::TooDeep { failed_avp, .. } => Some(failed_avp),
            AvpDecodeError::TooManyAvps { .. } => None,
        }
    }
}

/// Why a value could not be set or an AVP could not be encoded (python's
/// `AvpEncodeError`; python's `ValueError` for unknown AVPs maps here too).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AvpEncodeError {
    /// The dictionary does not know this AVP code for this vendor.
    #[error("avp code {code} with vendor {vendor_id} is unknown")]
    UnknownAvp {
        /// AVP code.
        code: u32,
        /// Vendor id.
        vendor_id: u32,
    },
    /// The value does not fit the AVP's type.
    #[error("avp {name} ({code}) cannot hold {value}: {reason}")]
    InvalidValue {
        /// AVP code.
        code: u32,
        /// AVP name from the dictionary, "Unknown" if none.
        name: &'static str,
        /// The offending value, as text.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The encoded AVP would not fit the 24-bit AVP Length field.
    #[error("avp {code} would be {length} bytes long, more than the 24-bit length field holds")]
    AvpTooLong {
        /// AVP code.
        code: u32,
        /// Its encoded length.
        length: usize,
    },
    /// The encoded message would not fit the 24-bit Message Length field.
    #[error("message would be {length} bytes long, more than the 24-bit length field holds")]
    MessageTooLong {
        /// Its encoded length.
        length: usize,
    },
    /// The command code does not fit its 24-bit field.
    #[error("command code {0} does not fit 24 bits")]
    InvalidCommandCode(u32),
}

/// Why received bytes are not a valid Diameter message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageDecodeError {
    /// Fewer bytes than the header's Message Length (or than a header).
    #[error("message truncated: {length} bytes needed, {available} available")]
    Truncated {
        /// The header, when 20 bytes were there to parse it.
        header: Option<MessageHeader>,
        /// Bytes needed.
        length: usize,
        /// Bytes given.
        available: usize,
    },
    /// More bytes than the header's Message Length.
    #[error("{extra} bytes after the end of a {length}-byte message")]
    TrailingBytes {
        /// The parsed header.
        header: MessageHeader,
        /// The header's Message Length.
        length: usize,
        /// How many bytes follow it.
        extra: usize,
    },
    /// The version is not 1.
    #[error("unsupported diameter version {version}")]
    UnsupportedVersion {
        /// The parsed header.
        header: MessageHeader,
        /// The version received.
        version: u8,
    },
    /// The Message Length is below 20, not a multiple of 4, or above the
    /// configured maximum.
    #[error("invalid message length {length}")]
    InvalidLength {
        /// The parsed header.
        header: MessageHeader,
        /// The Message Length received.
        length: usize,
    },
    /// The command flags are an invalid combination (a request with the E bit).
    #[error("invalid command flags {flags:#04x}")]
    InvalidHeaderBits {
        /// The parsed header.
        header: MessageHeader,
        /// The flags byte received.
        flags: u8,
    },
    /// An AVP could not be decoded.
    #[error("{source}")]
    Avp {
        /// The parsed header.
        header: MessageHeader,
        /// The AVP error.
        #[source]
        source: AvpDecodeError,
    },
}

impl MessageDecodeError {
    /// The header, when it parsed.
    pub fn header(&self) -> Option<&MessageHeader> {
        match self {
            MessageDecodeError::Truncated { header, .. } => header.as_ref(),
            MessageDecodeError::TrailingBytes { header, .. }
            | MessageDecodeError::UnsupportedVersion { header, .. }
            | MessageDecodeError::InvalidLength { header, .. }
            | MessageDecodeError::InvalidHeaderBits { header, .. }
            | MessageDecodeError::Avp { header, .. } => Some(header),
        }
    }

    /// The Result-Code an answer to this request should carry.
    pub fn result_code(&self) -> u32 {
        match self {
            MessageDecodeError::Truncated { .. }
            | MessageDecodeError::TrailingBytes { .. }
            | MessageDecodeError::InvalidLength { .. } => {
                E_RESULT_CODE_DIAMETER_INVALID_MESSAGE_LENGTH
            }
            MessageDecodeError::UnsupportedVersion { .. } => {
                E_RESULT_CODE_DIAMETER_UNSUPPORTED_VERSION
            }
            MessageDecodeError::InvalidHeaderBits { .. } => E_RESULT_CODE_DIAMETER_INVALID_HDR_BITS,
            MessageDecodeError::Avp { source, .. } => source.result_code(),
        }
    }

    /// The AVP for the answer's Failed-AVP, when there is one.
    pub fn failed_avp(&self) -> Option<&Avp> {
        match self {
            MessageDecodeError::Avp { source, .. } => source.failed_avp(),
            _ => None,
        }
    }

    /// The AVP-level error, when the header was fine.
    pub fn avp_error(&self) -> Option<&AvpDecodeError> {
        match self {
            MessageDecodeError::Avp { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A message that is not the command a typed struct stands for: its command
/// code or R bit differ (python would have built another class for it).
/// The message comes back unchanged in [`message`](Self::message).
///
/// ```
/// use diameter::message::commands::{CreditControlRequest, DeviceWatchdogRequest};
///
/// let dwr = DeviceWatchdogRequest::new().to_message()?;
/// let err = CreditControlRequest::try_from(dwr).unwrap_err();
/// assert_eq!(err.expected, "CreditControlRequest");
/// assert_eq!(err.received(), "DeviceWatchdogRequest");
/// assert_eq!(
///     err.to_string(),
///     "expected CreditControlRequest (command 272, R bit set), \
///      received DeviceWatchdogRequest (command 280, R bit set)"
/// );
/// let dwr = err.into_message(); // nothing is lost
/// assert_eq!(dwr.header.command_code, 280);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WrongCommand {
    /// The expected command's python class name (`"CreditControlRequest"`).
    pub expected: &'static str,
    /// The expected command code.
    pub expected_code: u32,
    /// Whether a request (R bit set) was expected.
    pub expected_request: bool,
    /// The message received, unchanged.
    pub message: Message,
}

impl WrongCommand {
    /// The message received, unchanged.
    pub fn into_message(self) -> Message {
        self.message
    }

    /// The python class `Message.from_bytes` builds for the message received
    /// (`"DeviceWatchdogAnswer"`, `"SipUserAuthorization"`, or
    /// `"UndefinedMessage"` for a code python does not know); see
    /// [`commands::type_factory`](crate::message::commands::type_factory).
    pub fn received(&self) -> &'static str {
        crate::message::commands::type_factory(&self.message.header)
    }
}

fn r_bit(set: bool) -> &'static str {
    if set {
        "set"
    } else {
        "clear"
    }
}

impl fmt::Display for WrongCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected {} (command {}, R bit {}), received {} (command {}, R bit {})",
            self.expected,
            self.expected_code,
            r_bit(self.expected_request),
            self.received(),
            self.message.header.command_code,
            r_bit(self.message.header.is_request()),
        )
    }
}

impl std::error::Error for WrongCommand {}

/// Why bytes could not be decoded into a typed command: they are no valid
/// message, or a valid message of another command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandDecodeError {
    /// The bytes are not a valid Diameter message.
    #[error(transparent)]
    Decode(#[from] MessageDecodeError),
    /// The bytes hold another command, decoded into a generic message.
    #[error(transparent)]
    WrongCommand(#[from] WrongCommand),
}

impl CommandDecodeError {
    /// The decoded message when the bytes held another command.
    pub fn into_message(self) -> Option<Message> {
        match self {
            CommandDecodeError::WrongCommand(e) => Some(e.message),
            CommandDecodeError::Decode(_) => None,
        }
    }
}

/// A byte stream that cannot be split into Diameter messages. The connection
/// carrying it has to be closed: there is no way to find the next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The version byte is not 1.
    #[error("unsupported diameter version {0}")]
    UnsupportedVersion(u8),
    /// The Message Length is below the 20-byte header.
    #[error("message length {0} is shorter than the header")]
    TooShort(u32),
    /// The Message Length is above the configured maximum.
    #[error("message length {length} exceeds the maximum of {max}")]
    TooLong {
        /// The Message Length received.
        length: u32,
        /// The maximum in force.
        max: u32,
    },
}
