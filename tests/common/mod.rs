//! Helpers shared by the integration tests (`mod common;` in a tests/*.rs).
//! Each test crate uses only part of them.
#![allow(dead_code)]

pub mod cc;
pub mod interop;
pub mod sctp;
