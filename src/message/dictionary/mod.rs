//! The AVP dictionary: what an AVP code (and vendor) means.
//!
//! Every AVP that the stack knows is described by an [`AvpDefinition`]: its
//! name, its [`AvpType`] and whether the M flag is set when the AVP is built
//! with [`Avp::new`](crate::message::Avp::new). The built-in definitions are
//! generated tables (see `tools/dictionary/`), looked up through a hashed index; AVPs
//! added at run time with [`register`] take precedence over them.
//!
//! ```
//! use diameter::message::constants::*;
//! use diameter::message::dictionary::{self, AvpDefinition, AvpType};
//!
//! let def = dictionary::lookup(AVP_ORIGIN_HOST, 0).unwrap();
//! assert_eq!(def.name, "Origin-Host");
//! assert_eq!(def.avp_type, AvpType::DiameterIdentity);
//!
//! // python: avp.register(9999, "My-Counter", AvpUnsigned32, vendor=99999, mandatory=True)
//! dictionary::register(AvpDefinition::new(9999, 99999, "My-Counter", AvpType::Unsigned32, Some(true)));
//! assert_eq!(dictionary::lookup(9999, 99999).unwrap().name, "My-Counter");
//! ```

pub(crate) mod generated;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use parking_lot::RwLock;

/// The data type of an AVP's value (RFC 6733 §4.2 basic and §4.3 derived types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AvpType {
    /// Arbitrary bytes.
    OctetString,
    /// Signed 32-bit integer.
    Integer32,
    /// Signed 64-bit integer.
    Integer64,
    /// Unsigned 32-bit integer.
    Unsigned32,
    /// Unsigned 64-bit integer.
    Unsigned64,
    /// IEEE 754 single precision float.
    Float32,
    /// IEEE 754 double precision float.
    Float64,
    /// A sequence of AVPs.
    Grouped,
    /// An address with its IANA address family (IPv4, IPv6, E.164, ...).
    Address,
    /// NTP seconds, with the RFC 2030 era rule for dates past 2036.
    Time,
    /// UTF-8 text.
    Utf8String,
    /// A Diameter identity (FQDN or realm), carried as an OctetString.
    DiameterIdentity,
    /// A Diameter URI (`aaa://host:port;transport=tcp`), carried as UTF-8 text.
    DiameterUri,
    /// An Integer32 whose values are named by the application.
    Enumerated,
    /// An IP filter rule (RFC 6733 §4.3), carried as an OctetString.
    IpFilterRule,
    /// A QoS filter rule (RFC 4005), carried as an OctetString.
    QosFilterRule,
}

impl AvpType {
    /// The type's name as RFC 6733 spells it (`"Unsigned32"`, `"DiameterIdentity"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            AvpType::OctetString => "OctetString",
            AvpType::Integer32 => "Integer32",
            AvpType::Integer64 => "Integer64",
            AvpType::Unsigned32 => "Unsigned32",
            AvpType::Unsigned64 => "Unsigned64",
            AvpType::Float32 => "Float32",
            AvpType::Float64 => "Float64",
            AvpType::Grouped => "Grouped",
            AvpType::Address => "Address",
            AvpType::Time => "Time",
            AvpType::Utf8String => "UTF8String",
            AvpType::DiameterIdentity => "DiameterIdentity",
            AvpType::DiameterUri => "DiameterURI",
            AvpType::Enumerated => "Enumerated",
            AvpType::IpFilterRule => "IPFilterRule",
            AvpType::QosFilterRule => "QoSFilterRule",
        }
    }
}

impl fmt::Display for AvpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the dictionary knows of one AVP (python's `AvpInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvpDefinition {
    /// AVP code.
    pub code: u32,
    /// Vendor id, 0 for IETF AVPs.
    pub vendor_id: u32,
    /// Name used in dumps, e.g. `"Session-Id"`.
    pub name: &'static str,
    /// Value type.
    pub avp_type: AvpType,
    /// Whether [`Avp::new`](crate::message::Avp::new) sets the M flag; `None`
    /// leaves it clear, as python does for entries without a `mandatory` key.
    pub mandatory: Option<bool>,
}

impl AvpDefinition {
    /// A definition; `const` so that generated tables are plain data.
    pub const fn new(
        code: u32,
        vendor_id: u32,
        name: &'static str,
        avp_type: AvpType,
        mandatory: Option<bool>,
    ) -> Self {
        AvpDefinition {
            code,
            vendor_id,
            name,
            avp_type,
            mandatory,
        }
    }
}

/// Definitions added at run time; checked before the generated tables, and
/// only once something was registered.
static HAS_REGISTERED: AtomicBool = AtomicBool::new(false);
static REGISTERED: OnceLock<RwLock<HashMap<(u32, u32), AvpDefinition>>> = OnceLock::new();

fn registered() -> &'static RwLock<HashMap<(u32, u32), AvpDefinition>> {
    REGISTERED.get_or_init(|| RwLock::new(HashMap::new()))
}

/// Looks up an AVP by code and vendor id (python's `get_avp_dictionary_entry`).
///
/// Vendor 0 searches the IETF AVPs; any other vendor searches that vendor's
/// AVPs only. Returns `None` for AVPs the dictionary does not know.
pub fn lookup(code: u32, vendor_id: u32) -> Option<AvpDefinition> {
    if HAS_REGISTERED.load(Ordering::Acquire) {
        if let Some(def) = registered().read().get(&(code, vendor_id)) {
            return Some(*def);
        }
    }
    builtin(code, vendor_id).copied()
}

/// The type of an AVP, as `lookup(code, vendor_id).map(|d| d.avp_type)`
/// gives it: what decoding needs, with the AVPs of IETF and 3GPP found by
/// indexing a table rather than hashing.
pub(crate) fn lookup_type(code: u32, vendor_id: u32) -> Option<AvpType> {
    if HAS_REGISTERED.load(Ordering::Acquire) {
        return lookup(code, vendor_id).map(|d| d.avp_type);
    }
    let index = builtin_index();
    let dense = match vendor_id {
        0 => &index.ietf,
        VENDOR_TGPP => &index.tgpp,
        _ => return index.by_key.get(&(code, vendor_id)).map(|d| d.avp_type),
    };
    dense.get(code as usize).copied().flatten()
}

/// The values named for an Enumerated AVP by python-diameter's `E_`
/// constants (`E_CC_REQUEST_TYPE_*` for CC-Request-Type), sorted; `None`
/// when the dictionary names none for it (then no value can be checked).
///
/// ```
/// use diameter::message::constants::*;
/// use diameter::message::dictionary;
///
/// assert_eq!(dictionary::enumerated_values(AVP_CC_REQUEST_TYPE, 0), Some(&[1, 2, 3, 4][..]));
/// ```
pub fn enumerated_values(code: u32, vendor_id: u32) -> Option<&'static [i32]> {
    let table = generated::enums::ENUM_VALUES;
    table
        .binary_search_by(|(c, v, _)| (*v, *c).cmp(&(vendor_id, code)))
        .ok()
        .and_then(|i| table.get(i))
        .map(|(_, _, values)| *values)
}

/// Looks up a built-in (generated) definition, ignoring run-time registrations.
pub fn builtin(code: u32, vendor_id: u32) -> Option<&'static AvpDefinition> {
    builtin_index().by_key.get(&(code, vendor_id)).copied()
}

const VENDOR_TGPP: u32 = 10415;

/// The generated tables, indexed on first use.
struct BuiltinIndex {
    /// Every definition by (code, vendor): one hash probe per lookup
    /// instead of two binary searches.
    by_key: HashMap<(u32, u32), &'static AvpDefinition, KeyHasher>,
    /// The types of the IETF AVPs by code (codes stay below 1,100).
    ietf: Box<[Option<AvpType>]>,
    /// The types of the 3GPP AVPs by code (codes stay below 4,500).
    tgpp: Box<[Option<AvpType>]>,
}

fn builtin_index() -> &'static BuiltinIndex {
    static INDEX: OnceLock<BuiltinIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let by_key: HashMap<_, _, KeyHasher> = builtin_definitions()
            .map(|def| ((def.code, def.vendor_id), def))
            .collect();
        let dense = |vendor: u32| {
            let of_vendor = || by_key.values().filter(move |d| d.vendor_id == vendor);
            let len = of_vendor().map(|d| d.code as usize + 1).max().unwrap_or(0);
            let mut table = vec![None; len].into_boxed_slice();
            for def in of_vendor() {
                if let Some(slot) = table.get_mut(def.code as usize) {
                    *slot = Some(def.avp_type);
                }
            }
            table
        };
        BuiltinIndex {
            ietf: dense(0),
            tgpp: dense(VENDOR_TGPP),
            by_key,
        }
    })
}

/// A multiplicative hash for the (code, vendor) keys, which are not chosen
/// by peers in a way that matters: the table is fixed at build time.
type KeyHasher = BuildHasherDefault<MulHasher>;

#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u32(u32::from(*b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(29) ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Adds or replaces a definition (python's `avp.register`). The change is
/// global: it affects [`Avp::new`](crate::message::Avp::new) and decoding in
/// every thread from then on.
pub fn register(definition: AvpDefinition) {
    registered()
        .write()
        .insert((definition.code, definition.vendor_id), definition);
    HAS_REGISTERED.store(true, Ordering::Release);
}

/// Registers a definition whose name is only known at run time. The name is
/// leaked, once per call, so that definitions stay `'static`: meant for
/// start-up configuration, not for per-message use.
pub fn register_named(
    code: u32,
    vendor_id: u32,
    name: &str,
    avp_type: AvpType,
    mandatory: Option<bool>,
) {
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    register(AvpDefinition::new(
        code, vendor_id, name, avp_type, mandatory,
    ));
}

/// The short name of a vendor as python's `VENDORS` table has it (`"TGPP"`
/// for 10415), used by AVP dumps.
pub fn vendor_name(vendor_id: u32) -> Option<&'static str> {
    name_in(generated::VENDORS, vendor_id)
}

/// The name of `key` in one of python's sorted `(id, name)` tables.
fn name_in(table: &'static [(u32, &'static str)], key: u32) -> Option<&'static str> {
    table
        .binary_search_by_key(&key, |(id, _)| *id)
        .ok()
        .and_then(|i| table.get(i))
        .map(|(_, name)| *name)
}

static HAS_REGISTERED_COMMANDS: AtomicBool = AtomicBool::new(false);
static REGISTERED_COMMANDS: OnceLock<RwLock<HashMap<u32, &'static str>>> = OnceLock::new();

fn registered_commands() -> &'static RwLock<HashMap<u32, &'static str>> {
    REGISTERED_COMMANDS.get_or_init(|| RwLock::new(HashMap::new()))
}

/// Adds or renames a command code (the naming half of python's
/// `commands.register`; typed access comes from the
/// [`command!`](crate::command) macro). The name is leaked once per call.
pub fn register_command(code: u32, name: &str) {
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    registered_commands().write().insert(code, name);
    HAS_REGISTERED_COMMANDS.store(true, Ordering::Release);
}

/// The name of an application id from python's `APPLICATIONS` table
/// (`"Diameter Credit Control Application"` for 4), `"Unknown Application"`
/// for ids it does not name.
pub fn application_name(application_id: u32) -> &'static str {
    name_in(generated::APPLICATIONS, application_id).unwrap_or("Unknown Application")
}

/// python's `APPLICATIONS` table: every application id it names, in order.
pub fn applications() -> &'static [(u32, &'static str)] {
    generated::APPLICATIONS
}

/// python's `SERVICE_CONTEXTS` table: Service-Context-Id values and their
/// names (`("32251@3gpp.org", "PS charging")`).
pub fn service_contexts() -> &'static [(&'static str, &'static str)] {
    generated::SERVICE_CONTEXTS
}

/// python's `VENDORS` table: vendor id and short name, in order.
pub fn vendors() -> &'static [(u32, &'static str)] {
    generated::VENDORS
}

/// Every vendor id of python's `VENDORS` table, in order.
pub fn vendor_ids() -> impl Iterator<Item = u32> {
    generated::VENDORS.iter().map(|(id, _)| *id)
}

/// The name of a command code as python's command classes have it
/// (`"Capabilities-Exchange"`), `"Unknown"` for codes it does not know.
pub fn command_name(code: u32) -> &'static str {
    if HAS_REGISTERED_COMMANDS.load(Ordering::Acquire) {
        if let Some(name) = registered_commands().read().get(&code) {
            return name;
        }
    }
    name_in(generated::COMMANDS, code).unwrap_or("Unknown")
}

/// Iterates over every built-in definition, vendor by vendor, in code order.
pub fn builtin_definitions() -> impl Iterator<Item = &'static AvpDefinition> {
    generated::VENDOR_TABLES
        .iter()
        .flat_map(|(_, table)| table.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_type_agrees_with_lookup() {
        for def in builtin_definitions() {
            assert_eq!(
                lookup_type(def.code, def.vendor_id),
                lookup(def.code, def.vendor_id).map(|d| d.avp_type),
                "{def:?}"
            );
        }
        for (code, vendor) in [(0, 0), (5000, 0), (99_999, 10415), (u32::MAX, 0), (1, 77)] {
            assert_eq!(lookup_type(code, vendor), None);
        }
    }
}
