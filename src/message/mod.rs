//! Diameter messages on the wire (python's `diameter.message`): headers, AVPs
//! and their types, the dictionary, stream framing and dumps.
//!
//! This module is pure: no sockets, threads or clocks.
//!
//! ```
//! use diameter::message::{dump, Avp, Message, MessageHeader};
//! use diameter::message::constants::*;
//!
//! let mut dwr = Message::new(MessageHeader::new(CMD_DEVICE_WATCHDOG, 0), vec![]);
//! dwr.header.set_request(true);
//! dwr.header.hop_by_hop_identifier = 0x2711;
//! dwr.append_avp(Avp::new(AVP_ORIGIN_HOST, 0, "dra1.example.net")?);
//! dwr.append_avp(Avp::new(AVP_ORIGIN_REALM, 0, "example.net")?);
//!
//! let bytes = dwr.as_bytes()?;
//! let received = Message::from_bytes(&bytes)?;
//! assert_eq!(received, Message::new(MessageHeader { length: 64, ..dwr.header }, dwr.avps.clone()));
//! assert_eq!(
//!     dump(&received),
//!     "Device-Watchdog <Version: 0x01, Length: 64, Flags: 0x80 (request), \
//!      Hop-by-Hop Identifier: 0x2711, End-to-End Identifier: 0x0>\n\
//!      \x20 Origin-Host <Code: 0x108, Flags: 0x40 (-M-), Length: 24, Val: b'dra1.example.net'>\n\
//!      \x20 Origin-Realm <Code: 0x128, Flags: 0x40 (-M-), Length: 19, Val: b'example.net'>\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// `is_x`/`set_x` pairs over the bits of a flags field.
macro_rules! flag_accessors {
    ($field:ident; $($(#[$doc:meta])* $get:ident, $set:ident, $bit:ident;)*) => {$(
        $(#[$doc])*
        pub fn $get(&self) -> bool {
            self.$field & Self::$bit != 0
        }

        #[doc = concat!("Sets or clears the flag read by [`", stringify!($get), "`](Self::", stringify!($get), ").")]
        pub fn $set(&mut self, value: bool) {
            if value {
                self.$field |= Self::$bit;
            } else {
                self.$field &= !Self::$bit;
            }
        }
    )*};
}

mod avp;
pub mod commands;
pub mod constants;
pub mod dictionary;
pub mod framer;
pub mod grouped;
mod header;
#[allow(clippy::module_inception)]
mod message;
mod pyfmt;
pub mod typed;
mod types;

pub use self::avp::{Avp, DecodeLimits};
pub use self::header::{MessageHeader, HEADER_LENGTH};
pub use self::message::{dump, find_avps_in, Message};
pub use self::types::{
    ntp_to_unix, unix_to_ntp, Address, AvpValue, NTP_ERA_ROLLOVER, NTP_UNIX_OFFSET,
};
pub use crate::error::{
    AvpDecodeError, AvpEncodeError, CommandDecodeError, FrameError, MessageDecodeError,
    WrongCommand,
};
pub use dictionary::AvpType;
