//! Commands as structs (python's `diameter.message.commands`).
//!
//! Each of python-diameter's 35 defined commands has a request and an answer
//! struct with python's class and attribute names (`CreditControlRequest`,
//! `ccr.session_id`): the [`MessageHeader`] in
//! `header`, one field per AVP, and `additional_avps` for every other AVP, so
//! that converting between a struct and a generic [`Message`] loses nothing.
//! [`AnyCommand`] picks the struct for a received message (python's
//! `Message.from_bytes` picking the class), and
//! [`Request::to_answer`](crate::message::typed::Request::to_answer) builds
//! the answer struct of a request.
//!
//! The structs are generated from python-diameter's definitions by
//! `tools/dictionary/codegen.py`; the grouped AVPs they hold are in
//! [`grouped`](crate::message::grouped), the machinery in
//! [`typed`](crate::message::typed).
//!
//! ```
//! use diameter::message::commands::{AnyCommand, CreditControlRequest, MsccOptions};
//! use diameter::message::constants::*;
//! use diameter::message::grouped::RequestedServiceUnit;
//! use diameter::message::typed::Request;
//! use diameter::message::Message;
//!
//! // python: ccr = CreditControlRequest(); ccr.session_id = "..."; ...
//! let mut ccr = CreditControlRequest::new();
//! ccr.header.hop_by_hop_identifier = 0x2711;
//! ccr.session_id = Some("client.example.net;1;1".into());
//! ccr.origin_host = Some("client.example.net".into());
//! ccr.origin_realm = Some("example.net".into());
//! ccr.destination_realm = Some("example.net".into());
//! ccr.service_context_id = Some(SERVICE_CONTEXT_PS_CHARGING.into());
//! ccr.cc_request_type = Some(E_CC_REQUEST_TYPE_INITIAL_REQUEST);
//! ccr.cc_request_number = Some(0);
//! ccr.add_subscription_id(E_SUBSCRIPTION_ID_TYPE_END_USER_E164, "485079164547");
//! // python: ccr.add_multiple_services_credit_control(
//! //     requested_service_unit=RequestedServiceUnit(cc_total_octets=1048576), rating_group=8000)
//! ccr.add_multiple_services_credit_control_with(MsccOptions {
//!     requested_service_unit: Some(RequestedServiceUnit {
//!         cc_total_octets: Some(1_048_576),
//!         ..Default::default()
//!     }),
//!     rating_group: Some(8000),
//!     ..Default::default()
//! });
//! assert_eq!(ccr.auth_application_id, Some(4)); // python's default
//!
//! let wire = ccr.as_bytes()?;
//! let AnyCommand::CreditControlRequest(received) = Message::from_bytes(&wire)?.into_command()
//! else {
//!     panic!("not a Credit-Control-Request");
//! };
//! assert_eq!(received.session_id, ccr.session_id);
//! assert_eq!(received.subscription_id, ccr.subscription_id);
//! assert_eq!(received.multiple_services_credit_control[0].rating_group, Some(8000));
//!
//! let mut cca = received.to_answer();
//! cca.session_id = received.session_id.clone();
//! cca.result_code = Some(E_RESULT_CODE_DIAMETER_SUCCESS);
//! assert_eq!(cca.header.hop_by_hop_identifier, 0x2711);
//! assert!(!cca.header.is_request() && cca.header.is_proxyable());
//! assert_eq!(AnyCommand::from_bytes(&cca.as_bytes()?)?.name(), "Credit-Control");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::message::typed::Command;
use crate::message::{Message, MessageHeader};

/// One command class of python's `all_commands`: the class `Message.from_bytes`
/// picks for a command code. For the 35 commands python defines fields for,
/// it is the base class of a `...Request` and a `...Answer` struct
/// (`CreditControl`); for the others, a class without fields
/// (`SipUserAuthorization`), whose messages are generic [`Message`]s here.
///
/// Each class also has a unit struct of the same name in this module
/// ([`CreditControl`], [`SipUserAuthorization`]) with its `CODE`, `NAME`,
/// this descriptor as `CLASS`, and `new()` building python's `CreditControl()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandClass {
    /// The command code (python's `code`).
    pub code: u32,
    /// The command name (python's `name`, `"Credit-Control"`).
    pub name: &'static str,
    /// The python class name (`"CreditControl"`).
    pub class_name: &'static str,
    /// The request struct's python class name (`"CreditControlRequest"`),
    /// `None` for a class without fields.
    pub request_class: Option<&'static str>,
    /// The answer struct's python class name (`"CreditControlAnswer"`),
    /// `None` for a class without fields.
    pub answer_class: Option<&'static str>,
}

impl CommandClass {
    /// Whether python defines fields for the command (a `DefinedMessage`),
    /// so that it has a request and an answer struct.
    pub fn is_defined(&self) -> bool {
        self.request_class.is_some()
    }

    /// Python's `type_factory(header)` of this class: the request or answer
    /// class by the header's R bit, `None` for a class without fields (python
    /// then builds the class itself).
    pub fn type_factory(&self, header: &MessageHeader) -> Option<&'static str> {
        if header.is_request() {
            self.request_class
        } else {
            self.answer_class
        }
    }

    /// A new message of this class, as python's `CreditControl()` builds it:
    /// the command code in the header, every flag clear, no AVPs.
    pub fn new_message(&self) -> Message {
        Message::new(MessageHeader::new(self.code, 0), Vec::new())
    }
}

/// Python's `all_commands`: every command class, by command code (code 0,
/// python's `UndefinedMessage`, is not in it; its counterpart is the generic
/// [`Message`]). Commands registered at run time
/// ([`dictionary::register_command`](crate::message::dictionary::register_command))
/// are not listed.
///
/// ```
/// use diameter::message::commands::{all_commands, command_class, CreditControl};
///
/// assert_eq!(all_commands().len(), 170);
/// assert_eq!(all_commands().iter().filter(|c| c.is_defined()).count(), 35);
/// // python: all_commands[272]
/// let cc = command_class(272).unwrap();
/// assert_eq!(*cc, CreditControl::CLASS);
/// assert_eq!(cc.class_name, "CreditControl");
/// assert_eq!(cc.request_class, Some("CreditControlRequest"));
/// assert_eq!(command_class(283).unwrap().class_name, "SipUserAuthorization");
/// ```
pub fn all_commands() -> &'static [CommandClass] {
    generated::ALL_COMMANDS
}

/// Python's `all_commands.get(code)`: the command class of a command code.
pub fn command_class(code: u32) -> Option<&'static CommandClass> {
    let all = generated::ALL_COMMANDS;
    all.binary_search_by_key(&code, |c| c.code)
        .ok()
        .and_then(|i| all.get(i))
}

/// The python class that `Message.from_bytes` builds for a header: the
/// request or answer class of a defined command (`"CreditControlRequest"`),
/// the command class of another known command (`"SipUserAuthorization"`), or
/// `"UndefinedMessage"` for a code python does not know. This is python's
/// `all_commands[code].type_factory(header)` with its fallbacks; here
/// [`AnyCommand::from_message`] builds the struct it names.
///
/// ```
/// use diameter::message::commands::{type_factory, CreditControlAnswer};
/// use diameter::message::typed::Command;
/// use diameter::message::MessageHeader;
///
/// let mut header = MessageHeader::new(272, 4);
/// assert_eq!(type_factory(&header), CreditControlAnswer::NAME);
/// header.set_request(true);
/// assert_eq!(type_factory(&header), "CreditControlRequest");
/// assert_eq!(type_factory(&MessageHeader::new(283, 0)), "SipUserAuthorization");
/// assert_eq!(type_factory(&MessageHeader::new(1, 0)), "UndefinedMessage");
/// ```
pub fn type_factory(header: &MessageHeader) -> &'static str {
    match command_class(header.command_code) {
        Some(class) => class.type_factory(header).unwrap_or(class.class_name),
        None => "UndefinedMessage",
    }
}

/// Defines the unit struct of each command class and `ALL_COMMANDS`, from
/// the generated list: `Class = (code, name)` for a class without fields,
/// `Class = (code, name, Request, Answer)` for a defined command.
macro_rules! command_classes {
    ($(
        $(#[$meta:meta])*
        $class:ident = ($code:expr, $name:literal $(, $req:ident, $ans:ident)?)
    ),* $(,)?) => {
        $(
            $(#[$meta])*
            ///
            #[doc = concat!(
                "A unit struct standing for the python class: its constants and `new()`, ",
                "which builds python's `", stringify!($class), "()` as a generic ",
                "[`Message`](crate::message::Message)."
            )]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct $class;

            impl $class {
                /// The command code (python's `code`).
                pub const CODE: u32 = $code;
                /// The python class name.
                pub const NAME: &'static str = stringify!($class);
                /// The command name (python's `name`).
                pub const COMMAND_NAME: &'static str = $name;
                /// This class as listed by [`all_commands`](crate::message::commands::all_commands).
                pub const CLASS: crate::message::commands::CommandClass =
                    crate::message::commands::CommandClass {
                        code: $code,
                        name: $name,
                        class_name: stringify!($class),
                        request_class: command_classes!(@class $($req)?),
                        answer_class: command_classes!(@class $($ans)?),
                    };

                #[doc = concat!(
                    "Python's `", stringify!($class), "()`: a message with this command ",
                    "code, every flag clear and no AVPs; set the header's bits and append ",
                    "AVPs as in python."
                )]
                #[allow(clippy::new_ret_no_self)]
                pub fn new() -> crate::message::Message {
                    Self::CLASS.new_message()
                }

                /// [`new`](Self::new) with the R bit set.
                pub fn new_request() -> crate::message::Message {
                    let mut msg = Self::CLASS.new_message();
                    msg.header.set_request(true);
                    msg
                }

                /// Python's `type_factory` of this class (see
                /// [`CommandClass::type_factory`](crate::message::commands::CommandClass::type_factory)).
                pub fn type_factory(
                    header: &crate::message::MessageHeader,
                ) -> ::std::option::Option<&'static str> {
                    Self::CLASS.type_factory(header)
                }
            }
        )*

        /// Every command class, by code.
        pub(crate) static ALL_COMMANDS: &[crate::message::commands::CommandClass] =
            &[$($class::CLASS),*];
    };
    (@class) => {
        None
    };
    (@class $t:ident) => {
        Some(<crate::message::commands::$t as crate::message::typed::Command>::NAME)
    };
}

/// Defines [`AnyCommand`] from the list of request and answer structs that
/// the generated `__for_each_command!` passes to it.
macro_rules! any_command {
    ($($req:ident => $ans:ident),* $(,)?) => {
        /// A message in its typed form when its command is one of the defined
        /// ones (python's `Message.from_bytes` picking the command class), the
        /// generic [`Message`](crate::message::Message) otherwise.
        ///
        /// The structs are boxed: they hold a field per AVP of their command
        /// and would make every value of the enum as large as the largest.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AnyCommand {
            $(
                #[doc = concat!("A [`", stringify!($req), "`].")]
                $req(Box<$req>),
                #[doc = concat!("A [`", stringify!($ans), "`].")]
                $ans(Box<$ans>),
            )*
            /// A command without a struct (or an unknown command code), as
            /// received.
            Other(crate::message::Message),
        }

        impl AnyCommand {
            /// The typed form of a message: the struct for its command code
            /// and R bit, [`AnyCommand::Other`] for any other command. The
            /// header is kept as received.
            pub fn from_message(msg: crate::message::Message) -> AnyCommand {
                use crate::message::typed::Command;
                match (msg.header.command_code, msg.header.is_request()) {
                    $(
                        (<$req as Command>::CODE, true) => {
                            crate::message::commands::typed_variant(msg, AnyCommand::$req)
                        }
                        (<$ans as Command>::CODE, false) => {
                            crate::message::commands::typed_variant(msg, AnyCommand::$ans)
                        }
                    )*
                    _ => AnyCommand::Other(msg),
                }
            }

            /// Decodes a message and takes its typed form (python's
            /// `Message.from_bytes`).
            pub fn from_bytes(
                data: &[u8],
            ) -> ::std::result::Result<AnyCommand, crate::MessageDecodeError> {
                crate::message::Message::from_bytes(data).map(AnyCommand::from_message)
            }

            /// The generic form of the message.
            pub fn to_message(
                &self,
            ) -> ::std::result::Result<crate::message::Message, crate::AvpEncodeError> {
                match self {
                    $(
                        AnyCommand::$req(m) => m.to_message(),
                        AnyCommand::$ans(m) => m.to_message(),
                    )*
                    AnyCommand::Other(m) => Ok(m.clone()),
                }
            }

            /// The message on the wire.
            pub fn as_bytes(
                &self,
            ) -> ::std::result::Result<::std::vec::Vec<u8>, crate::AvpEncodeError> {
                match self {
                    $(
                        AnyCommand::$req(m) => m.as_bytes(),
                        AnyCommand::$ans(m) => m.as_bytes(),
                    )*
                    AnyCommand::Other(m) => m.as_bytes(),
                }
            }

            /// The header.
            pub fn header(&self) -> &crate::message::MessageHeader {
                match self {
                    $(
                        AnyCommand::$req(m) => &m.header,
                        AnyCommand::$ans(m) => &m.header,
                    )*
                    AnyCommand::Other(m) => &m.header,
                }
            }

            /// The command's name (python's `name` class attribute,
            /// `"Credit-Control"`), `"Unknown"` for codes the dictionary does
            /// not know.
            pub fn name(&self) -> &'static str {
                crate::message::dictionary::command_name(self.header().command_code)
            }
        }

        $(
            impl ::std::convert::From<$req> for AnyCommand {
                fn from(msg: $req) -> AnyCommand {
                    AnyCommand::$req(Box::new(msg))
                }
            }

            impl ::std::convert::From<$ans> for AnyCommand {
                fn from(msg: $ans) -> AnyCommand {
                    AnyCommand::$ans(Box::new(msg))
                }
            }
        )*
    };
}

mod generated;
mod helpers;

pub use generated::*;
pub use helpers::{MsccOptions, OneOrMany};

/// The struct of a message whose code and R bit were matched already.
fn typed_variant<T: Command>(msg: Message, variant: fn(Box<T>) -> AnyCommand) -> AnyCommand {
    match T::from_message(msg) {
        Ok(typed) => variant(Box::new(typed)),
        Err(wrong) => AnyCommand::Other(wrong.message),
    }
}

impl Message {
    /// The typed form of this message (see [`AnyCommand::from_message`]).
    pub fn into_command(self) -> AnyCommand {
        AnyCommand::from_message(self)
    }
}

/// The AVPs python-diameter marks required in a defined command (`(code,
/// vendor id)` pairs, top level), for DIAMETER_MISSING_AVP (5005) checks;
/// empty for commands it does not define.
pub fn required_avps(command_code: u32, is_request: bool) -> &'static [(u32, u32)] {
    generated::REQUIRED_AVPS
        .iter()
        .find(|(code, request, _)| *code == command_code && *request == is_request)
        .map_or(&[], |(_, _, avps)| avps)
}

/// The required AVPs missing from a message (python's
/// `validate_message_avps`), each as RFC 6733 §7.5 wants it in a Failed-AVP:
/// the AVP's header with a zero-filled value of its type's minimum size.
pub fn missing_avps(msg: &Message) -> Vec<crate::message::Avp> {
    use crate::message::{dictionary, Avp, AvpValue};
    required_avps(msg.header.command_code, msg.header.is_request())
        .iter()
        .filter(|(code, vendor)| {
            !msg.avps
                .iter()
                .any(|a| a.code() == *code && a.vendor_id() == *vendor)
        })
        .map(|(code, vendor)| {
            let def = dictionary::lookup(*code, *vendor);
            let len = def.map_or(0, |d| AvpValue::min_payload_len(d.avp_type));
            Avp::with_value(*code, *vendor, AvpValue::Raw(vec![0; len]))
                .with_mandatory(def.and_then(|d| d.mandatory).unwrap_or(false))
        })
        .collect()
}
