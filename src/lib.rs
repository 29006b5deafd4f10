//! A synchronous, thread-based Diameter stack (RFC 6733) whose API mirrors
//! the Python package python-diameter, so that a Python Diameter application
//! can be ported line by line.
//!
//! - [`message`]: the wire layer, pure: message headers, AVPs of every
//!   RFC 6733 type, the AVP dictionary with python-diameter's names and
//!   constants, its commands and grouped AVPs as typed structs, stream
//!   framing, and python's human-readable dumps.
//! - [`node`]: the local node on one mio event-loop thread, the sans-IO peer
//!   state machine (capabilities exchange, watchdog, disconnect), and
//!   applications with a blocking `send_request`.
//!
//! ```
//! use diameter::message::{Avp, Message, MessageHeader};
//! use diameter::message::constants::*;
//!
//! let mut ccr = Message::new(
//!     MessageHeader::new(CMD_CREDIT_CONTROL, APP_DIAMETER_CREDIT_CONTROL_APPLICATION),
//!     vec![],
//! );
//! ccr.header.set_request(true);
//! ccr.append_avp(Avp::new(AVP_SESSION_ID, 0, "client.example.net;1;1")?);
//! ccr.append_avp(Avp::new(AVP_CC_REQUEST_TYPE, 0, E_CC_REQUEST_TYPE_INITIAL_REQUEST)?);
//! let wire = ccr.as_bytes()?;
//!
//! let decoded = Message::from_bytes(&wire)?;
//! let request_type = decoded.find_avp(&[(AVP_CC_REQUEST_TYPE, 0)]).and_then(|a| a.as_i32());
//! assert_eq!(request_type, Some(E_CC_REQUEST_TYPE_INITIAL_REQUEST));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
// No unsafe code, except the SCTP system calls in node/transport/sctp_sys.rs
// (the one module allowed to use it, each block with its invariants).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod message;
pub mod node;

pub use error::{
    AvpDecodeError, AvpEncodeError, CommandDecodeError, FrameError, MessageDecodeError,
    WrongCommand,
};

/// The guide pages under `docs/guide/`, included so that every Rust block
/// block in them is compiled (and run, unless marked `no_run`) as a doc test.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../docs/guide/README.md")]
    struct Readme;
    #[doc = include_str!("../docs/guide/message.md")]
    struct Message;
    #[doc = include_str!("../docs/guide/avp.md")]
    struct Avp;
    #[doc = include_str!("../docs/guide/node.md")]
    struct Node;
    #[doc = include_str!("../docs/guide/transports.md")]
    struct Transports;
    #[doc = include_str!("../docs/guide/application.md")]
    struct Application;
    #[doc = include_str!("../docs/guide/statistics.md")]
    struct Statistics;
    #[doc = include_str!("../docs/guide/extending.md")]
    struct Extending;
    #[doc = include_str!("../docs/guide/python-guide.md")]
    struct PythonGuide;
    #[doc = include_str!("../docs/guide/benchmarks.md")]
    struct Benchmarks;
}
