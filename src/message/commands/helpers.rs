//! python's `add_*` helper methods of the command classes.

use super::{AaRequest, CreditControlAnswer, CreditControlRequest};
use crate::message::grouped::{
    FinalUnitIndication, GrantedServiceUnit, GsuPoolReference, MultipleServicesCreditControl,
    RequestedServiceUnit, SubscriptionId, UsedServiceUnit,
};
use crate::message::Avp;

/// The keyword arguments of python's
/// `CreditControlRequest.add_multiple_services_credit_control` (and of the
/// answer's), for the `add_multiple_services_credit_control_with` methods of
/// [`CreditControlRequest`] and [`CreditControlAnswer`].
///
/// Set the fields in a struct literal with `..Default::default()`, or with
/// the builder methods named after python's keywords, which take a single
/// value or a list where python does (`used_service_unit`,
/// `service_identifier`):
///
/// ```
/// use diameter::message::commands::{CreditControlRequest, MsccOptions};
/// use diameter::message::grouped::RequestedServiceUnit;
///
/// let mut ccr = CreditControlRequest::new();
/// // ccr.add_multiple_services_credit_control(
/// //     requested_service_unit=RequestedServiceUnit(cc_service_specific_units=1),
/// //     service_identifier=1)
/// ccr.add_multiple_services_credit_control_with(
///     MsccOptions::new()
///         .requested_service_unit(RequestedServiceUnit {
///             cc_service_specific_units: Some(1),
///             ..Default::default()
///         })
///         .service_identifier(1),
/// );
/// assert_eq!(ccr.multiple_services_credit_control[0].service_identifier, [1]);
/// ```
///
/// `avp` holds extra AVPs, which go to the new
/// Multiple-Services-Credit-Control's `additional_avps`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MsccOptions {
    /// Granted-Service-Unit.
    pub granted_service_unit: Option<GrantedServiceUnit>,
    /// Requested-Service-Unit.
    pub requested_service_unit: Option<RequestedServiceUnit>,
    /// Used-Service-Unit, any number.
    pub used_service_unit: Vec<UsedServiceUnit>,
    /// Tariff-Change-Usage.
    pub tariff_change_usage: Option<i32>,
    /// Service-Identifier, any number.
    pub service_identifier: Vec<u32>,
    /// Rating-Group.
    pub rating_group: Option<u32>,
    /// G-S-U-Pool-Reference, any number.
    pub g_s_u_pool_reference: Vec<GsuPoolReference>,
    /// Validity-Time.
    pub validity_time: Option<u32>,
    /// Result-Code.
    pub result_code: Option<u32>,
    /// Final-Unit-Indication.
    pub final_unit_indication: Option<FinalUnitIndication>,
    /// Other AVPs, kept in the new struct's `additional_avps`.
    pub avp: Vec<Avp>,
}

/// One value or several, for python's keyword arguments that take either
/// (`service_identifier=1` or `service_identifier=[1, 2]`).
pub trait OneOrMany<T> {
    /// The values as a list.
    fn into_list(self) -> Vec<T>;
}

impl<T> OneOrMany<T> for T {
    fn into_list(self) -> Vec<T> {
        vec![self]
    }
}

impl<T> OneOrMany<T> for Vec<T> {
    fn into_list(self) -> Vec<T> {
        self
    }
}

impl<T, const N: usize> OneOrMany<T> for [T; N] {
    fn into_list(self) -> Vec<T> {
        self.into()
    }
}

impl MsccOptions {
    /// No field set (the same as `default()`).
    pub fn new() -> MsccOptions {
        MsccOptions::default()
    }

    /// python's `granted_service_unit=`.
    pub fn granted_service_unit(mut self, value: GrantedServiceUnit) -> Self {
        self.granted_service_unit = Some(value);
        self
    }

    /// python's `requested_service_unit=`.
    pub fn requested_service_unit(mut self, value: RequestedServiceUnit) -> Self {
        self.requested_service_unit = Some(value);
        self
    }

    /// python's `used_service_unit=` (one or a list).
    pub fn used_service_unit(mut self, value: impl OneOrMany<UsedServiceUnit>) -> Self {
        self.used_service_unit = value.into_list();
        self
    }

    /// python's `tariff_change_usage=`.
    pub fn tariff_change_usage(mut self, value: i32) -> Self {
        self.tariff_change_usage = Some(value);
        self
    }

    /// python's `service_identifier=` (one or a list).
    pub fn service_identifier(mut self, value: impl OneOrMany<u32>) -> Self {
        self.service_identifier = value.into_list();
        self
    }

    /// python's `rating_group=`.
    pub fn rating_group(mut self, value: u32) -> Self {
        self.rating_group = Some(value);
        self
    }

    /// python's `g_s_u_pool_reference=`.
    pub fn g_s_u_pool_reference(mut self, value: impl OneOrMany<GsuPoolReference>) -> Self {
        self.g_s_u_pool_reference = value.into_list();
        self
    }

    /// python's `validity_time=`.
    pub fn validity_time(mut self, value: u32) -> Self {
        self.validity_time = Some(value);
        self
    }

    /// python's `result_code=`.
    pub fn result_code(mut self, value: u32) -> Self {
        self.result_code = Some(value);
        self
    }

    /// python's `final_unit_indication=`.
    pub fn final_unit_indication(mut self, value: FinalUnitIndication) -> Self {
        self.final_unit_indication = Some(value);
        self
    }

    /// python's `avp=`: extra AVPs of the new Multiple-Services-Credit-Control.
    pub fn avp(mut self, value: impl OneOrMany<Avp>) -> Self {
        self.avp = value.into_list();
        self
    }
}

impl From<MsccOptions> for MultipleServicesCreditControl {
    /// The struct python's helper builds from its keyword arguments: every
    /// other field empty.
    fn from(o: MsccOptions) -> Self {
        MultipleServicesCreditControl {
            granted_service_unit: o.granted_service_unit,
            requested_service_unit: o.requested_service_unit,
            used_service_unit: o.used_service_unit,
            tariff_change_usage: o.tariff_change_usage,
            service_identifier: o.service_identifier,
            rating_group: o.rating_group,
            g_s_u_pool_reference: o.g_s_u_pool_reference,
            validity_time: o.validity_time,
            result_code: o.result_code,
            final_unit_indication: o.final_unit_indication,
            additional_avps: o.avp,
            ..Default::default()
        }
    }
}

macro_rules! add_subscription_id {
    ($($command:ident),*) => {$(
        impl $command {
            /// Appends a Subscription-Id (python's `add_subscription_id`);
            /// the type is one of the `E_SUBSCRIPTION_ID_TYPE_*` constants.
            pub fn add_subscription_id(
                &mut self,
                subscription_id_type: i32,
                subscription_id_data: impl Into<String>,
            ) {
                self.subscription_id.push(SubscriptionId {
                    subscription_id_type: Some(subscription_id_type),
                    subscription_id_data: Some(subscription_id_data.into()),
                    ..Default::default()
                });
            }
        }
    )*};
}

macro_rules! add_multiple_services_credit_control {
    ($($command:ident),*) => {$(
        impl $command {
            /// Appends a Multiple-Services-Credit-Control (python's
            /// `add_multiple_services_credit_control` given a whole struct).
            pub fn add_multiple_services_credit_control(
                &mut self,
                mscc: MultipleServicesCreditControl,
            ) {
                self.multiple_services_credit_control.push(mscc);
            }

            /// Appends a Multiple-Services-Credit-Control built from python's
            /// keyword arguments of `add_multiple_services_credit_control`.
            pub fn add_multiple_services_credit_control_with(&mut self, options: MsccOptions) {
                self.multiple_services_credit_control.push(options.into());
            }
        }
    )*};
}

add_subscription_id!(CreditControlRequest, AaRequest);
add_multiple_services_credit_control!(CreditControlRequest, CreditControlAnswer);
