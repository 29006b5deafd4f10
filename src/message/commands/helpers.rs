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
/// python accepts a single value or a list for `used_service_unit` and
/// `service_identifier`; here they are always lists. `avp` holds extra AVPs,
/// which go to the new Multiple-Services-Credit-Control's
/// `additional_avps`.
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
