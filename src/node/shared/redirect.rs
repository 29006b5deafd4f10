//! RFC 6733 §6.1.7, §6.13 and §6.14 for the node that gets a redirect, as
//! pure code: what a 3006 DIAMETER_REDIRECT_INDICATION answer says (its
//! Redirect-Host URIs, Redirect-Host-Usage and Redirect-Max-Cache-Time),
//! and the redirect cache that sends later requests straight to the host
//! named, keyed as the usage says, each entry expiring after its cache
//! time (at most the node's cap). No I/O and no clock: every method that
//! needs the time takes `now`, so tests drive it with a fake clock.
//!
//! | Redirect-Host-Usage | later requests that go to the redirect host |
//! | --- | --- |
//! | DONT_CACHE (0) | none: nothing is cached |
//! | ALL_SESSION (1) | those with the same Session-Id |
//! | ALL_REALM (2) | those for the same Destination-Realm |
//! | REALM_AND_APPLICATION (3) | same Destination-Realm and application |
//! | ALL_APPLICATION (4) | those of the same application |
//! | ALL_HOST (5) | those for the same Destination-Host (or with none, when the redirected request had none) that routing sends to the peer that sent the 3006 |
//! | ALL_USER (6) | those with the same User-Name |
//!
//! A redirect reaches no further than its sender: by default an entry
//! holds only for requests with the redirected request's Destination-Realm
//! that routing sends to the peer the 3006 came from (what that peer could
//! redirect itself). The wide scope (`NodeLimits::redirect_wide_scope`)
//! drops both conditions, but for ALL_HOST, which always needs the peer.
//!
//! The cache holds at most `capacity` entries: a full cache drops its
//! expired entries, then the entry that would expire first.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::message::constants::*;
use crate::message::{Avp, Message};
use crate::node::uri::{parse_diameter_uri, DiameterUri};

/// Redirect-Host AVPs read from one answer, at most: the others are not
/// looked at (an answer may carry thousands).
pub(crate) const HOSTS_READ: usize = 16;

/// Redirect-Host-Usage (RFC 6733 §6.13). A value the RFC does not define
/// is read as `DontCache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    DontCache,
    AllSession,
    AllRealm,
    RealmAndApplication,
    AllApplication,
    AllHost,
    AllUser,
}

impl Usage {
    /// The usage of an AVP value (python's `E_REDIRECT_HOST_USAGE_*`).
    pub(crate) fn from_value(value: i32) -> Usage {
        match value {
            E_REDIRECT_HOST_USAGE_ALL_SESSION => Usage::AllSession,
            E_REDIRECT_HOST_USAGE_ALL_REALM => Usage::AllRealm,
            E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION => Usage::RealmAndApplication,
            E_REDIRECT_HOST_USAGE_ALL_APPLICATION => Usage::AllApplication,
            E_REDIRECT_HOST_USAGE_ALL_HOST => Usage::AllHost,
            E_REDIRECT_HOST_USAGE_ALL_USER => Usage::AllUser,
            _ => Usage::DontCache,
        }
    }

    /// The AVP value of a usage.
    pub(crate) fn value(self) -> i32 {
        match self {
            Usage::DontCache => E_REDIRECT_HOST_USAGE_DON_T_CARE,
            Usage::AllSession => E_REDIRECT_HOST_USAGE_ALL_SESSION,
            Usage::AllRealm => E_REDIRECT_HOST_USAGE_ALL_REALM,
            Usage::RealmAndApplication => E_REDIRECT_HOST_USAGE_REALM_AND_APPLICATION,
            Usage::AllApplication => E_REDIRECT_HOST_USAGE_ALL_APPLICATION,
            Usage::AllHost => E_REDIRECT_HOST_USAGE_ALL_HOST,
            Usage::AllUser => E_REDIRECT_HOST_USAGE_ALL_USER,
        }
    }
}

/// What a 3006 answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// The Redirect-Host URIs that parse, of the first [`HOSTS_READ`].
    pub hosts: Vec<DiameterUri>,
    /// Redirect-Host-Usage (absent: `DontCache`).
    pub usage: Usage,
    /// Redirect-Max-Cache-Time (absent: zero, nothing is cached).
    pub max_cache_time: Duration,
}

/// Whether an answer is a redirect: the E bit and Result-Code 3006.
pub(crate) fn is_redirect(answer: &Message) -> bool {
    answer.header.is_error()
        && answer
            .find_avp(&[(AVP_RESULT_CODE, 0)])
            .and_then(Avp::as_u32)
            == Some(E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION)
}

/// Reads a 3006 answer: AVPs of the wrong type or URIs that do not parse
/// are skipped.
pub(crate) fn read(answer: &Message) -> Redirect {
    let hosts = answer
        .avps
        .iter()
        .filter(|a| a.code() == AVP_REDIRECT_HOST && a.vendor_id() == 0)
        .take(HOSTS_READ)
        .filter_map(Avp::as_str)
        .filter_map(|s| parse_diameter_uri(s).ok())
        .collect();
    let usage = answer
        .find_avp(&[(AVP_REDIRECT_HOST_USAGE, 0)])
        .and_then(Avp::as_i32)
        .map_or(Usage::DontCache, Usage::from_value);
    let max_cache_time = answer
        .find_avp(&[(AVP_REDIRECT_MAX_CACHE_TIME, 0)])
        .and_then(Avp::as_u32)
        .map_or(Duration::ZERO, |s| Duration::from_secs(u64::from(s)));
    Redirect {
        hosts,
        usage,
        max_cache_time,
    }
}

pub(crate) use crate::node::config::DEFAULT_MAX_CACHE_TIME;

/// What the cache looks at in a request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Facts<'a> {
    /// Session-Id.
    pub session: Option<&'a str>,
    /// Destination-Realm.
    pub realm: Option<&'a str>,
    /// Destination-Host.
    pub host: Option<&'a str>,
    /// The header's application id.
    pub application_id: u32,
    /// User-Name.
    pub user: Option<&'a str>,
}

impl<'a> Facts<'a> {
    /// A request's facts (nothing is copied).
    pub(crate) fn of(msg: &'a Message) -> Facts<'a> {
        let text = |code| msg.find_avp(&[(code, 0)]).and_then(Avp::as_str);
        Facts {
            session: text(AVP_SESSION_ID),
            realm: text(AVP_DESTINATION_REALM),
            host: text(AVP_DESTINATION_HOST),
            application_id: msg.header.application_id,
            user: text(AVP_USER_NAME),
        }
    }
}

fn lower(s: &str) -> Box<str> {
    s.to_ascii_lowercase().into_boxed_str()
}

/// A cache key: what later requests must share with the redirected one.
/// Realms and hosts are lower-cased; Session-Id and User-Name are compared
/// as they are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// ALL_SESSION.
    Session(Box<str>),
    /// ALL_REALM.
    Realm(Box<str>),
    /// REALM_AND_APPLICATION.
    RealmApplication(Box<str>, u32),
    /// ALL_APPLICATION.
    Application(u32),
    /// ALL_HOST: the redirected request's Destination-Host; `None` for
    /// requests without one.
    Host(Option<Box<str>>),
    /// ALL_USER.
    User(Box<str>),
}

const KINDS: usize = 6;

impl Key {
    /// The key of a redirected request for `usage`; `None` when nothing
    /// is cached (DONT_CACHE, or the request lacks what the usage keys on).
    pub(crate) fn of(usage: Usage, facts: &Facts<'_>) -> Option<Key> {
        Some(match usage {
            Usage::DontCache => return None,
            Usage::AllSession => Key::Session(facts.session?.into()),
            Usage::AllRealm => Key::Realm(lower(facts.realm?)),
            Usage::RealmAndApplication => {
                Key::RealmApplication(lower(facts.realm?), facts.application_id)
            }
            Usage::AllApplication => Key::Application(facts.application_id),
            Usage::AllHost => Key::Host(facts.host.map(lower)),
            Usage::AllUser => Key::User(facts.user?.into()),
        })
    }

    fn kind(&self) -> usize {
        match self {
            Key::Session(_) => 0,
            Key::Realm(_) => 1,
            Key::RealmApplication(..) => 2,
            Key::Application(_) => 3,
            Key::Host(_) => 4,
            Key::User(_) => 5,
        }
    }
}

/// Where an entry is stored: its key and, unless the scope is wide, the
/// redirected request's Destination-Realm (lower-cased), so that a
/// redirect for one realm neither holds for nor replaces another's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Slot {
    key: Key,
    realm: Option<Box<str>>,
}

/// A change made to the protocol core's copy of the cache, carried out
/// on the copy callers read ([`Cache::apply`]).
#[derive(Debug)]
pub(crate) enum Change<T> {
    /// An entry learned ([`Cache::insert`]).
    Insert {
        /// When.
        now: Instant,
        /// Its slot.
        slot: Slot,
        /// The peer that redirected.
        via: T,
        /// The hosts named.
        targets: Vec<T>,
        /// How long it holds.
        ttl: Duration,
    },
    /// Entries naming this target go.
    RemoveTargets(T),
    /// Expired entries go.
    Expire(Instant),
}

/// One cache entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    /// The hosts to send to.
    pub targets: Vec<T>,
    /// When it expires.
    pub expires: Instant,
    /// The peer that sent the 3006: the next hop the entry holds for.
    pub via: T,
    seq: u64,
}

/// A learned route: (realm, application id, usage, entry).
pub(crate) type Route<'a, T> = (Option<&'a str>, Option<u32>, Usage, &'a Entry<T>);

/// The redirect cache: keys to the hosts named by a redirect, until they
/// expire; at most `capacity` entries, each kept at most `max_ttl`.
#[derive(Debug)]
pub(crate) struct Cache<T> {
    entries: HashMap<Slot, Entry<T>>,
    /// Every entry by (expiry, insertion): the front expires first.
    order: BTreeMap<(Instant, u64), Slot>,
    per_kind: [usize; KINDS],
    seq: u64,
    capacity: usize,
    /// Whether entries hold beyond their realm and next hop (the RFC's
    /// reading; ALL_HOST keeps its next hop).
    wide: bool,
    /// The longest an entry is kept, whatever the 3006 says.
    max_ttl: Duration,
}

impl<T> Cache<T> {
    /// An empty cache of at most `capacity` entries (0: nothing is kept),
    /// of the narrow scope, keeping an entry at most
    /// [`DEFAULT_MAX_CACHE_TIME`].
    pub(crate) fn new(capacity: usize) -> Cache<T> {
        Cache {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            per_kind: [0; KINDS],
            seq: 0,
            capacity,
            wide: false,
            max_ttl: DEFAULT_MAX_CACHE_TIME,
        }
    }

    /// Sets the scope (wide: entries hold for any realm and next hop but
    /// ALL_HOST's) and the longest an entry is kept (zero: nothing is
    /// cached), for the entries learned from then on.
    pub(crate) fn set_scope(&mut self, wide: bool, max_ttl: Duration) {
        self.wide = wide;
        self.max_ttl = max_ttl;
    }

    /// How many entries it holds (expired ones until `expire` runs).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The realm part of a slot for a request for `realm`.
    fn scope_realm(&self, realm: Option<&str>) -> Option<Box<str>> {
        if self.wide {
            None
        } else {
            realm.map(lower)
        }
    }

    /// Learns a redirect of the request with `facts`, answered by the
    /// peer `via`: `targets` for the requests `usage` covers, for `ttl`
    /// (at most the cache's longest), replacing what held for them; a
    /// full cache first drops its expired entries, then the one that
    /// expires first. Nothing is kept for DONT_CACHE, a request lacking
    /// what the usage keys on, a zero `ttl`, no target or a zero capacity.
    #[cfg(test)]
    pub(crate) fn learn(
        &mut self,
        now: Instant,
        usage: Usage,
        facts: &Facts<'_>,
        via: T,
        targets: Vec<T>,
        ttl: Duration,
    ) {
        if let Some(slot) = self.slot_for(usage, facts) {
            self.insert(now, slot, via, targets, ttl);
        }
    }

    /// The slot [`learn`](Self::learn) fills for `usage` and a request's
    /// `facts`: `None` when nothing is kept for them.
    pub(crate) fn slot_for(&self, usage: Usage, facts: &Facts<'_>) -> Option<Slot> {
        Some(Slot {
            key: Key::of(usage, facts)?,
            realm: self.scope_realm(facts.realm),
        })
    }

    /// Carries out a change made to another copy of the cache, so that this
    /// one holds the same entries (`same` says whether two targets are one).
    pub(crate) fn apply(&mut self, change: Change<T>, same: impl Fn(&T, &T) -> bool) {
        match change {
            Change::Insert {
                now,
                slot,
                via,
                targets,
                ttl,
            } => self.insert(now, slot, via, targets, ttl),
            Change::RemoveTargets(gone) => self.remove_targets(|t| same(t, &gone)),
            Change::Expire(now) => {
                self.expire(now);
            }
        }
    }

    /// Fills `slot` (from [`slot_for`](Self::slot_for)).
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        slot: Slot,
        via: T,
        targets: Vec<T>,
        ttl: Duration,
    ) {
        let ttl = ttl.min(self.max_ttl);
        if ttl.is_zero() || targets.is_empty() || self.capacity == 0 {
            return;
        }
        // a cache time past what `Instant` holds is cut to the largest
        // Redirect-Max-Cache-Time (2^32 - 1 s)
        let longest = Duration::from_secs(u64::from(u32::MAX));
        let Some(expires) = now.checked_add(ttl).or_else(|| now.checked_add(longest)) else {
            return;
        };
        self.remove(&slot);
        if self.entries.len() >= self.capacity {
            self.expire(now);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, first)) = self.order.pop_first() else {
                break;
            };
            self.forget(&first);
        }
        self.seq += 1;
        let seq = self.seq;
        self.order.insert((expires, seq), slot.clone());
        self.per_kind[slot.key.kind()] += 1;
        self.entries.insert(
            slot,
            Entry {
                targets,
                expires,
                via,
                seq,
            },
        );
    }

    fn remove(&mut self, slot: &Slot) {
        if let Some(old) = self.entries.get(slot) {
            self.order.remove(&(old.expires, old.seq));
            self.forget(slot);
        }
    }

    /// Drops an entry whose `order` item is gone already.
    fn forget(&mut self, slot: &Slot) {
        if self.entries.remove(slot).is_some() {
            let kind = &mut self.per_kind[slot.key.kind()];
            *kind = kind.saturating_sub(1);
        }
    }

    /// Drops the expired entries; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(entry) = self.order.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let slot = entry.remove();
            self.forget(&slot);
            n += 1;
        }
        n
    }

    /// Drops every entry with a target for which `gone` holds.
    pub(crate) fn remove_targets(&mut self, gone: impl Fn(&T) -> bool) {
        let slots: Vec<Slot> = self
            .entries
            .iter()
            .filter(|(_, e)| e.targets.iter().any(&gone))
            .map(|(s, _)| s.clone())
            .collect();
        for slot in slots {
            self.remove(&slot);
        }
    }

    /// Whether an entry names a target for which `f` holds.
    pub(crate) fn names(&self, f: impl Fn(&T) -> bool) -> bool {
        self.entries.values().any(|e| e.targets.iter().any(&f))
    }

    fn has(&self, kind: usize) -> bool {
        self.per_kind[kind] > 0
    }

    /// The live entry of `key` (with the request's realm part) that holds
    /// for a request whose next hop is the one `is_hop` names.
    fn find(
        &self,
        now: Instant,
        key: Key,
        realm: &Option<Box<str>>,
        is_hop: &impl Fn(&T) -> bool,
    ) -> Option<&Entry<T>> {
        let needs_hop = !self.wide || matches!(key, Key::Host(_));
        let slot = Slot {
            key,
            realm: realm.clone(),
        };
        self.entries
            .get(&slot)
            .filter(|e| e.expires > now && (!needs_hop || is_hop(&e.via)))
    }

    /// The entry a request goes by, in the RFC's order of precedence: its
    /// session, its user, its realm and application, its realm, its
    /// application, its Destination-Host. `is_hop` says whether a peer is
    /// the one routing picked for it (none: `|_| false`): an entry holds
    /// only when the peer that sent its 3006 is (but in the wide scope,
    /// where only ALL_HOST needs it). Keys are built (and allocated) only
    /// for the kinds the cache holds.
    pub(crate) fn lookup(
        &self,
        now: Instant,
        facts: &Facts<'_>,
        is_hop: impl Fn(&T) -> bool,
    ) -> Option<&Entry<T>> {
        if self.entries.is_empty() {
            return None;
        }
        let scope = self.scope_realm(facts.realm);
        let hop = &is_hop;
        if let Some(s) = facts.session.filter(|_| self.has(0)) {
            if let Some(e) = self.find(now, Key::Session(s.into()), &scope, hop) {
                return Some(e);
            }
        }
        if let Some(u) = facts.user.filter(|_| self.has(5)) {
            if let Some(e) = self.find(now, Key::User(u.into()), &scope, hop) {
                return Some(e);
            }
        }
        if let Some(realm) = facts.realm.filter(|_| self.has(1) || self.has(2)) {
            let realm = lower(realm);
            if self.has(2) {
                let key = Key::RealmApplication(realm.clone(), facts.application_id);
                if let Some(e) = self.find(now, key, &scope, hop) {
                    return Some(e);
                }
            }
            if self.has(1) {
                if let Some(e) = self.find(now, Key::Realm(realm), &scope, hop) {
                    return Some(e);
                }
            }
        }
        if self.has(3) {
            let key = Key::Application(facts.application_id);
            if let Some(e) = self.find(now, key, &scope, hop) {
                return Some(e);
            }
        }
        if self.has(4) {
            return self.find(now, Key::Host(facts.host.map(lower)), &scope, hop);
        }
        None
    }

    /// The live entries keyed by realm or application (the learned routes
    /// of the routing table): (realm, application id, usage, entry). An
    /// ALL_APPLICATION entry has its realm unless the scope is wide.
    pub(crate) fn routes(&self, now: Instant) -> Vec<Route<'_, T>> {
        let mut out: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires > now)
            .filter_map(|(s, e)| match &s.key {
                Key::Realm(r) => Some((Some(&**r), None, Usage::AllRealm, e)),
                Key::RealmApplication(r, a) => {
                    Some((Some(&**r), Some(*a), Usage::RealmAndApplication, e))
                }
                Key::Application(a) => {
                    Some((s.realm.as_deref(), Some(*a), Usage::AllApplication, e))
                }
                _ => None,
            })
            .collect();
        out.sort_by_key(|(_, _, _, e)| e.seq);
        out
    }
}

/// The cache shared by the event loop (which fills it) and the threads
/// that send requests (which look it up): behind a lock, with a count of
/// its entries read without the lock, so that a node whose cache is empty
/// neither locks nor allocates per request.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    cache: Mutex<Cache<T>>,
    entries: AtomicUsize,
}

impl<T> Shared<T> {
    /// An empty shared cache of at most `capacity` entries.
    pub(crate) fn new(capacity: usize) -> Shared<T> {
        Shared {
            cache: Mutex::new(Cache::new(capacity)),
            entries: AtomicUsize::new(0),
        }
    }

    /// Whether it holds nothing (one atomic load).
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.load(Ordering::Acquire) == 0
    }

    /// Runs `f` on the cache, under the lock, and publishes its size.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Cache<T>) -> R) -> R {
        let mut cache = self.cache.lock();
        let r = f(&mut cache);
        self.entries.store(cache.len(), Ordering::Release);
        r
    }

    /// Reads the cache under the lock; nothing when it is empty.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Cache<T>) -> Option<R>) -> Option<R> {
        if self.is_empty() {
            return None;
        }
        f(&self.cache.lock())
    }

    /// Sets the capacity, the scope and the longest an entry is kept (at
    /// start); entries beyond the capacity go.
    pub(crate) fn configure(&self, capacity: usize, wide: bool, max_ttl: Duration) {
        self.with(|c| {
            c.capacity = capacity;
            c.set_scope(wide, max_ttl);
            while c.entries.len() > capacity {
                let Some((_, first)) = c.order.pop_first() else {
                    break;
                };
                c.forget(&first);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageHeader;

    const S: Duration = Duration::from_secs(1);
    const HOUR: Duration = Duration::from_secs(3600);

    fn facts<'a>(session: &'a str, realm: &'a str, app: u32, user: Option<&'a str>) -> Facts<'a> {
        Facts {
            session: Some(session),
            realm: Some(realm),
            application_id: app,
            user,
            host: None,
        }
    }

    /// Learns a redirect sent by "dra".
    fn learn(c: &mut Cache<&'static str>, now: Instant, u: Usage, f: &Facts<'_>, to: &'static str) {
        c.learn(now, u, f, "dra", vec![to], 60 * S);
    }

    /// The target for a request routed to `hop`.
    fn via(
        c: &Cache<&'static str>,
        now: Instant,
        f: &Facts<'_>,
        hop: &'static str,
    ) -> Option<&'static str> {
        c.lookup(now, f, |v| *v == hop).map(|e| e.targets[0])
    }

    /// The target for a request routed to "dra".
    fn target(c: &Cache<&'static str>, now: Instant, f: &Facts<'_>) -> Option<&'static str> {
        via(c, now, f, "dra")
    }

    #[test]
    fn each_usage_has_its_key() {
        let f = Facts {
            host: Some("OCS.b.net"),
            ..facts("s;1", "B.net", 4, Some("alice"))
        };
        let key = |u| Key::of(u, &f);
        assert_eq!(key(Usage::DontCache), None);
        assert_eq!(key(Usage::AllSession), Some(Key::Session("s;1".into())));
        assert_eq!(key(Usage::AllRealm), Some(Key::Realm("b.net".into())));
        assert_eq!(
            key(Usage::RealmAndApplication),
            Some(Key::RealmApplication("b.net".into(), 4))
        );
        assert_eq!(key(Usage::AllApplication), Some(Key::Application(4)));
        // ALL_HOST: the request's Destination-Host, not who redirected
        assert_eq!(
            key(Usage::AllHost),
            Some(Key::Host(Some("ocs.b.net".into())))
        );
        assert_eq!(key(Usage::AllUser), Some(Key::User("alice".into())));
        // what the request lacks cannot key it
        let bare = Facts {
            application_id: 4,
            ..Facts::default()
        };
        assert_eq!(Key::of(Usage::AllSession, &bare), None);
        assert_eq!(Key::of(Usage::AllRealm, &bare), None);
        assert_eq!(Key::of(Usage::AllUser, &bare), None);
        // a request with no Destination-Host: those with none
        assert_eq!(Key::of(Usage::AllHost, &bare), Some(Key::Host(None)));
        for (value, usage) in [
            (0, Usage::DontCache),
            (1, Usage::AllSession),
            (2, Usage::AllRealm),
            (3, Usage::RealmAndApplication),
            (4, Usage::AllApplication),
            (5, Usage::AllHost),
            (6, Usage::AllUser),
            (7, Usage::DontCache),
            (-1, Usage::DontCache),
        ] {
            assert_eq!(Usage::from_value(value), usage);
            if (0..=6).contains(&value) {
                assert_eq!(usage.value(), value);
            }
        }
    }

    #[test]
    fn lookups_match_what_the_usage_keys_on() {
        let t0 = Instant::now();
        let mut c = Cache::new(16);
        let f = facts("s;1", "b.net", 4, Some("alice"));
        learn(&mut c, t0, Usage::RealmAndApplication, &f, "ocs");
        assert_eq!(target(&c, t0, &f), Some("ocs"));
        // realm compared without case; another application or realm misses
        assert_eq!(target(&c, t0, &facts("x", "B.NET", 4, None)), Some("ocs"));
        assert_eq!(target(&c, t0, &facts("x", "b.net", 5, None)), None);
        assert_eq!(target(&c, t0, &facts("x", "c.net", 4, None)), None);
        // the session is more specific than the realm
        learn(&mut c, t0, Usage::AllSession, &f, "by-session");
        assert_eq!(target(&c, t0, &f), Some("by-session"));
        assert_eq!(target(&c, t0, &facts("s;2", "b.net", 4, None)), Some("ocs"));
        learn(&mut c, t0, Usage::AllUser, &f, "by-user");
        assert_eq!(
            target(&c, t0, &facts("s;2", "b.net", 4, Some("alice"))),
            Some("by-user")
        );
        learn(&mut c, t0, Usage::AllRealm, &f, "by-realm");
        assert_eq!(
            target(&c, t0, &facts("s;3", "b.net", 5, None)),
            Some("by-realm")
        );
        learn(&mut c, t0, Usage::AllApplication, &f, "by-app");
        assert_eq!(
            target(&c, t0, &facts("s;3", "B.net", 5, None)),
            Some("by-realm")
        );
        // ALL_HOST comes last: requests without Destination-Host here
        learn(&mut c, t0, Usage::AllHost, &f, "by-host");
        let other = facts("s;4", "b.net", 6, None);
        assert_eq!(target(&c, t0, &other), Some("by-realm"));
        c.expire(t0);
        assert_eq!(c.len(), 6);
        let routes = c.routes(t0);
        let learned: Vec<_> = routes
            .iter()
            .map(|(r, a, u, e)| (*r, *a, u.value(), e.targets[0]))
            .collect();
        // in the narrow scope, ALL_APPLICATION holds for its realm
        assert_eq!(
            learned,
            [
                (Some("b.net"), Some(4), 3, "ocs"),
                (Some("b.net"), None, 2, "by-realm"),
                (Some("b.net"), Some(4), 4, "by-app"),
            ]
        );
    }

    #[test]
    fn a_redirect_holds_for_its_realm_and_next_hop_only() {
        let t0 = Instant::now();
        for wide in [false, true] {
            let mut c = Cache::new(16);
            c.set_scope(wide, HOUR);
            // the peer "evil" redirects a request for evil.net
            let f = facts("s;1", "evil.net", 4, Some("alice"));
            for u in [
                Usage::AllSession,
                Usage::AllUser,
                Usage::AllRealm,
                Usage::AllApplication,
            ] {
                let mut c = Cache::new(16);
                c.set_scope(wide, HOUR);
                c.learn(t0, u, &f, "evil", vec!["attacker"], HOUR);
                assert_eq!(c.len(), 1);
                // what went its way goes where it says
                assert_eq!(via(&c, t0, &f, "evil"), Some("attacker"), "{u:?}");
                // the same request routed to another peer (one of the
                // realm's others, or the one its Destination-Host names)
                let other_hop = via(&c, t0, &f, "evil2");
                // another realm's request, to that realm's peer
                let good = facts("s;1", "good.net", 4, Some("alice"));
                let other_realm = via(&c, t0, &good, "good");
                if wide {
                    let expected = (u != Usage::AllRealm).then_some("attacker");
                    assert_eq!(other_realm, expected, "{u:?}");
                    assert_eq!(other_hop, Some("attacker"), "{u:?}");
                } else {
                    assert_eq!((other_hop, other_realm), (None, None), "{u:?}");
                }
            }
            // an entry of one realm does not replace another realm's
            c.learn(
                t0,
                Usage::AllApplication,
                &f,
                "evil",
                vec!["attacker"],
                HOUR,
            );
            let good = facts("s;2", "good.net", 4, None);
            c.learn(t0, Usage::AllApplication, &good, "good", vec!["ocs"], HOUR);
            assert_eq!(c.len(), if wide { 1 } else { 2 });
            assert_eq!(via(&c, t0, &good, "good"), Some("ocs"));
            let evil = via(&c, t0, &f, "evil");
            assert_eq!(evil, Some(if wide { "ocs" } else { "attacker" }));
            // no next hop (routing found none): only the wide scope holds
            assert_eq!(c.lookup(t0, &good, |_| false).is_some(), wide);
        }
    }

    #[test]
    fn all_host_holds_for_the_destination_host_and_the_peer_that_redirected() {
        let t0 = Instant::now();
        let with_host = |host| Facts {
            host,
            ..facts("s;1", "b.net", 4, None)
        };
        for wide in [false, true] {
            let mut c = Cache::new(16);
            c.set_scope(wide, HOUR);
            // s1 redirects a request sent to it without Destination-Host
            let none = with_host(None);
            c.learn(t0, Usage::AllHost, &none, "s1", vec!["attacker"], HOUR);
            assert_eq!(via(&c, t0, &none, "s1"), Some("attacker"));
            // not requests for s2, whichever way they go, nor those for s1
            let s2 = with_host(Some("s2"));
            assert_eq!(via(&c, t0, &s2, "s2"), None);
            assert_eq!(via(&c, t0, &s2, "s1"), None);
            assert_eq!(via(&c, t0, &with_host(Some("s1")), "s1"), None);
            // nor those without one that go elsewhere, wide or not
            assert_eq!(via(&c, t0, &none, "s3"), None);
            // s1, a relay, redirects a request for S2: requests for s2
            // through s1 follow; those going straight to s2 do not
            c.learn(
                t0,
                Usage::AllHost,
                &with_host(Some("S2")),
                "s1",
                vec!["other"],
                HOUR,
            );
            assert_eq!(via(&c, t0, &s2, "s1"), Some("other"));
            assert_eq!(via(&c, t0, &s2, "s2"), None);
            assert_eq!(via(&c, t0, &none, "s1"), Some("attacker"));
        }
    }

    #[test]
    fn entries_expire() {
        let t0 = Instant::now();
        let mut c = Cache::new(16);
        let f = facts("s;1", "b.net", 4, None);
        c.learn(t0, Usage::AllRealm, &f, "dra", vec!["ocs"], S);
        assert_eq!(target(&c, t0 + S / 2, &f), Some("ocs"));
        // expired entries are not used, even before they are dropped
        assert_eq!(target(&c, t0 + S, &f), None);
        assert!(c.routes(t0 + S).is_empty());
        assert_eq!(c.len(), 1);
        assert_eq!(c.expire(t0 + S / 2), 0);
        assert_eq!(c.expire(t0 + S), 1);
        assert_eq!(c.len(), 0);
        // no cache time, no target, DONT_CACHE: nothing kept
        c.learn(
            t0,
            Usage::AllApplication,
            &f,
            "dra",
            vec!["ocs"],
            Duration::ZERO,
        );
        c.learn(t0, Usage::AllApplication, &f, "dra", Vec::new(), S);
        c.learn(t0, Usage::DontCache, &f, "dra", vec!["ocs"], S);
        assert_eq!(c.len(), 0);
        // a cache time past what Instant holds is clamped, not a panic
        c.set_scope(false, Duration::MAX);
        c.learn(
            t0,
            Usage::AllApplication,
            &f,
            "dra",
            vec!["ocs"],
            Duration::MAX,
        );
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn the_cache_time_is_capped() {
        let t0 = Instant::now();
        let f = facts("s;1", "b.net", 4, None);
        let longest = Duration::from_secs(u64::from(u32::MAX));
        // by default an hour, whatever the 3006 says
        let mut c = Cache::new(16);
        c.learn(t0, Usage::AllRealm, &f, "dra", vec!["ocs"], longest);
        let expires = c.lookup(t0, &f, |v| *v == "dra").map(|e| e.expires);
        assert_eq!(expires, Some(t0 + DEFAULT_MAX_CACHE_TIME));
        assert_eq!(target(&c, t0 + HOUR - S, &f), Some("ocs"));
        assert_eq!(target(&c, t0 + HOUR, &f), None);
        assert_eq!(c.expire(t0 + HOUR), 1);
        // a shorter cap; a shorter cache time is kept as it is
        c.set_scope(false, 10 * S);
        c.learn(t0, Usage::AllRealm, &f, "dra", vec!["ocs"], longest);
        assert_eq!(target(&c, t0 + 9 * S, &f), Some("ocs"));
        assert_eq!(target(&c, t0 + 10 * S, &f), None);
        c.learn(t0, Usage::AllRealm, &f, "dra", vec!["ocs"], 5 * S);
        assert_eq!(target(&c, t0 + 5 * S, &f), None);
        // zero: nothing is cached
        c.expire(t0 + HOUR);
        c.set_scope(false, Duration::ZERO);
        c.learn(t0, Usage::AllRealm, &f, "dra", vec!["ocs"], longest);
        assert_eq!(c.len(), 0);
        // the node's setting reaches the shared cache
        let shared: Shared<&str> = Shared::new(8);
        shared.configure(8, false, 2 * S);
        shared.with(|c| c.learn(t0, Usage::AllRealm, &f, "dra", vec!["ocs"], longest));
        let expires = shared.read(|c| c.lookup(t0, &f, |_| true).map(|e| e.expires));
        assert_eq!(expires, Some(t0 + 2 * S));
    }

    #[test]
    fn a_full_cache_drops_the_first_to_expire() {
        let t0 = Instant::now();
        let app = |i| Facts {
            application_id: i,
            ..Facts::default()
        };
        let put = |c: &mut Cache<u32>, now, i, ttl| {
            c.learn(now, Usage::AllApplication, &app(i), 0, vec![i], ttl);
        };
        let mut c = Cache::new(3);
        for (i, ttl) in [(1u32, 30), (2, 10), (3, 20)] {
            put(&mut c, t0, i, ttl * S);
        }
        put(&mut c, t0, 4, 40 * S);
        assert_eq!(c.len(), 3);
        let has = |c: &Cache<u32>, i| c.lookup(t0, &app(i), |v| *v == 0).is_some();
        assert!(!has(&c, 2), "the first to expire went");
        assert!(has(&c, 1) && has(&c, 3) && has(&c, 4));
        // expired ones go first
        put(&mut c, t0 + 25 * S, 5, S);
        assert!(!has(&c, 3));
        assert_eq!(c.len(), 3);
        // replacing a key does not grow the cache
        for _ in 0..10 {
            put(&mut c, t0, 5, 50 * S);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.order.len(), 3);
        // entries naming a target that failed go
        c.remove_targets(|t| *t == 5);
        assert_eq!(c.len(), 2);
        assert!(c.names(|t| *t == 1) && !c.names(|t| *t == 5));
        assert_eq!(c.per_kind.iter().sum::<usize>(), 2);
        // a zero capacity keeps nothing
        let mut none = Cache::new(0);
        put(&mut none, t0, 1, S);
        assert_eq!(none.len(), 0);
    }

    #[test]
    fn the_shared_cache_counts_without_its_lock() {
        let t0 = Instant::now();
        let app = |i| Facts {
            application_id: i,
            ..Facts::default()
        };
        let shared: Shared<u32> = Shared::new(8);
        assert!(shared.is_empty());
        assert_eq!(shared.read(|c| Some(c.len())), None);
        shared.with(|c| c.learn(t0, Usage::AllApplication, &app(4), 0, vec![1], S));
        assert!(!shared.is_empty());
        shared.with(|c| c.expire(t0 + S));
        assert!(shared.is_empty());
        for i in 0..8 {
            shared.with(|c| c.learn(t0, Usage::AllApplication, &app(i), 0, vec![i], S));
        }
        shared.configure(2, false, HOUR);
        assert_eq!(shared.read(|c| Some(c.len())), Some(2));
    }

    fn answer(avps: Vec<Avp>, error: bool) -> Message {
        let mut h = MessageHeader::new(CMD_CREDIT_CONTROL, 4);
        h.set_error(error);
        Message::new(h, avps)
    }

    #[test]
    fn a_3006_answer_is_read() {
        let code = |c: u32| Avp::new(AVP_RESULT_CODE, 0, c).unwrap();
        let host = |h: &str| Avp::new(AVP_REDIRECT_HOST, 0, h).unwrap();
        let mut avps = vec![
            code(E_RESULT_CODE_DIAMETER_REDIRECT_INDICATION),
            Avp::new(AVP_ORIGIN_HOST, 0, "DRA.a.net").unwrap(),
            host("aaa://ocs1.b.net:3869"),
            host("not a uri"),
            host("aaa://127.0.0.1:3870;transport=tcp"),
            Avp::new(AVP_REDIRECT_HOST_USAGE, 0, E_REDIRECT_HOST_USAGE_ALL_REALM).unwrap(),
            Avp::new(AVP_REDIRECT_MAX_CACHE_TIME, 0, 600u32).unwrap(),
        ];
        let m = answer(avps.clone(), true);
        assert!(is_redirect(&m));
        let r = read(&m);
        let hosts: Vec<(&str, u16)> = r.hosts.iter().map(|u| (u.fqdn.as_str(), u.port)).collect();
        assert_eq!(hosts, [("ocs1.b.net", 3869), ("127.0.0.1", 3870)]);
        assert_eq!(r.usage, Usage::AllRealm);
        assert_eq!(r.max_cache_time, 600 * S);
        // no E bit, or another Result-Code: no redirect
        assert!(!is_redirect(&answer(avps.clone(), false)));
        assert!(!is_redirect(&answer(vec![code(3002)], true)));
        // thousands of Redirect-Host AVPs: the first HOSTS_READ are read
        for i in 0..5000 {
            avps.push(host(&format!("aaa://h{i}.b.net")));
        }
        assert_eq!(read(&answer(avps, true)).hosts.len(), HOSTS_READ - 1);
        // nothing but the Result-Code
        let r = read(&answer(vec![code(3006)], true));
        assert!(r.hosts.is_empty());
        assert_eq!(
            (r.usage, r.max_cache_time),
            (Usage::DontCache, Duration::ZERO)
        );
    }
}
