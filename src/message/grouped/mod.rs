//! Grouped AVPs as structs (python's `diameter.message.avp.grouped`).
//!
//! One struct per grouped AVP class of python-diameter, with python's class
//! and attribute names: `Option<T>` for a member that appears once, `Vec<T>`
//! for a repeated one, and another struct for a nested grouped AVP. Members
//! the struct has no field for are kept in `additional_avps` and encoded
//! last, also for the classes whose python version drops them.
//!
//! The structs are generated from python-diameter's definitions by
//! `tools/dictionary/codegen.py`; the machinery behind them is in
//! [`typed`](crate::message::typed).
//!
//! ```
//! use diameter::message::constants::*;
//! use diameter::message::grouped::{SubscriptionId, UsedServiceUnit};
//! use diameter::message::typed::{AvpField, AvpStruct};
//! use diameter::message::Avp;
//!
//! // python: SubscriptionId(subscription_id_type=E_SUBSCRIPTION_ID_TYPE_END_USER_E164,
//! //                        subscription_id_data="485079164547")
//! let sub = SubscriptionId {
//!     subscription_id_type: Some(E_SUBSCRIPTION_ID_TYPE_END_USER_E164),
//!     subscription_id_data: Some("485079164547".into()),
//!     ..Default::default()
//! };
//! let avp = sub.to_avp(AVP_SUBSCRIPTION_ID, 0)?;
//! assert_eq!(avp.as_grouped().map(<[Avp]>::len), Some(2));
//! assert_eq!(SubscriptionId::from_avp(avp), Ok(sub));
//!
//! // members without a field survive a round trip (python drops Rating-Group here)
//! let members = vec![Avp::new(AVP_CC_TIME, 0, 60u32)?, Avp::new(AVP_RATING_GROUP, 0, 8000u32)?];
//! let used = UsedServiceUnit::from_avps(members.clone());
//! assert_eq!(used.cc_time, Some(60));
//! assert_eq!(used.additional_avps, members[1..]);
//! assert_eq!(used.to_avps()?, members);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod generated;

pub use generated::*;

crate::grouped_avp! {
    /// Python's `GenericSpec`: a grouped AVP's members without fields of
    /// their own, all in `additional_avps` (python's base class of
    /// `TcpOption`; it has no AVP of its own). Any grouped AVP can be read
    /// into it.
    ///
    /// ```
    /// use diameter::message::constants::*;
    /// use diameter::message::grouped::GenericSpec;
    /// use diameter::message::typed::AvpField;
    /// use diameter::message::Avp;
    ///
    /// let spec = GenericSpec {
    ///     additional_avps: vec![Avp::new(AVP_TCP_OPTION_VALUE, 0, vec![1u8, 2])?],
    /// };
    /// let avp = spec.to_avp(AVP_TCP_OPTION, 0)?;
    /// assert_eq!(GenericSpec::from_avp(avp), Ok(spec));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub struct GenericSpec {}
}
