//! AVPs: header, flags, vendor id, padding, and the value (RFC 6733 §4).

use std::fmt;
use std::net::IpAddr;
use std::time::SystemTime;

use super::dictionary::{self, AvpDefinition, AvpType};
use super::types::{Address, AvpValue, ValueError};
use crate::error::{AvpDecodeError, AvpEncodeError};

/// Largest value of the 24-bit length fields.
pub(crate) const MAX_LENGTH: usize = 0x00ff_ffff;

/// Limits applied while decoding bytes from the network. Exceeding one is an
/// error, never an unbounded allocation or a stack overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest message accepted, in bytes (default 1 MiB).
    pub max_message_size: usize,
    /// Deepest nesting of grouped AVPs (default 32 levels; values above
    /// [`MAX_DEPTH_CAP`](Self::MAX_DEPTH_CAP) are capped, so that decoding
    /// never runs out of stack).
    pub max_depth: usize,
    /// Most AVPs in one message, members of grouped AVPs included
    /// (default 65,536).
    pub max_avps: usize,
}

impl DecodeLimits {
    /// The deepest nesting decoded whatever `max_depth` says: decoding
    /// recurses once per level, and 256 levels stay well inside a 2 MiB
    /// thread stack.
    pub const MAX_DEPTH_CAP: usize = 256;

    /// The defaults: 1 MiB, 32 levels, 65,536 AVPs.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_message_size: crate::message::framer::DEFAULT_MAX_MESSAGE_SIZE as usize,
        max_depth: 32,
        max_avps: 65_536,
    };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One AVP: code, flags, vendor id and value (python's `Avp` and its typed
/// subclasses in one type; the value's variant is the type).
///
/// ```
/// use diameter::message::Avp;
/// use diameter::message::constants::*;
///
/// // python: Avp.new(AVP_ORIGIN_HOST, value=b"dra4.gy.mvno.net")
/// let a = Avp::new(AVP_ORIGIN_HOST, 0, "dra4.gy.mvno.net").unwrap();
/// assert_eq!(a.code(), 264);
/// assert!(a.is_mandatory());
/// assert_eq!(a.as_str(), Some("dra4.gy.mvno.net"));
///
/// let bytes = hex("000001cd40000016333232353140336770702e6f72670000");
/// let b = Avp::from_bytes(&bytes).unwrap();
/// assert_eq!(b.length(), 22);
/// assert_eq!(b.as_str(), Some("32251@3gpp.org"));
/// assert_eq!(b.to_string(),
///     "Service-Context-Id <Code: 0x1cd, Flags: 0x40 (-M-), Length: 22, Val: 32251@3gpp.org>");
/// assert_eq!(b.as_bytes().unwrap(), bytes);
/// # fn hex(s: &str) -> Vec<u8> {
/// #     (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Avp {
    code: u32,
    flags: u8,
    vendor_id: u32,
    value: AvpValue,
}

impl Avp {
    /// The V bit: a Vendor-ID field follows the header.
    pub const FLAG_VENDOR: u8 = 0x80;
    /// The M bit: the receiver must understand the AVP.
    pub const FLAG_MANDATORY: u8 = 0x40;
    /// The P bit (deprecated by RFC 6733, kept for compatibility).
    pub const FLAG_PRIVATE: u8 = 0x20;
    const FLAGS_RESERVED: u8 = 0x1f;

    /// Builds an AVP the dictionary knows (python's `Avp.new`): the value is
    /// converted to the dictionary's type for `(code, vendor_id)` and the M
    /// flag comes from the dictionary. See [`with_mandatory`](Self::with_mandatory)
    /// and [`with_private`](Self::with_private) for python's `is_mandatory`
    /// and `is_private` arguments.
    pub fn new(
        code: u32,
        vendor_id: u32,
        value: impl Into<AvpValue>,
    ) -> Result<Avp, AvpEncodeError> {
        let def = dictionary::lookup(code, vendor_id)
            .ok_or(AvpEncodeError::UnknownAvp { code, vendor_id })?;
        let value = coerce(code, def.name, def.avp_type, value.into())?;
        let mut avp = Avp::with_value(code, vendor_id, value);
        avp.set_mandatory(def.mandatory == Some(true));
        Ok(avp)
    }

    /// Builds an AVP from a value as it is, without the dictionary; only the
    /// V flag is set (from `vendor_id`). Use it for AVPs the dictionary does
    /// not know, e.g. with [`AvpValue::Raw`].
    pub fn with_value(code: u32, vendor_id: u32, value: AvpValue) -> Avp {
        Avp {
            code,
            flags: if vendor_id != 0 { Self::FLAG_VENDOR } else { 0 },
            vendor_id,
            value,
        }
    }

    /// Builds an AVP of a given type without the dictionary, converting the
    /// value to that type (python's `AvpUnsigned32(code, vendor)` followed by
    /// setting `value`). Only the V flag is set.
    pub fn typed(
        code: u32,
        vendor_id: u32,
        avp_type: AvpType,
        value: impl Into<AvpValue>,
    ) -> Result<Avp, AvpEncodeError> {
        let name = dictionary::lookup(code, vendor_id).map_or("Unknown", |d| d.name);
        Ok(Avp::with_value(
            code,
            vendor_id,
            coerce(code, name, avp_type, value.into())?,
        ))
    }

    /// Decodes a payload as a given type (python's `AvpInteger32(code,
    /// payload=...)` followed by reading `value`); grouped payloads are
    /// decoded with the default limits.
    pub fn from_payload(
        code: u32,
        vendor_id: u32,
        avp_type: AvpType,
        payload: &[u8],
    ) -> Result<Avp, AvpDecodeError> {
        let mut avp = Avp::with_value(code, vendor_id, AvpValue::Raw(Vec::new()));
        let length = avp.header_len() + payload.len();
        if length > MAX_LENGTH {
            return Err(AvpDecodeError::InvalidLength {
                code,
                vendor_id,
                length: length as u32,
                failed_avp: failed(code, avp.flags, vendor_id, Vec::new()),
            });
        }
        let mut st = DecodeState::default();
        avp.value = decode_value(
            Some(avp_type),
            (code, avp.flags, vendor_id, length as u32),
            payload,
            &DecodeLimits::DEFAULT,
            0,
            &mut st,
        )?;
        Ok(avp)
    }

    /// Sets or clears the M flag, builder style (python's `is_mandatory=`).
    #[must_use]
    pub fn with_mandatory(mut self, mandatory: bool) -> Avp {
        self.set_mandatory(mandatory);
        self
    }

    /// Sets or clears the P flag, builder style (python's `is_private=`).
    #[must_use]
    pub fn with_private(mut self, private: bool) -> Avp {
        self.set_private(private);
        self
    }

    /// AVP code.
    pub fn code(&self) -> u32 {
        self.code
    }

    /// Changes the AVP code; the value is kept as it is.
    pub fn set_code(&mut self, code: u32) {
        self.code = code;
    }

    /// The flags byte (V, M, P).
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Sets the flags byte; the V bit keeps following the vendor id (and
    /// stays set on a received AVP that had it with Vendor-ID 0), and the
    /// reserved bits are cleared.
    pub fn set_flags(&mut self, flags: u8) {
        let vendor = self.flags & Self::FLAG_VENDOR;
        self.flags = (flags & (Self::FLAG_MANDATORY | Self::FLAG_PRIVATE)) | vendor;
    }

    /// Vendor id, 0 when the V flag is clear.
    pub fn vendor_id(&self) -> u32 {
        self.vendor_id
    }

    /// Sets the vendor id, and the V flag with it (clear for 0).
    pub fn set_vendor_id(&mut self, vendor_id: u32) {
        self.vendor_id = vendor_id;
        if vendor_id != 0 {
            self.flags |= Self::FLAG_VENDOR;
        } else {
            self.flags &= !Self::FLAG_VENDOR;
        }
    }

    /// Whether the AVP has a vendor id.
    pub fn is_vendor(&self) -> bool {
        self.vendor_id != 0
    }

    flag_accessors! {
        flags;
        /// Whether the M flag is set.
        is_mandatory, set_mandatory, FLAG_MANDATORY;
        /// Whether the P flag is set.
        is_private, set_private, FLAG_PRIVATE;
    }

    /// The dictionary entry of this AVP, if the dictionary knows it.
    pub fn definition(&self) -> Option<AvpDefinition> {
        dictionary::lookup(self.code, self.vendor_id)
    }

    /// The AVP's name from the dictionary, `"Unknown"` when it has none.
    pub fn name(&self) -> &'static str {
        self.definition().map_or("Unknown", |d| d.name)
    }

    /// The value.
    pub fn value(&self) -> &AvpValue {
        &self.value
    }

    /// The value, mutably. Changes show in the encoding at once (unlike
    /// python, where editing a grouped value in place is lost).
    pub fn value_mut(&mut self) -> &mut AvpValue {
        &mut self.value
    }

    /// Takes the value out.
    pub fn into_value(self) -> AvpValue {
        self.value
    }

    /// Sets a new value, converted to this AVP's type (the type of its
    /// current value, or the dictionary's for an unknown-typed AVP).
    pub fn set_value(&mut self, value: impl Into<AvpValue>) -> Result<(), AvpEncodeError> {
        let value = value.into();
        let target = self
            .value
            .avp_type()
            .or_else(|| self.definition().map(|d| d.avp_type));
        self.value = match target {
            Some(t) => coerce(self.code, self.name(), t, value)?,
            None => value,
        };
        Ok(())
    }

    /// 12 with a Vendor-ID field (the V flag), else 8. The flag decides, so
    /// that a received AVP with V set and Vendor-ID 0 encodes as it came.
    fn header_len(&self) -> usize {
        if self.flags & Self::FLAG_VENDOR != 0 {
            12
        } else {
            8
        }
    }

    /// The AVP Length: header and payload, padding excluded.
    pub fn length(&self) -> usize {
        self.header_len() + self.value.payload_len()
    }

    /// The encoded length including padding to 4 bytes.
    pub fn padded_len(&self) -> usize {
        (self.length() + 3) & !3
    }

    /// The encoded payload (python's `payload`), without header or padding.
    pub fn payload(&self) -> Result<Vec<u8>, AvpEncodeError> {
        let mut out = Vec::with_capacity(self.value.payload_len());
        self.write_payload(&mut out)?;
        Ok(out)
    }

    /// Appends the payload: the value, or each member of a grouped AVP.
    fn write_payload(&self, out: &mut Vec<u8>) -> Result<(), AvpEncodeError> {
        match &self.value {
            AvpValue::Grouped(avps) => {
                for avp in avps {
                    avp.encode_into(out)?;
                }
            }
            v => v.write_scalar(out),
        }
        Ok(())
    }

    /// The AVP on the wire, header, payload and padding.
    pub fn as_bytes(&self) -> Result<Vec<u8>, AvpEncodeError> {
        let mut out = Vec::with_capacity(self.padded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the AVP on the wire to `out`.
    /// The length is measured from what was written (a grouped AVP's
    /// members are not measured once per level); on an error `out` is left
    /// as it was.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), AvpEncodeError> {
        let start = out.len();
        if self.write(out) {
            Ok(())
        } else {
            out.truncate(start);
            Err(self.too_long())
        }
    }

    /// Appends the AVP; false when it (or a member) is longer than the
    /// 24-bit AVP Length allows, the only way encoding fails, and then `out`
    /// holds part of it.
    pub(crate) fn write(&self, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let c = self.code.to_be_bytes();
        // flags and length are filled in once the payload is written
        if self.flags & Self::FLAG_VENDOR != 0 {
            let v = self.vendor_id.to_be_bytes();
            out.extend_from_slice(&[c[0], c[1], c[2], c[3], 0, 0, 0, 0, v[0], v[1], v[2], v[3]]);
        } else {
            out.extend_from_slice(&[c[0], c[1], c[2], c[3], 0, 0, 0, 0]);
        }
        match &self.value {
            AvpValue::Grouped(avps) => {
                for avp in avps {
                    if !avp.write(out) {
                        return false;
                    }
                }
            }
            v => v.write_scalar(out),
        }
        let length = out.len() - start;
        if length > MAX_LENGTH {
            return false;
        }
        // reserved bits are only ever kept from a Failed-AVP member, as
        // received; `length` fits 24 bits (checked above)
        let word = (u32::from(self.flags) << 24 | length as u32).to_be_bytes();
        if let Some(slot) = out.get_mut(start + 4..start + 8) {
            slot.copy_from_slice(&word);
        }
        // padding, in fixed-size writes (a slice of variable length is a
        // call to memcpy)
        match length % 4 {
            1 => out.extend_from_slice(&[0; 3]),
            2 => out.extend_from_slice(&[0; 2]),
            3 => out.push(0),
            _ => {}
        }
        true
    }

    /// The error of an AVP that [`write`](Self::write) refused: a member
    /// is never longer than its group, so the AVP itself is too long.
    #[cold]
    fn too_long(&self) -> AvpEncodeError {
        AvpEncodeError::AvpTooLong {
            code: self.code,
            length: self.length(),
        }
    }

    /// Decodes one AVP from the start of `data`; bytes after it are ignored
    /// (python's `Avp.from_bytes`).
    pub fn from_bytes(data: &[u8]) -> Result<Avp, AvpDecodeError> {
        let mut st = DecodeState::default();
        decode_one(data, &DecodeLimits::DEFAULT, 0, &mut st).map(|(avp, _)| avp)
    }

    /// A copy (python's `Avp.from_avp`).
    pub fn from_avp(other: &Avp) -> Avp {
        other.clone()
    }

    /// Unsigned32 value.
    pub fn as_u32(&self) -> Option<u32> {
        match self.value {
            AvpValue::Unsigned32(v) => Some(v),
            _ => None,
        }
    }

    /// Unsigned64 value.
    pub fn as_u64(&self) -> Option<u64> {
        match self.value {
            AvpValue::Unsigned64(v) => Some(v),
            _ => None,
        }
    }

    /// Integer32 or Enumerated value.
    pub fn as_i32(&self) -> Option<i32> {
        match self.value {
            AvpValue::Integer32(v) | AvpValue::Enumerated(v) => Some(v),
            _ => None,
        }
    }

    /// Integer64 value.
    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            AvpValue::Integer64(v) => Some(v),
            _ => None,
        }
    }

    /// Float32 value.
    pub fn as_f32(&self) -> Option<f32> {
        match self.value {
            AvpValue::Float32(v) => Some(v),
            _ => None,
        }
    }

    /// Float64 value (a Float32 widened).
    pub fn as_f64(&self) -> Option<f64> {
        match self.value {
            AvpValue::Float64(v) => Some(v),
            AvpValue::Float32(v) => Some(f64::from(v)),
            _ => None,
        }
    }

    /// The bytes of an OctetString or unknown AVP, or of any text value
    /// (python gives `bytes` for OctetString and DiameterIdentity).
    pub fn as_octets(&self) -> Option<&[u8]> {
        match &self.value {
            AvpValue::OctetString(b) | AvpValue::Raw(b) => Some(b),
            v => v.as_str().map(str::as_bytes),
        }
    }

    /// The text of a UTF8String, DiameterIdentity, DiameterURI, IPFilterRule
    /// or QoSFilterRule.
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_str()
    }

    /// Address value.
    pub fn as_address(&self) -> Option<&Address> {
        match &self.value {
            AvpValue::Address(a) => Some(a),
            _ => None,
        }
    }

    /// The IP address of an Address value of family 1 or 2.
    pub fn as_ip(&self) -> Option<IpAddr> {
        self.as_address().and_then(Address::ip)
    }

    /// Time value, UTC, whole seconds.
    pub fn as_time(&self) -> Option<SystemTime> {
        match self.value {
            AvpValue::Time(t) => Some(t),
            _ => None,
        }
    }

    /// The members of a grouped AVP.
    pub fn as_grouped(&self) -> Option<&[Avp]> {
        match &self.value {
            AvpValue::Grouped(avps) => Some(avps),
            _ => None,
        }
    }

    /// The members of a grouped AVP, mutably.
    pub fn grouped_mut(&mut self) -> Option<&mut Vec<Avp>> {
        match &mut self.value {
            AvpValue::Grouped(avps) => Some(avps),
            _ => None,
        }
    }

    /// Appends a member to a grouped AVP; an error for other types.
    pub fn append_avp(&mut self, avp: Avp) -> Result<(), AvpEncodeError> {
        let (code, name) = (self.code, self.name());
        match self.grouped_mut() {
            Some(members) => {
                members.push(avp);
                Ok(())
            }
            None => Err(AvpEncodeError::InvalidValue {
                code,
                name,
                value: format!("{avp:?}"),
                reason: "not a grouped avp",
            }),
        }
    }
}

/// Converts `value` to `target` for the AVP `code` called `name`; a value
/// that does not convert is an [`AvpEncodeError::InvalidValue`].
fn coerce(
    code: u32,
    name: &'static str,
    target: AvpType,
    value: AvpValue,
) -> Result<AvpValue, AvpEncodeError> {
    value
        .coerce(target)
        .map_err(|(v, reason)| AvpEncodeError::InvalidValue {
            code,
            name,
            value: format!("{v:?}"),
            reason,
        })
}

impl fmt::Display for Avp {
    /// Python's `str(avp)`: `Origin-Host <Code: 0x108, Flags: 0x40 (-M-),
    /// Length: 21, Val: b'ocs6.mvno.net'>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |bit: u8, c: &'static str| if self.flags & bit != 0 { c } else { "-" };
        write!(
            f,
            "{} <Code: 0x{:02x}, Flags: 0x{:02x} ({}{}{}), Length: {}",
            self.name(),
            self.code,
            self.flags,
            flag(Self::FLAG_VENDOR, "V"),
            flag(Self::FLAG_MANDATORY, "M"),
            flag(Self::FLAG_PRIVATE, "P"),
            self.length()
        )?;
        if self.vendor_id != 0 {
            f.write_str(", Vnd: ")?;
            f.write_str(dictionary::vendor_name(self.vendor_id).unwrap_or("None"))?;
        }
        if !matches!(self.value, AvpValue::Grouped(_)) {
            f.write_str(", Val: ")?;
            if let Some(r) = self.value.fmt_python(f) {
                r?;
            }
        }
        f.write_str(">")
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    for (i, slot) in w.iter_mut().enumerate() {
        *slot = b.get(at + i).copied().unwrap_or(0);
    }
    u32::from_be_bytes(w)
}

/// A Failed-AVP stand-in: the header as received and `payload` as value.
fn failed(code: u32, flags: u8, vendor_id: u32, payload: Vec<u8>) -> Box<Avp> {
    let mut avp = Avp::with_value(code, vendor_id, AvpValue::Raw(payload));
    avp.flags = (flags & !Avp::FLAGS_RESERVED & !Avp::FLAG_VENDOR) | (avp.flags & Avp::FLAG_VENDOR);
    Box::new(avp)
}

/// What decoding carries from AVP to AVP.
#[derive(Debug, Default)]
pub(crate) struct DecodeState {
    /// AVPs decoded so far, members included.
    pub count: usize,
    /// Inside a Failed-AVP: invalid values are kept raw instead of failing.
    pub lenient: bool,
}

/// Decodes every AVP in `data` (a message body or a grouped payload).
///
/// A well-formed AVP takes a straight path (its header read in place, its
/// value decoded, the AVP pushed); anything that needs reporting (a short
/// header, a bad length, reserved bits, the AVP limit) goes through
/// [`decode_one`], which builds the exact error. Both decode values with
/// [`decode_value`].
pub(crate) fn decode_avps(
    data: &[u8],
    limits: &DecodeLimits,
    depth: usize,
    st: &mut DecodeState,
) -> Result<Vec<Avp>, AvpDecodeError> {
    let mut avps = Vec::with_capacity(count_avps(data));
    let mut rest = data;
    while !rest.is_empty() {
        let Some((code, flags, vendor_id, header_len, length)) = plain_header(rest, limits, st)
        else {
            let (avp, used) = decode_one(rest, limits, depth, st)?;
            avps.push(avp);
            rest = rest.get(used..).unwrap_or_default();
            continue;
        };
        st.count += 1;
        let payload = rest.get(header_len..length).unwrap_or_default();
        let header = (code, flags, vendor_id, length as u32);
        // scalars are decoded in line; groups, and scalars that do not
        // decode (kept raw in a Failed-AVP, or the error), by `decode_value`
        let value = match dictionary::lookup_type(code, vendor_id) {
            None => AvpValue::Raw(payload.to_vec()),
            Some(AvpType::Grouped) => {
                decode_value(Some(AvpType::Grouped), header, payload, limits, depth, st)?
            }
            Some(t) => match AvpValue::decode_scalar(t, payload) {
                Ok(v) => v,
                Err(_) => decode_value(Some(t), header, payload, limits, depth, st)?,
            },
        };
        avps.push(Avp {
            code,
            flags,
            vendor_id,
            value,
        });
        // padding missing at the very end is tolerated, as in `decode_one`
        rest = rest.get((length + 3) & !3..).unwrap_or_default();
    }
    Ok(avps)
}

/// Code, flags, vendor id, header length and AVP Length of the AVP at the
/// start of `data` when nothing about it needs reporting: 12 bytes at least
/// are there, the length covers the header and stays within `data`, no
/// reserved bit is set and the AVP limit is not reached. `None` otherwise.
#[inline(always)]
fn plain_header(
    data: &[u8],
    limits: &DecodeLimits,
    st: &DecodeState,
) -> Option<(u32, u8, u32, usize, usize)> {
    let h = data.first_chunk::<12>()?;
    let code = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let flags = h[4];
    let length = u32::from_be_bytes([0, h[5], h[6], h[7]]) as usize;
    let (vendor_id, header_len) = if flags & Avp::FLAG_VENDOR != 0 {
        (u32::from_be_bytes([h[8], h[9], h[10], h[11]]), 12)
    } else {
        (0, 8)
    };
    let plain = length >= header_len
        && length <= data.len()
        && flags & Avp::FLAGS_RESERVED == 0
        && st.count < limits.max_avps;
    plain.then_some((code, flags, vendor_id, header_len, length))
}

/// How many AVPs `data` seems to hold, by walking the length fields; at most
/// `data.len() / 8`, so sizing a vector by it never allocates more than the
/// input warrants. Malformed lengths end the walk (decoding reports them).
fn count_avps(data: &[u8]) -> usize {
    let mut at = 0usize;
    let mut n = 0;
    while let Some(word) = data.get(at + 4..at + 8) {
        let len = (u32::from_be_bytes([0, word[1], word[2], word[3]]) as usize + 3) & !3;
        if len < 8 {
            break;
        }
        n += 1;
        at += len;
    }
    n
}

/// Decodes the AVP at the start of `data`; returns it and the bytes it took
/// with its padding (padding missing at the very end of `data` is tolerated).
pub(crate) fn decode_one(
    data: &[u8],
    limits: &DecodeLimits,
    depth: usize,
    st: &mut DecodeState,
) -> Result<(Avp, usize), AvpDecodeError> {
    let code = be32(data, 0);
    let flags = data.get(4).copied().unwrap_or(0);
    let header_len = if flags & Avp::FLAG_VENDOR != 0 { 12 } else { 8 };
    if data.len() < header_len {
        let vendor_id = be32(data, 8);
        return Err(AvpDecodeError::TruncatedHeader {
            needed: header_len,
            available: data.len(),
            failed_avp: failed(code, flags, vendor_id, Vec::new()),
        });
    }
    let length = be32(data, 4) & 0x00ff_ffff;
    let vendor_id = if header_len == 12 { be32(data, 8) } else { 0 };
    st.count += 1;
    if st.count > limits.max_avps {
        return Err(AvpDecodeError::TooManyAvps {
            max_avps: limits.max_avps,
        });
    }
    let def = dictionary::lookup(code, vendor_id);
    let len = length as usize;
    let payload = match data.get(header_len..len) {
        Some(p) if len >= header_len => p,
        _ => {
            let min = def.map_or(0, |d| AvpValue::min_payload_len(d.avp_type));
            return Err(AvpDecodeError::InvalidLength {
                code,
                vendor_id,
                length,
                failed_avp: failed(code, flags, vendor_id, vec![0; min]),
            });
        }
    };
    let used = ((len + 3) & !3).min(data.len());
    if flags & Avp::FLAGS_RESERVED != 0 && !st.lenient {
        return Err(AvpDecodeError::InvalidBits {
            code,
            vendor_id,
            flags,
            failed_avp: failed(code, flags, vendor_id, payload.to_vec()),
        });
    }
    let value = decode_value(
        def.map(|d| d.avp_type),
        (code, flags, vendor_id, length),
        payload,
        limits,
        depth,
        st,
    )?;
    Ok((
        Avp {
            code,
            flags,
            vendor_id,
            value,
        },
        used,
    ))
}

/// Decodes a payload of `avp_type` (raw bytes when the type is unknown);
/// `header` is (code, flags, vendor id, AVP Length) for error reports.
fn decode_value(
    avp_type: Option<AvpType>,
    header: (u32, u8, u32, u32),
    payload: &[u8],
    limits: &DecodeLimits,
    depth: usize,
    st: &mut DecodeState,
) -> Result<AvpValue, AvpDecodeError> {
    let (code, flags, vendor_id, length) = header;
    Ok(match avp_type {
        None => AvpValue::Raw(payload.to_vec()),
        Some(AvpType::Grouped) => {
            let max_depth = limits.max_depth.min(DecodeLimits::MAX_DEPTH_CAP);
            if depth >= max_depth {
                return Err(AvpDecodeError::TooDeep {
                    max_depth,
                    failed_avp: failed(code, flags, vendor_id, Vec::new()),
                });
            }
            // RFC 6733 §7.5: Failed-AVP carries AVPs that failed to decode,
            // so its members are kept as raw bytes when their values are invalid
            let was_lenient = st.lenient;
            st.lenient |= code == crate::message::constants::AVP_FAILED_AVP && vendor_id == 0;
            let members = decode_avps(payload, limits, depth + 1, st);
            st.lenient = was_lenient;
            match members {
                Ok(members) => AvpValue::Grouped(members),
                Err(mut e) => {
                    // RFC 6733 §7.5: the Failed-AVP is the enclosing grouped
                    // AVP holding only the offending member.
                    if let Some(inner) = e.failed_avp_mut() {
                        let member = std::mem::replace(
                            inner.as_mut(),
                            Avp::with_value(0, 0, AvpValue::Raw(Vec::new())),
                        );
                        let mut parent = failed(code, flags, vendor_id, Vec::new());
                        parent.value = AvpValue::Grouped(vec![member]);
                        *inner = parent;
                    }
                    return Err(e);
                }
            }
        }
        Some(t) => match AvpValue::decode_scalar(t, payload) {
            Ok(v) => v,
            Err(_) if st.lenient => AvpValue::Raw(payload.to_vec()),
            Err(ValueError::Length) => {
                return Err(AvpDecodeError::InvalidLength {
                    code,
                    vendor_id,
                    length,
                    failed_avp: failed(
                        code,
                        flags,
                        vendor_id,
                        vec![0; AvpValue::min_payload_len(t)],
                    ),
                })
            }
            Err(ValueError::Value(reason)) => {
                return Err(AvpDecodeError::InvalidValue {
                    code,
                    vendor_id,
                    reason,
                    failed_avp: failed(code, flags, vendor_id, payload.to_vec()),
                })
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `decode_avps` as it was before its straight path: every AVP through
    /// `decode_one` (members of groups are decoded by `decode_avps` all the
    /// same: the comparison holds at the top level, where the mutations
    /// below land most).
    fn decode_avps_slowly(
        mut data: &[u8],
        limits: &DecodeLimits,
        st: &mut DecodeState,
    ) -> Result<Vec<Avp>, AvpDecodeError> {
        let mut avps = Vec::new();
        while !data.is_empty() {
            let (avp, used) = decode_one(data, limits, 0, st)?;
            avps.push(avp);
            data = data.get(used..).unwrap_or_default();
        }
        Ok(avps)
    }

    /// The body of a Gy CCR: scalars, strings, vendor AVPs, nested groups,
    /// an unknown AVP and an Address.
    fn body() -> Vec<u8> {
        let gsu = Avp::new(421, 0, 1_000u64).expect("known");
        let mscc = Avp::new(456, 0, vec![Avp::new(431, 0, gsu).expect("known")]).expect("known");
        let avps = [
            Avp::new(263, 0, "host.example.net;1;2").expect("known"),
            Avp::new(264, 0, "host.example.net").expect("known"),
            Avp::new(416, 0, 1).expect("known"),
            Avp::new(415, 0, 7u32).expect("known"),
            Avp::new(1228, 10415, std::net::Ipv4Addr::LOCALHOST).expect("known"),
            Avp::with_value(9_999_999, 0, AvpValue::Raw(vec![1, 2, 3])),
            mscc,
            Avp::new(30, 0, "").expect("known"),
        ];
        let mut out = Vec::new();
        for avp in &avps {
            avp.encode_into(&mut out).expect("encodes");
        }
        out
    }

    #[test]
    fn too_long_avps_are_reported_by_the_outermost_and_leave_out_alone() {
        let big = Avp::with_value(1, 0, AvpValue::Raw(vec![0; MAX_LENGTH - 7]));
        let group = Avp::with_value(2, 10415, AvpValue::Grouped(vec![big.clone()]));
        let fits = Avp::with_value(3, 0, AvpValue::Raw(vec![0; MAX_LENGTH - 8]));
        let mut out = vec![9, 9];
        for (avp, length) in [(&big, MAX_LENGTH + 1), (&group, MAX_LENGTH + 1 + 12)] {
            match avp.encode_into(&mut out) {
                Err(AvpEncodeError::AvpTooLong { code, length: l }) => {
                    assert_eq!((code, l), (avp.code(), length));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(out, [9, 9]);
        }
        fits.encode_into(&mut out).expect("fits");
        assert_eq!(out.len(), 2 + MAX_LENGTH + 1);
        let msg = crate::message::Message::new(Default::default(), vec![fits.clone(), group]);
        match msg.as_bytes() {
            Err(AvpEncodeError::AvpTooLong { code: 2, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn straight_path_decodes_as_decode_one_does() {
        let body = body();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let limits = [
            DecodeLimits::DEFAULT,
            DecodeLimits {
                max_avps: 5,
                max_depth: 1,
                ..DecodeLimits::DEFAULT
            },
        ];
        for round in 0..20_000 {
            let mut data = body.clone();
            // a few bytes changed, and sometimes the end cut off
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % data.len();
                data[at] = next() as u8;
            }
            if round % 4 == 0 {
                data.truncate((next() as usize) % (data.len() + 1));
            }
            // lenient: as inside a Failed-AVP
            for (limits, lenient) in [(&limits[0], false), (&limits[1], false), (&limits[0], true)]
            {
                let mut fast = DecodeState { count: 0, lenient };
                let mut slow = DecodeState { count: 0, lenient };
                let a = decode_avps(&data, limits, 0, &mut fast);
                let b = decode_avps_slowly(&data, limits, &mut slow);
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "input {data:02x?}");
                if a.is_ok() {
                    assert_eq!(fast.count, slow.count);
                }
            }
        }
    }
}
