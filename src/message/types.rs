//! The RFC 6733 §4.2-4.3 data types and their Rust values.
//!
//! [`AvpValue`] holds a decoded AVP value, one variant per type. Values given
//! to [`Avp::new`](crate::message::Avp::new) are converted to the type the
//! dictionary names, the way python's typed AVP setters accept python values:
//! any integer that fits, text for an Address (parsed as IPv4, IPv6 or else
//! E.164), bytes or text for the string types.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::dictionary::AvpType;
use super::pyfmt;
use super::Avp;

/// An Address value (RFC 6733 §4.3.1): an IANA address family and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// Family 1.
    Ipv4(Ipv4Addr),
    /// Family 2.
    Ipv6(Ipv6Addr),
    /// Family 8, an E.164 number as text.
    E164(String),
    /// Any other family, or an E.164 address that is not UTF-8, kept as bytes.
    Other {
        /// IANA address family number.
        family: u16,
        /// The address bytes.
        data: Vec<u8>,
    },
}

impl Address {
    /// IANA address family number of IPv4.
    pub const FAMILY_IPV4: u16 = 1;
    /// IANA address family number of IPv6.
    pub const FAMILY_IPV6: u16 = 2;
    /// IANA address family number of E.164.
    pub const FAMILY_E164: u16 = 8;

    /// The IANA address family number.
    pub fn family(&self) -> u16 {
        match self {
            Address::Ipv4(_) => Self::FAMILY_IPV4,
            Address::Ipv6(_) => Self::FAMILY_IPV6,
            Address::E164(_) => Self::FAMILY_E164,
            Address::Other { family, .. } => *family,
        }
    }

    /// Parses text the way python's `AvpAddress` setter does: text holding a
    /// `.` or `:` must be an IPv4 or IPv6 address, anything else is E.164.
    pub fn parse(text: &str) -> Result<Address, &'static str> {
        if text.contains('.') || text.contains(':') {
            if let Ok(v4) = text.parse::<Ipv4Addr>() {
                return Ok(Address::Ipv4(v4));
            }
            return text
                .parse::<Ipv6Addr>()
                .map(Address::Ipv6)
                .map_err(|_| "neither a valid IPv4 nor a valid IPv6 address");
        }
        Ok(Address::E164(text.to_owned()))
    }

    /// The IP address, for families 1 and 2.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::Ipv4(a) => Some(IpAddr::V4(*a)),
            Address::Ipv6(a) => Some(IpAddr::V6(*a)),
            _ => None,
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Address::Ipv4(_) => 4,
            Address::Ipv6(_) => 16,
            Address::E164(s) => s.len(),
            Address::Other { data, .. } => data.len(),
        }
    }

    fn write_data(&self, out: &mut Vec<u8>) {
        match self {
            Address::Ipv4(a) => out.extend_from_slice(&a.octets()),
            Address::Ipv6(a) => out.extend_from_slice(&a.octets()),
            Address::E164(s) => out.extend_from_slice(s.as_bytes()),
            Address::Other { data, .. } => out.extend_from_slice(data),
        }
    }

    fn decode(payload: &[u8]) -> Result<Address, ValueError> {
        let (family, data) = match payload {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
            _ => return Err(ValueError::Length),
        };
        Ok(match family {
            Self::FAMILY_IPV4 => {
                let octets: [u8; 4] = data
                    .try_into()
                    .map_err(|_| ValueError::Value("an IPv4 address must have 4 bytes"))?;
                Address::Ipv4(Ipv4Addr::from(octets))
            }
            Self::FAMILY_IPV6 => {
                let octets: [u8; 16] = data
                    .try_into()
                    .map_err(|_| ValueError::Value("an IPv6 address must have 16 bytes"))?;
                Address::Ipv6(Ipv6Addr::from(octets))
            }
            Self::FAMILY_E164 => match std::str::from_utf8(data) {
                Ok(s) => Address::E164(s.to_owned()),
                Err(_) => Address::Other {
                    family,
                    data: data.to_vec(),
                },
            },
            _ => Address::Other {
                family,
                data: data.to_vec(),
            },
        })
    }

    /// Python's tuple form: `(1, '10.0.0.1')`; unknown families show hex.
    fn fmt_python(&self, f: &mut impl fmt::Write) -> fmt::Result {
        write!(f, "({}, ", self.family())?;
        match self {
            Address::Ipv4(a) => pyfmt::str_repr(f, &a.to_string())?,
            Address::Ipv6(a) => pyfmt::str_repr(f, &pyfmt::ipv6_str(a))?,
            Address::E164(s) => pyfmt::str_repr(f, s)?,
            Address::Other { data, .. } => {
                f.write_char('\'')?;
                for b in data {
                    write!(f, "{b:02x}")?;
                }
                f.write_char('\'')?;
            }
        }
        f.write_char(')')
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ipv4(a) => a.fmt(f),
            Address::Ipv6(a) => a.fmt(f),
            Address::E164(s) => f.write_str(s),
            Address::Other { family, data } => {
                write!(f, "family {family}: ")?;
                data.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl From<Ipv4Addr> for Address {
    fn from(a: Ipv4Addr) -> Self {
        Address::Ipv4(a)
    }
}

impl From<Ipv6Addr> for Address {
    fn from(a: Ipv6Addr) -> Self {
        Address::Ipv6(a)
    }
}

impl From<IpAddr> for Address {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => Address::Ipv4(a),
            IpAddr::V6(a) => Address::Ipv6(a),
        }
    }
}

/// Seconds between the NTP epoch (1900-01-01) and the Unix epoch.
pub const NTP_UNIX_OFFSET: i64 = 2_208_988_800;
/// Unix time of the NTP era rollover, 2036-02-07 06:28:16 UTC.
pub const NTP_ERA_ROLLOVER: i64 = (1 << 32) - NTP_UNIX_OFFSET;

/// Converts the 32-bit NTP seconds of a Time AVP to Unix seconds, reading
/// values with the top bit clear as dates after 2036 (RFC 2030 §3): the range
/// is 1968-01-20 03:14:08 to 2104-02-26 09:42:23 UTC.
pub fn ntp_to_unix(ntp: u32) -> i64 {
    if ntp & 0x8000_0000 == 0 {
        i64::from(ntp) + NTP_ERA_ROLLOVER
    } else {
        i64::from(ntp) - NTP_UNIX_OFFSET
    }
}

/// The inverse of [`ntp_to_unix`]; `None` outside the representable range.
pub fn unix_to_ntp(unix: i64) -> Option<u32> {
    let ntp = if unix < NTP_ERA_ROLLOVER {
        unix.checked_add(NTP_UNIX_OFFSET)?
    } else {
        unix - NTP_ERA_ROLLOVER
    };
    let ntp = u32::try_from(ntp).ok()?;
    (ntp_to_unix(ntp) == unix).then_some(ntp)
}

/// Whole Unix seconds of a time, rounded down.
pub fn system_time_to_unix(t: SystemTime) -> Option<i64> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).ok()?;
            Some(if d.subsec_nanos() > 0 {
                -secs - 1
            } else {
                -secs
            })
        }
    }
}

/// The time of Unix seconds.
pub fn unix_to_system_time(unix: i64) -> SystemTime {
    if unix >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
    }
}

/// A decoded AVP value: one variant per RFC 6733 data type, plus `Raw` for
/// AVPs the dictionary does not know (kept byte for byte).
///
/// Floats compare by their bits, so that a value equals itself after a round
/// trip even when it is a NaN.
#[derive(Debug, Clone)]
pub enum AvpValue {
    /// OctetString.
    OctetString(Vec<u8>),
    /// Integer32.
    Integer32(i32),
    /// Integer64.
    Integer64(i64),
    /// Unsigned32.
    Unsigned32(u32),
    /// Unsigned64.
    Unsigned64(u64),
    /// Float32.
    Float32(f32),
    /// Float64.
    Float64(f64),
    /// Grouped: the member AVPs.
    Grouped(Vec<Avp>),
    /// Address.
    Address(Address),
    /// Time, whole seconds, UTC.
    Time(SystemTime),
    /// UTF8String.
    Utf8String(String),
    /// DiameterIdentity.
    DiameterIdentity(String),
    /// DiameterURI.
    DiameterUri(String),
    /// Enumerated.
    Enumerated(i32),
    /// IPFilterRule.
    IpFilterRule(String),
    /// QoSFilterRule.
    QosFilterRule(String),
    /// The payload of an AVP the dictionary does not know, as received.
    Raw(Vec<u8>),
}

impl PartialEq for AvpValue {
    fn eq(&self, other: &Self) -> bool {
        use AvpValue::*;
        match (self, other) {
            (OctetString(a), OctetString(b)) | (Raw(a), Raw(b)) => a == b,
            (Integer32(a), Integer32(b)) | (Enumerated(a), Enumerated(b)) => a == b,
            (Integer64(a), Integer64(b)) => a == b,
            (Unsigned32(a), Unsigned32(b)) => a == b,
            (Unsigned64(a), Unsigned64(b)) => a == b,
            (Float32(a), Float32(b)) => a.to_bits() == b.to_bits(),
            (Float64(a), Float64(b)) => a.to_bits() == b.to_bits(),
            (Grouped(a), Grouped(b)) => a == b,
            (Address(a), Address(b)) => a == b,
            (Time(a), Time(b)) => a == b,
            (Utf8String(a), Utf8String(b))
            | (DiameterIdentity(a), DiameterIdentity(b))
            | (DiameterUri(a), DiameterUri(b))
            | (IpFilterRule(a), IpFilterRule(b))
            | (QosFilterRule(a), QosFilterRule(b)) => a == b,
            _ => false,
        }
    }
}

/// Why a payload is not a value of its type.
pub(crate) enum ValueError {
    /// Wrong size for a fixed-size type: DIAMETER_INVALID_AVP_LENGTH.
    Length,
    /// Bytes that are not a value of the type: DIAMETER_INVALID_AVP_VALUE.
    Value(&'static str),
}

fn fixed<const N: usize>(payload: &[u8]) -> Result<[u8; N], ValueError> {
    payload.try_into().map_err(|_| ValueError::Length)
}

fn utf8(payload: &[u8]) -> Result<String, ValueError> {
    std::str::from_utf8(payload)
        .map(str::to_owned)
        .map_err(|_| ValueError::Value("not valid UTF-8"))
}

impl AvpValue {
    /// The type of this value; `None` for [`AvpValue::Raw`].
    pub fn avp_type(&self) -> Option<AvpType> {
        Some(match self {
            AvpValue::OctetString(_) => AvpType::OctetString,
            AvpValue::Integer32(_) => AvpType::Integer32,
            AvpValue::Integer64(_) => AvpType::Integer64,
            AvpValue::Unsigned32(_) => AvpType::Unsigned32,
            AvpValue::Unsigned64(_) => AvpType::Unsigned64,
            AvpValue::Float32(_) => AvpType::Float32,
            AvpValue::Float64(_) => AvpType::Float64,
            AvpValue::Grouped(_) => AvpType::Grouped,
            AvpValue::Address(_) => AvpType::Address,
            AvpValue::Time(_) => AvpType::Time,
            AvpValue::Utf8String(_) => AvpType::Utf8String,
            AvpValue::DiameterIdentity(_) => AvpType::DiameterIdentity,
            AvpValue::DiameterUri(_) => AvpType::DiameterUri,
            AvpValue::Enumerated(_) => AvpType::Enumerated,
            AvpValue::IpFilterRule(_) => AvpType::IpFilterRule,
            AvpValue::QosFilterRule(_) => AvpType::QosFilterRule,
            AvpValue::Raw(_) => return None,
        })
    }

    /// The zero value of a type: 0, empty text or bytes, the unspecified
    /// IPv4 address, NTP time 0, an empty group. (Failed-AVP placeholders use zero-filled
    /// bytes of the minimum length instead, see [`AvpValue::min_payload_len`].)
    pub fn zero(avp_type: AvpType) -> AvpValue {
        match avp_type {
            AvpType::OctetString => AvpValue::OctetString(Vec::new()),
            AvpType::Integer32 => AvpValue::Integer32(0),
            AvpType::Integer64 => AvpValue::Integer64(0),
            AvpType::Unsigned32 => AvpValue::Unsigned32(0),
            AvpType::Unsigned64 => AvpValue::Unsigned64(0),
            AvpType::Float32 => AvpValue::Float32(0.0),
            AvpType::Float64 => AvpValue::Float64(0.0),
            AvpType::Grouped => AvpValue::Grouped(Vec::new()),
            AvpType::Address => AvpValue::Address(Address::Ipv4(Ipv4Addr::UNSPECIFIED)),
            AvpType::Time => AvpValue::Time(unix_to_system_time(NTP_ERA_ROLLOVER)),
            AvpType::Utf8String => AvpValue::Utf8String(String::new()),
            AvpType::DiameterIdentity => AvpValue::DiameterIdentity(String::new()),
            AvpType::DiameterUri => AvpValue::DiameterUri(String::new()),
            AvpType::Enumerated => AvpValue::Enumerated(0),
            AvpType::IpFilterRule => AvpValue::IpFilterRule(String::new()),
            AvpType::QosFilterRule => AvpValue::QosFilterRule(String::new()),
        }
    }

    /// The smallest valid payload length of a type (RFC 6733 §7.5 fills a
    /// Failed-AVP of invalid length with that many zero bytes).
    pub fn min_payload_len(avp_type: AvpType) -> usize {
        match avp_type {
            AvpType::Integer32
            | AvpType::Unsigned32
            | AvpType::Float32
            | AvpType::Enumerated
            | AvpType::Time => 4,
            AvpType::Integer64 | AvpType::Unsigned64 | AvpType::Float64 => 8,
            AvpType::Address => 2,
            _ => 0,
        }
    }

    /// Decodes a payload of a non-grouped type.
    #[inline(always)]
    pub(crate) fn decode_scalar(avp_type: AvpType, payload: &[u8]) -> Result<Self, ValueError> {
        Ok(match avp_type {
            AvpType::OctetString => AvpValue::OctetString(payload.to_vec()),
            AvpType::Integer32 => AvpValue::Integer32(i32::from_be_bytes(fixed(payload)?)),
            AvpType::Enumerated => AvpValue::Enumerated(i32::from_be_bytes(fixed(payload)?)),
            AvpType::Integer64 => AvpValue::Integer64(i64::from_be_bytes(fixed(payload)?)),
            AvpType::Unsigned32 => AvpValue::Unsigned32(u32::from_be_bytes(fixed(payload)?)),
            AvpType::Unsigned64 => AvpValue::Unsigned64(u64::from_be_bytes(fixed(payload)?)),
            AvpType::Float32 => AvpValue::Float32(f32::from_be_bytes(fixed(payload)?)),
            AvpType::Float64 => AvpValue::Float64(f64::from_be_bytes(fixed(payload)?)),
            AvpType::Address => AvpValue::Address(Address::decode(payload)?),
            AvpType::Time => {
                let ntp = u32::from_be_bytes(fixed(payload)?);
                AvpValue::Time(unix_to_system_time(ntp_to_unix(ntp)))
            }
            AvpType::Utf8String => AvpValue::Utf8String(utf8(payload)?),
            AvpType::DiameterIdentity => AvpValue::DiameterIdentity(utf8(payload)?),
            AvpType::DiameterUri => AvpValue::DiameterUri(utf8(payload)?),
            AvpType::IpFilterRule => AvpValue::IpFilterRule(utf8(payload)?),
            AvpType::QosFilterRule => AvpValue::QosFilterRule(utf8(payload)?),
            AvpType::Grouped => return Err(ValueError::Value("grouped decoded elsewhere")),
        })
    }

    /// Length of the encoded payload, padding excluded.
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            AvpValue::OctetString(b) | AvpValue::Raw(b) => b.len(),
            AvpValue::Integer32(_)
            | AvpValue::Unsigned32(_)
            | AvpValue::Float32(_)
            | AvpValue::Enumerated(_)
            | AvpValue::Time(_) => 4,
            AvpValue::Integer64(_) | AvpValue::Unsigned64(_) | AvpValue::Float64(_) => 8,
            AvpValue::Grouped(avps) => avps.iter().map(Avp::padded_len).sum(),
            AvpValue::Address(a) => 2 + a.data_len(),
            AvpValue::Utf8String(s)
            | AvpValue::DiameterIdentity(s)
            | AvpValue::DiameterUri(s)
            | AvpValue::IpFilterRule(s)
            | AvpValue::QosFilterRule(s) => s.len(),
        }
    }

    /// Appends the encoded payload (without padding). Grouped members are
    /// written by [`Avp`]'s encoder.
    #[inline(always)]
    pub(crate) fn write_scalar(&self, out: &mut Vec<u8>) {
        match self {
            AvpValue::OctetString(b) | AvpValue::Raw(b) => out.extend_from_slice(b),
            AvpValue::Integer32(v) | AvpValue::Enumerated(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            AvpValue::Integer64(v) => out.extend_from_slice(&v.to_be_bytes()),
            AvpValue::Unsigned32(v) => out.extend_from_slice(&v.to_be_bytes()),
            AvpValue::Unsigned64(v) => out.extend_from_slice(&v.to_be_bytes()),
            AvpValue::Float32(v) => out.extend_from_slice(&v.to_be_bytes()),
            AvpValue::Float64(v) => out.extend_from_slice(&v.to_be_bytes()),
            AvpValue::Address(a) => {
                out.extend_from_slice(&a.family().to_be_bytes());
                a.write_data(out);
            }
            AvpValue::Time(t) => {
                // Times are validated when set; an out-of-range one written
                // through the public variant encodes as the rollover instant.
                let ntp = system_time_to_unix(*t).and_then(unix_to_ntp).unwrap_or(0);
                out.extend_from_slice(&ntp.to_be_bytes());
            }
            AvpValue::Utf8String(s)
            | AvpValue::DiameterIdentity(s)
            | AvpValue::DiameterUri(s)
            | AvpValue::IpFilterRule(s)
            | AvpValue::QosFilterRule(s) => out.extend_from_slice(s.as_bytes()),
            AvpValue::Grouped(_) => {}
        }
    }

    /// Converts a value to `target`, the way python's typed setters accept
    /// values: integers that fit, text or bytes for the string types, text for
    /// an Address.
    pub fn coerce(self, target: AvpType) -> Result<AvpValue, (AvpValue, &'static str)> {
        use AvpValue as V;
        if let (V::Time(t), AvpType::Time) = (&self, target) {
            // whole seconds only, within the NTP range (python drops microseconds)
            return match system_time_to_unix(*t).filter(|u| unix_to_ntp(*u).is_some()) {
                Some(unix) => Ok(V::Time(unix_to_system_time(unix))),
                None => Err((self, "outside the range of NTP time, 1968-2104")),
            };
        }
        if self.avp_type() == Some(target) {
            return Ok(self);
        }
        let int = self.as_i128();
        let out = match target {
            AvpType::Integer32 => int.and_then(|i| i32::try_from(i).ok()).map(V::Integer32),
            AvpType::Enumerated => int.and_then(|i| i32::try_from(i).ok()).map(V::Enumerated),
            AvpType::Integer64 => int.and_then(|i| i64::try_from(i).ok()).map(V::Integer64),
            AvpType::Unsigned32 => int.and_then(|i| u32::try_from(i).ok()).map(V::Unsigned32),
            AvpType::Unsigned64 => int.and_then(|i| u64::try_from(i).ok()).map(V::Unsigned64),
            AvpType::Float32 => match &self {
                V::Float64(x) if x.is_finite() && x.abs() > f64::from(f32::MAX) => None,
                V::Float64(x) => Some(V::Float32(*x as f32)),
                _ => int.map(|i| V::Float32(i as f32)),
            },
            AvpType::Float64 => match &self {
                V::Float32(x) => Some(V::Float64(f64::from(*x))),
                _ => int.map(|i| V::Float64(i as f64)),
            },
            // bytes and text move into the new value, uncopied
            AvpType::OctetString => {
                return match self {
                    V::Raw(b) => Ok(V::OctetString(b)),
                    V::Utf8String(s)
                    | V::DiameterIdentity(s)
                    | V::DiameterUri(s)
                    | V::IpFilterRule(s)
                    | V::QosFilterRule(s) => Ok(V::OctetString(s.into_bytes())),
                    other => Err((other, "wrong type")),
                }
            }
            AvpType::Address => match &self {
                V::Utf8String(s) => Some(V::Address(
                    Address::parse(s).map_err(|reason| (self.clone(), reason))?,
                )),
                _ => None,
            },
            AvpType::Utf8String
            | AvpType::DiameterIdentity
            | AvpType::DiameterUri
            | AvpType::IpFilterRule
            | AvpType::QosFilterRule => {
                const NOT_UTF8: &str = "not valid UTF-8";
                let s = match self {
                    V::OctetString(b) => String::from_utf8(b)
                        .map_err(|e| (V::OctetString(e.into_bytes()), NOT_UTF8))?,
                    V::Raw(b) => {
                        String::from_utf8(b).map_err(|e| (V::Raw(e.into_bytes()), NOT_UTF8))?
                    }
                    V::Utf8String(s)
                    | V::DiameterIdentity(s)
                    | V::DiameterUri(s)
                    | V::IpFilterRule(s)
                    | V::QosFilterRule(s) => s,
                    other => return Err((other, "wrong type")),
                };
                return Ok(match target {
                    AvpType::DiameterIdentity => V::DiameterIdentity(s),
                    AvpType::DiameterUri => V::DiameterUri(s),
                    AvpType::IpFilterRule => V::IpFilterRule(s),
                    AvpType::QosFilterRule => V::QosFilterRule(s),
                    _ => V::Utf8String(s),
                });
            }
            AvpType::Time | AvpType::Grouped => None,
        };
        match out {
            Some(v) => Ok(v),
            None if int.is_some() && target.is_integer() => Err((self, "out of range")),
            None if matches!(target, AvpType::Float32) && matches!(self, V::Float64(_)) => {
                Err((self, "out of range"))
            }
            None => Err((self, "wrong type")),
        }
    }

    fn as_i128(&self) -> Option<i128> {
        match self {
            AvpValue::Integer32(v) | AvpValue::Enumerated(v) => Some(i128::from(*v)),
            AvpValue::Integer64(v) => Some(i128::from(*v)),
            AvpValue::Unsigned32(v) => Some(i128::from(*v)),
            AvpValue::Unsigned64(v) => Some(i128::from(*v)),
            _ => None,
        }
    }

    /// The text of a UTF8String, DiameterIdentity, DiameterURI or filter rule.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AvpValue::Utf8String(s)
            | AvpValue::DiameterIdentity(s)
            | AvpValue::DiameterUri(s)
            | AvpValue::IpFilterRule(s)
            | AvpValue::QosFilterRule(s) => Some(s),
            _ => None,
        }
    }

    /// Python's text of the value as `str(avp)` shows it after `Val: `;
    /// `None` for grouped values, which python does not show.
    pub(crate) fn fmt_python(&self, f: &mut impl fmt::Write) -> Option<fmt::Result> {
        Some(match self {
            AvpValue::OctetString(b) | AvpValue::Raw(b) => pyfmt::bytes_repr(f, b),
            // python carries DiameterIdentity and the filter rules as bytes
            AvpValue::DiameterIdentity(s)
            | AvpValue::IpFilterRule(s)
            | AvpValue::QosFilterRule(s) => pyfmt::bytes_repr(f, s.as_bytes()),
            AvpValue::Utf8String(s) | AvpValue::DiameterUri(s) => f.write_str(s),
            AvpValue::Integer32(v) | AvpValue::Enumerated(v) => write!(f, "{v}"),
            AvpValue::Integer64(v) => write!(f, "{v}"),
            AvpValue::Unsigned32(v) => write!(f, "{v}"),
            AvpValue::Unsigned64(v) => write!(f, "{v}"),
            AvpValue::Float32(v) => pyfmt::float_repr(f, f64::from(*v)),
            AvpValue::Float64(v) => pyfmt::float_repr(f, *v),
            AvpValue::Address(a) => a.fmt_python(f),
            AvpValue::Time(t) => pyfmt::datetime_str(f, system_time_to_unix(*t).unwrap_or(0)),
            AvpValue::Grouped(_) => return None,
        })
    }
}

impl AvpType {
    fn is_integer(self) -> bool {
        matches!(
            self,
            AvpType::Integer32
                | AvpType::Integer64
                | AvpType::Unsigned32
                | AvpType::Unsigned64
                | AvpType::Enumerated
        )
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for AvpValue {
            fn from(v: $t) -> Self {
                AvpValue::$variant(v.into())
            }
        }
    )*};
}

value_from! {
    i32 => Integer32, i64 => Integer64, u32 => Unsigned32, u64 => Unsigned64,
    f32 => Float32, f64 => Float64, String => Utf8String, &str => Utf8String,
    Vec<u8> => OctetString, &[u8] => OctetString, Vec<Avp> => Grouped,
    Address => Address, Ipv4Addr => Address, Ipv6Addr => Address, IpAddr => Address,
    SystemTime => Time,
}

impl<const N: usize> From<&[u8; N]> for AvpValue {
    fn from(v: &[u8; N]) -> Self {
        AvpValue::OctetString(v.to_vec())
    }
}

impl From<Avp> for AvpValue {
    /// A single AVP becomes a one-member group, like python's `Avp.new`.
    fn from(avp: Avp) -> Self {
        AvpValue::Grouped(vec![avp])
    }
}
