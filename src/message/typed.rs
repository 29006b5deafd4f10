//! Typed access to AVPs: the machinery behind the grouped AVP structs
//! ([`grouped`](crate::message::grouped)) and the command structs
//! ([`commands`](crate::message::commands)), python's `AvpGenDef` machinery.
//!
//! A typed struct has one field per AVP it knows: `Option<T>` for an AVP that
//! appears once, `Vec<T>` for a repeated one, and `additional_avps` for every
//! AVP it does not know, which are kept and encoded after the known ones, so
//! that converting between the typed and the generic form loses nothing.
//!
//! The [`grouped_avp!`](crate::grouped_avp) and [`command!`](crate::command)
//! macros define such structs; the generated ones use them, and so can
//! applications for their own AVPs and commands (python's
//! `commands.register`):
//!
//! ```
//! use diameter::message::constants::*;
//! use diameter::message::dictionary::{self, AvpDefinition, AvpType};
//! use diameter::message::typed::{AvpStruct, Command};
//! use diameter::message::Message;
//!
//! dictionary::register(AvpDefinition::new(91001, 99999, "My-Counter", AvpType::Unsigned64, Some(true)));
//! dictionary::register_command(9_000_001, "My-Report");
//!
//! diameter::command! {
//!     /// My-Report-Request.
//!     pub struct MyReportRequest: code 9_000_001, request true, proxyable true {
//!         /// Session-Id.
//!         pub session_id: Option<String> = (AVP_SESSION_ID, 0),
//!         /// My-Counter, repeated.
//!         pub my_counter: Vec<u64> = (91001, 99999),
//!     }
//! }
//!
//! let mut req = MyReportRequest::new();
//! req.session_id = Some("a;1".into());
//! req.my_counter = vec![1, 2];
//! let bytes = req.as_bytes()?;
//! let msg = Message::from_bytes(&bytes)?;
//! assert_eq!(msg.name(), "My-Report");
//! let back = MyReportRequest::try_from(msg)?;
//! assert_eq!(back.my_counter, [1, 2]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::IpAddr;
use std::time::SystemTime;

use super::{Address, Avp, AvpValue, Message, MessageHeader};
use crate::error::AvpEncodeError;
pub use crate::error::{CommandDecodeError, WrongCommand};

/// A value carried by one AVP in a typed struct field.
///
/// Implementing it for your own type is the counterpart of python's custom
/// AVP classes (an `Avp` subclass with its own `value` property, passed to
/// `register`): the AVP keeps one of the [`AvpType`](crate::message::AvpType)s
/// on the wire, and the trait converts between it and your type, which can
/// then be a field of a [`grouped_avp!`](crate::grouped_avp) or
/// [`command!`](crate::command) struct. Python's Framed-IPv6-Prefix example:
///
/// ```
/// use std::net::Ipv6Addr;
///
/// use diameter::message::constants::*;
/// use diameter::message::typed::{AvpField, AvpStruct};
/// use diameter::message::Avp;
/// use diameter::AvpEncodeError;
///
/// /// Framed-IPv6-Prefix (an OctetString on the wire, RFC 3162 §2.3): a
/// /// reserved byte, the prefix length in bits, then the prefix.
/// #[derive(Debug, Clone, PartialEq)]
/// struct FramedIpv6Prefix {
///     prefix: Ipv6Addr,
///     len: u8,
/// }
///
/// impl AvpField for FramedIpv6Prefix {
///     fn from_avp(avp: Avp) -> Result<Self, Avp> {
///         let parsed = match avp.as_octets() {
///             Some([_, len, rest @ ..]) if rest.len() <= 16 => {
///                 let mut octets = [0u8; 16];
///                 octets[..rest.len()].copy_from_slice(rest);
///                 Some(FramedIpv6Prefix { prefix: Ipv6Addr::from(octets), len: *len })
///             }
///             _ => None,
///         };
///         // a payload that does not parse: the AVP stays in additional_avps
///         parsed.ok_or(avp)
///     }
///     fn to_avp(&self, code: u32, vendor_id: u32) -> Result<Avp, AvpEncodeError> {
///         let used = usize::from(self.len.min(128)).div_ceil(8);
///         let mut payload = vec![0, self.len];
///         payload.extend_from_slice(&self.prefix.octets()[..used]);
///         Avp::new(code, vendor_id, payload)
///     }
/// }
///
/// diameter::grouped_avp! {
///     /// A grouped AVP with the prefix as a typed field.
///     pub struct PrefixHolder {
///         /// Framed-IPv6-Prefix, repeated.
///         pub framed_ipv6_prefix: Vec<FramedIpv6Prefix> = (AVP_FRAMED_IPV6_PREFIX, 0),
///     }
/// }
///
/// let prefix = FramedIpv6Prefix { prefix: "2a00:1fa2:c863:8c7e::".parse()?, len: 64 };
/// let avp = prefix.to_avp(AVP_FRAMED_IPV6_PREFIX, 0)?;
/// assert_eq!(avp.as_octets(), Some(&[0, 64, 0x2a, 0, 0x1f, 0xa2, 0xc8, 0x63, 0x8c, 0x7e][..]));
///
/// let holder = PrefixHolder::from_avps(vec![avp]);
/// assert_eq!(holder.framed_ipv6_prefix, [prefix]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait AvpField: Sized {
    /// Takes the value of a decoded AVP; the AVP comes back unchanged when
    /// its value is not of this type.
    fn from_avp(avp: Avp) -> Result<Self, Avp>;
    /// Builds the AVP `(code, vendor_id)` carrying this value, with the
    /// dictionary's M flag.
    fn to_avp(&self, code: u32, vendor_id: u32) -> Result<Avp, AvpEncodeError>;
}

macro_rules! scalar_field {
    ($($t:ty => $($variant:ident)|+ ;)*) => {$(
        impl AvpField for $t {
            fn from_avp(avp: Avp) -> Result<Self, Avp> {
                if !matches!(avp.value(), $(AvpValue::$variant(_))|+) {
                    return Err(avp);
                }
                // the value moves into the field, uncopied
                match avp.into_value() {
                    $(AvpValue::$variant(v) => Ok(v.into()),)+
                    // checked just above
                    _ => Err(Avp::with_value(0, 0, AvpValue::Raw(Vec::new()))),
                }
            }
            fn to_avp(&self, code: u32, vendor_id: u32) -> Result<Avp, AvpEncodeError> {
                Avp::new(code, vendor_id, self.clone())
            }
        }
    )*};
}

scalar_field! {
    u32 => Unsigned32;
    u64 => Unsigned64;
    i32 => Integer32 | Enumerated;
    i64 => Integer64;
    f32 => Float32;
    f64 => Float64;
    Address => Address;
    SystemTime => Time;
    Vec<u8> => OctetString | Raw;
    String => Utf8String | DiameterIdentity | DiameterUri | IpFilterRule | QosFilterRule;
}

impl AvpField for IpAddr {
    fn from_avp(avp: Avp) -> Result<Self, Avp> {
        avp.as_ip().ok_or(avp)
    }
    fn to_avp(&self, code: u32, vendor_id: u32) -> Result<Avp, AvpEncodeError> {
        Avp::new(code, vendor_id, *self)
    }
}

/// A whole AVP as a field: for grouped AVPs that have no struct of their own
/// (python's grouped attributes without a `type_class`).
impl AvpField for Avp {
    fn from_avp(avp: Avp) -> Result<Self, Avp> {
        Ok(avp)
    }
    fn to_avp(&self, _code: u32, _vendor_id: u32) -> Result<Avp, AvpEncodeError> {
        Ok(self.clone())
    }
}

/// How a field holds its AVPs: `Option<T>` one, `Vec<T>` any number.
pub trait Slot {
    /// Stores a decoded AVP; gives it back when the field cannot take it
    /// (wrong type, or a second AVP for a single-valued field), so that it
    /// lands in `additional_avps` instead of being lost.
    fn accept(&mut self, avp: Avp) -> Result<(), Avp>;
    /// Appends the field's AVPs to `out`; `mandatory` overrides the
    /// dictionary's M flag when given.
    fn emit(
        &self,
        code: u32,
        vendor_id: u32,
        mandatory: Option<bool>,
        out: &mut Vec<Avp>,
    ) -> Result<(), AvpEncodeError>;
}

fn with_flag(avp: Avp, mandatory: Option<bool>) -> Avp {
    match mandatory {
        Some(m) => avp.with_mandatory(m),
        None => avp,
    }
}

impl<T: AvpField> Slot for Option<T> {
    fn accept(&mut self, avp: Avp) -> Result<(), Avp> {
        if self.is_some() {
            return Err(avp);
        }
        *self = Some(T::from_avp(avp)?);
        Ok(())
    }
    fn emit(
        &self,
        code: u32,
        vendor_id: u32,
        mandatory: Option<bool>,
        out: &mut Vec<Avp>,
    ) -> Result<(), AvpEncodeError> {
        if let Some(v) = self {
            out.push(with_flag(v.to_avp(code, vendor_id)?, mandatory));
        }
        Ok(())
    }
}

impl<T: AvpField> Slot for Vec<T> {
    fn accept(&mut self, avp: Avp) -> Result<(), Avp> {
        self.push(T::from_avp(avp)?);
        Ok(())
    }
    fn emit(
        &self,
        code: u32,
        vendor_id: u32,
        mandatory: Option<bool>,
        out: &mut Vec<Avp>,
    ) -> Result<(), AvpEncodeError> {
        for v in self {
            out.push(with_flag(v.to_avp(code, vendor_id)?, mandatory));
        }
        Ok(())
    }
}

/// A struct whose fields are AVPs: a grouped AVP's members or a command's body.
pub trait AvpStruct: Default {
    /// Fills a struct from AVPs; AVPs it does not know go to `additional_avps`.
    fn from_avps(avps: Vec<Avp>) -> Self;
    /// The AVPs of the struct: the known fields in definition order, then
    /// `additional_avps`.
    fn to_avps(&self) -> Result<Vec<Avp>, AvpEncodeError>;

    /// Exactly the AVPs `(code, vendor_id)` that [`to_avps`](Self::to_avps)
    /// gives, in the same order: those of the matching field, then the
    /// matching `additional_avps`. The structs of
    /// [`grouped_avp!`](crate::grouped_avp) and [`command!`](crate::command)
    /// encode only the matching field; this default encodes all of them.
    ///
    /// ```
    /// use diameter::message::commands::CreditControlRequest;
    /// use diameter::message::constants::*;
    /// use diameter::message::typed::AvpStruct;
    /// use diameter::message::Avp;
    ///
    /// let mut ccr = CreditControlRequest::new();
    /// ccr.session_id = Some("a;1".into());
    /// ccr.append_avp(Avp::new(AVP_SESSION_ID, 0, "b;2")?);
    /// let ids = ccr.field_avps(AVP_SESSION_ID, 0)?;
    /// assert_eq!(ids.iter().map(|a| a.as_str().unwrap()).collect::<Vec<_>>(), ["a;1", "b;2"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn field_avps(&self, code: u32, vendor_id: u32) -> Result<Vec<Avp>, AvpEncodeError> {
        let mut avps = self.to_avps()?;
        avps.retain(|a| a.code() == code && a.vendor_id() == vendor_id);
        Ok(avps)
    }
}

/// Takes a grouped AVP's members into a struct (used by [`grouped_avp!`](crate::grouped_avp)).
#[doc(hidden)]
pub fn grouped_from_avp<T: AvpStruct>(avp: Avp) -> Result<T, Avp> {
    if avp.as_grouped().is_none() {
        return Err(avp);
    }
    match avp.into_value() {
        AvpValue::Grouped(members) => Ok(T::from_avps(members)),
        // checked just above
        _ => Ok(T::default()),
    }
}

/// A typed command: a request or an answer with its header and fields.
pub trait Command: AvpStruct {
    /// Command code.
    const CODE: u32;
    /// The python class name (`"CreditControlRequest"`).
    const NAME: &'static str;
    /// Whether this is the request (R bit set) or the answer.
    const IS_REQUEST: bool;
    /// The P bit of a new message of this type.
    const PROXYABLE: bool;

    /// The header.
    fn header(&self) -> &MessageHeader;
    /// The header, mutably.
    fn header_mut(&mut self) -> &mut MessageHeader;

    /// A new message with the command code and R and P bits set.
    fn new() -> Self {
        let mut msg = Self::default();
        let header = msg.header_mut();
        header.command_code = Self::CODE;
        header.set_request(Self::IS_REQUEST);
        header.set_proxyable(Self::PROXYABLE);
        msg
    }

    /// The typed form of a generic message; the message comes back in a
    /// [`WrongCommand`] when its command code or R bit do not match. The
    /// header is kept as received (the P bit included).
    fn from_message(msg: Message) -> Result<Self, WrongCommand> {
        if msg.header.command_code != Self::CODE || msg.header.is_request() != Self::IS_REQUEST {
            return Err(WrongCommand {
                expected: Self::NAME,
                expected_code: Self::CODE,
                expected_request: Self::IS_REQUEST,
                message: msg,
            });
        }
        let mut typed = Self::from_avps(msg.avps);
        *typed.header_mut() = msg.header;
        Ok(typed)
    }

    /// The generic form: the header and the AVPs of [`AvpStruct::to_avps`].
    fn to_message(&self) -> Result<Message, AvpEncodeError> {
        Ok(Message::new(*self.header(), self.to_avps()?))
    }

    /// Decodes bytes into this command; they must hold a valid message of
    /// this command code and R bit.
    fn from_bytes(data: &[u8]) -> Result<Self, CommandDecodeError> {
        Ok(Self::from_message(Message::from_bytes(data)?)?)
    }

    /// The command on the wire.
    fn as_bytes(&self) -> Result<Vec<u8>, AvpEncodeError> {
        self.to_message()?.as_bytes()
    }
}

/// A request type that knows its answer type (python's `to_answer` picking
/// the `...Answer` class).
pub trait Request: Command {
    /// The answer type.
    type Answer: Command;

    /// A new answer: the request's version, command code, application id and
    /// identifiers, every flag clear but P, which is kept.
    fn to_answer(&self) -> Self::Answer {
        let mut answer = Self::Answer::default();
        *answer.header_mut() = self.header().to_answer();
        answer
    }
}

/// Defines a grouped AVP struct (python's grouped dataclasses): one field per
/// member AVP, `(code, vendor_id)` after each, optionally `mandatory = bool`
/// to override the dictionary's M flag, and `additional_avps` for the rest.
#[macro_export]
macro_rules! grouped_avp {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty = ($code:expr, $vendor:expr $(, mandatory = $mand:expr)?)
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// AVPs without a field of their own, kept and encoded last.
            pub additional_avps: ::std::vec::Vec<$crate::message::Avp>,
        }

        impl $crate::message::typed::AvpStruct for $name {
            fn from_avps(avps: ::std::vec::Vec<$crate::message::Avp>) -> Self {
                let mut s = Self::default();
                $crate::__fill_fields!(s, avps, $( $field = ($code, $vendor) ),*);
                s
            }
            fn to_avps(&self) -> ::std::result::Result<::std::vec::Vec<$crate::message::Avp>, $crate::AvpEncodeError> {
                $crate::__emit_fields!(self, $( $field = ($code, $vendor $(, $mand)?) ),*)
            }
            fn field_avps(&self, code: u32, vendor_id: u32) -> ::std::result::Result<::std::vec::Vec<$crate::message::Avp>, $crate::AvpEncodeError> {
                $crate::__emit_field!(self, code, vendor_id, $( $field = ($code, $vendor $(, $mand)?) ),*)
            }
        }

        impl $crate::message::typed::AvpField for $name {
            fn from_avp(avp: $crate::message::Avp) -> ::std::result::Result<Self, $crate::message::Avp> {
                $crate::message::typed::grouped_from_avp(avp)
            }
            fn to_avp(&self, code: u32, vendor_id: u32) -> ::std::result::Result<$crate::message::Avp, $crate::AvpEncodeError> {
                $crate::message::Avp::new(code, vendor_id,
                    $crate::message::typed::AvpStruct::to_avps(self)?)
            }
        }
    };
}

/// Defines a command struct (python's `...Request`/`...Answer` classes): the
/// header, one field per AVP as in [`grouped_avp!`](crate::grouped_avp), and
/// `additional_avps`. Optional `default = expr` after a field sets its value
/// in `new()` (python's body defaults such as `auth_application_id = 4`).
#[macro_export]
macro_rules! command {
    (
        $(#[$meta:meta])*
        pub struct $name:ident : code $ccode:expr, request $req:literal, proxyable $prox:literal {
            $(
                $(#[$fmeta:meta])*
                pub $field:ident : $ty:ty = ($code:expr, $vendor:expr $(, mandatory = $mand:expr)? $(, default = $default:expr)?)
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            /// The message header.
            pub header: $crate::message::MessageHeader,
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// AVPs without a field of their own, kept and encoded last.
            pub additional_avps: ::std::vec::Vec<$crate::message::Avp>,
        }

        impl ::std::default::Default for $name {
            /// An empty message: the header has the command code and the R and P
            /// bits of this type; fields hold their defaults.
            fn default() -> Self {
                let mut header = $crate::message::MessageHeader::new($ccode, 0);
                header.set_request($req);
                header.set_proxyable($prox);
                $name {
                    header,
                    $( $field: $crate::__field_default!($($default)?), )*
                    additional_avps: ::std::vec::Vec::new(),
                }
            }
        }

        impl $name {
            /// A new message of this type (the same as `default()`).
            pub fn new() -> Self {
                <Self as ::std::default::Default>::default()
            }

            /// Decodes bytes into this command (python's `Message.from_bytes`
            /// giving an instance of this class); a
            /// [`WrongCommand`]($crate::message::typed::WrongCommand) error, which
            /// holds the decoded message, when they hold another command.
            pub fn from_bytes(data: &[u8]) -> ::std::result::Result<Self, $crate::message::typed::CommandDecodeError> {
                <Self as $crate::message::typed::Command>::from_bytes(data)
            }

            /// The typed form of a generic message; the message comes back in a
            /// [`WrongCommand`]($crate::message::typed::WrongCommand) when its
            /// command code or R bit do not match.
            pub fn from_message(msg: $crate::message::Message) -> ::std::result::Result<Self, $crate::message::typed::WrongCommand> {
                <Self as $crate::message::typed::Command>::from_message(msg)
            }

            /// Adds an AVP to `additional_avps` (python's `append_avp` on a
            /// defined message); it is encoded after the fields.
            pub fn append_avp(&mut self, avp: $crate::message::Avp) {
                self.additional_avps.push(avp);
            }

            /// The command's name (python's `name`, `"Credit-Control"`), as
            /// [`Message::name`]($crate::message::Message::name) gives it for
            /// the header's command code.
            pub fn name(&self) -> &'static str {
                $crate::message::dictionary::command_name(self.header.command_code)
            }

            /// The generic form.
            pub fn to_message(&self) -> ::std::result::Result<$crate::message::Message, $crate::AvpEncodeError> {
                <Self as $crate::message::typed::Command>::to_message(self)
            }

            /// The message on the wire.
            pub fn as_bytes(&self) -> ::std::result::Result<::std::vec::Vec<u8>, $crate::AvpEncodeError> {
                <Self as $crate::message::typed::Command>::as_bytes(self)
            }
        }

        impl $crate::message::typed::AvpStruct for $name {
            fn from_avps(avps: ::std::vec::Vec<$crate::message::Avp>) -> Self {
                let mut s = Self::default();
                $( s.$field = ::std::default::Default::default(); )*
                $crate::__fill_fields!(s, avps, $( $field = ($code, $vendor) ),*);
                s
            }
            fn to_avps(&self) -> ::std::result::Result<::std::vec::Vec<$crate::message::Avp>, $crate::AvpEncodeError> {
                $crate::__emit_fields!(self, $( $field = ($code, $vendor $(, $mand)?) ),*)
            }
            fn field_avps(&self, code: u32, vendor_id: u32) -> ::std::result::Result<::std::vec::Vec<$crate::message::Avp>, $crate::AvpEncodeError> {
                $crate::__emit_field!(self, code, vendor_id, $( $field = ($code, $vendor $(, $mand)?) ),*)
            }
        }

        impl ::std::convert::TryFrom<$crate::message::Message> for $name {
            type Error = $crate::message::typed::WrongCommand;
            /// The typed form of a generic message (see `from_message`).
            fn try_from(msg: $crate::message::Message) -> ::std::result::Result<Self, Self::Error> {
                <Self as $crate::message::typed::Command>::from_message(msg)
            }
        }

        impl ::std::fmt::Display for $name {
            /// Python's `str(msg)`, as for the generic message: the command
            /// name and the header.
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{} {}", self.name(), self.header)
            }
        }

        impl $crate::message::typed::Command for $name {
            const CODE: u32 = $ccode;
            const NAME: &'static str = stringify!($name);
            const IS_REQUEST: bool = $req;
            const PROXYABLE: bool = $prox;
            fn header(&self) -> &$crate::message::MessageHeader {
                &self.header
            }
            fn header_mut(&mut self) -> &mut $crate::message::MessageHeader {
                &mut self.header
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __fill_fields {
    ($s:ident, $avps:ident, $( $field:ident = ($code:expr, $vendor:expr) ),*) => {
        for avp in $avps {
            // unused when the struct has no fields (Failed-AVP)
            #[allow(unused_variables)]
            let key = (avp.code(), avp.vendor_id());
            $(
                if key == ($code, $vendor) {
                    if let Err(avp) = $crate::message::typed::Slot::accept(&mut $s.$field, avp) {
                        $s.additional_avps.push(avp);
                    }
                    continue;
                }
            )*
            $s.additional_avps.push(avp);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __emit_fields {
    ($s:ident, $( $field:ident = ($code:expr, $vendor:expr $(, $mand:expr)?) ),*) => {{
        #[allow(unused_mut)]
        let mut out = ::std::vec::Vec::new();
        $(
            $crate::message::typed::Slot::emit(
                &$s.$field, $code, $vendor,
                $crate::__mandatory!($($mand)?), &mut out)?;
        )*
        out.extend($s.additional_avps.iter().cloned());
        Ok(out)
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __emit_field {
    ($s:ident, $want_code:ident, $want_vendor:ident, $( $field:ident = ($code:expr, $vendor:expr $(, $mand:expr)?) ),*) => {{
        #[allow(unused_mut)]
        let mut out = ::std::vec::Vec::new();
        $(
            if ($want_code, $want_vendor) == ($code, $vendor) {
                $crate::message::typed::Slot::emit(
                    &$s.$field, $code, $vendor,
                    $crate::__mandatory!($($mand)?), &mut out)?;
            }
        )*
        out.extend(
            $s.additional_avps
                .iter()
                .filter(|a| a.code() == $want_code && a.vendor_id() == $want_vendor)
                .cloned(),
        );
        Ok(out)
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __mandatory {
    () => {
        None
    };
    ($m:expr) => {
        Some($m)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __field_default {
    () => {
        ::std::default::Default::default()
    };
    ($d:expr) => {
        $d
    };
}
