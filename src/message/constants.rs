//! python-diameter's constants, with the same names and values: AVP codes
//! (`AVP_*`), enumerated values and result codes (`E_*`), application ids
//! (`APP_*`), command codes (`CMD_*`), vendor ids (`VENDOR_*`) and service
//! contexts (`SERVICE_CONTEXT_*`).
//!
//! ```
//! use diameter::message::constants::*;
//! assert_eq!(AVP_SESSION_ID, 263);
//! assert_eq!(E_RESULT_CODE_DIAMETER_SUCCESS, 2001);
//! assert_eq!(VENDOR_TGPP, 10415);
//! ```

pub use super::dictionary::generated::constants::*;
