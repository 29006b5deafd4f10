//! RFC 6733 §6.1.7, §6.13 and §6.14 for the node that gets a redirect, as
//! pure code: what a 3006 DIAMETER_REDIRECT_INDICATION answer says (its
//! Redirect-Host URIs, Redirect-Host-Usage and Redirect-Max-Cache-Time),
//! and the redirect cache that sends later requests straight to the host
//! named, keyed as the usage says, each entry expiring after its cache
//! time. No I/O and no clock: every method that needs the time takes
//! `now`, so tests drive it with a fake clock.
//!
//! | Redirect-Host-Usage | later requests that go to the redirect host |
//! | --- | --- |
//! | DONT_CACHE (0) | none: nothing is cached |
//! | ALL_SESSION (1) | those with the same Session-Id |
//! | ALL_REALM (2) | those for the same Destination-Realm |
//! | REALM_AND_APPLICATION (3) | same Destination-Realm and application |
//! | ALL_APPLICATION (4) | those of the same application |
//! | ALL_HOST (5) | those that would go to the host that sent the 3006 |
//! | ALL_USER (6) | those with the same User-Name |
//!
//! The cache holds at most `capacity` entries: a full cache drops its
//! expired entries, then the entry that would expire first.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::uri::{parse_diameter_uri, DiameterUri};
use crate::message::constants::*;
use crate::message::{Avp, Message};

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
    /// The answer's Origin-Host, lower-cased: the host that redirected.
    pub origin_host: Option<String>,
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
    let origin_host = answer
        .find_avp(&[(AVP_ORIGIN_HOST, 0)])
        .and_then(Avp::as_str)
        .map(str::to_ascii_lowercase);
    Redirect {
        hosts,
        usage,
        max_cache_time,
        origin_host,
    }
}

/// What the cache looks at in a request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Facts<'a> {
    /// Session-Id.
    pub session: Option<&'a str>,
    /// Destination-Realm.
    pub realm: Option<&'a str>,
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
            application_id: msg.header.application_id,
            user: text(AVP_USER_NAME),
        }
    }
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
    /// ALL_HOST: the host that sent the redirect.
    Host(Box<str>),
    /// ALL_USER.
    User(Box<str>),
}

const KINDS: usize = 6;

impl Key {
    /// The key of a redirected request for `usage`; `None` when nothing
    /// is cached (DONT_CACHE, or the request lacks what the usage keys on).
    pub(crate) fn of(
        usage: Usage,
        facts: &Facts<'_>,
        redirecting_host: Option<&str>,
    ) -> Option<Key> {
        let lower = |s: &str| s.to_ascii_lowercase().into_boxed_str();
        Some(match usage {
            Usage::DontCache => return None,
            Usage::AllSession => Key::Session(facts.session?.into()),
            Usage::AllRealm => Key::Realm(lower(facts.realm?)),
            Usage::RealmAndApplication => {
                Key::RealmApplication(lower(facts.realm?), facts.application_id)
            }
            Usage::AllApplication => Key::Application(facts.application_id),
            Usage::AllHost => Key::Host(lower(redirecting_host?)),
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

/// One cache entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    /// The hosts to send to.
    pub targets: Vec<T>,
    /// When it expires.
    pub expires: Instant,
    seq: u64,
}

/// The redirect cache: keys to the hosts named by a redirect, until they
/// expire; at most `capacity` entries.
#[derive(Debug)]
pub(crate) struct Cache<T> {
    entries: HashMap<Key, Entry<T>>,
    /// Every entry by (expiry, insertion): the front expires first.
    order: BTreeMap<(Instant, u64), Key>,
    per_kind: [usize; KINDS],
    seq: u64,
    capacity: usize,
}

impl<T> Cache<T> {
    /// An empty cache of at most `capacity` entries (0: nothing is kept).
    pub(crate) fn new(capacity: usize) -> Cache<T> {
        Cache {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            per_kind: [0; KINDS],
            seq: 0,
            capacity,
        }
    }

    /// How many entries it holds (expired ones until `expire` runs).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Caches `targets` under `key` for `ttl` (replacing what the key
    /// had); a full cache first drops its expired entries, then the one
    /// that expires first. Nothing is kept for a zero `ttl`, no target or
    /// a zero capacity.
    pub(crate) fn insert(&mut self, now: Instant, key: Key, targets: Vec<T>, ttl: Duration) {
        if ttl.is_zero() || targets.is_empty() || self.capacity == 0 {
            return;
        }
        // a cache time past what `Instant` holds is cut to the largest
        // Redirect-Max-Cache-Time (2^32 - 1 s)
        let longest = Duration::from_secs(u64::from(u32::MAX));
        let Some(expires) = now.checked_add(ttl).or_else(|| now.checked_add(longest)) else {
            return;
        };
        self.remove(&key);
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
        self.order.insert((expires, seq), key.clone());
        self.per_kind[key.kind()] += 1;
        self.entries.insert(
            key,
            Entry {
                targets,
                expires,
                seq,
            },
        );
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.entries.get(key) {
            self.order.remove(&(old.expires, old.seq));
            self.forget(key);
        }
    }

    /// Drops an entry whose `order` item is gone already.
    fn forget(&mut self, key: &Key) {
        if self.entries.remove(key).is_some() {
            let kind = &mut self.per_kind[key.kind()];
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
            let key = entry.remove();
            self.forget(&key);
            n += 1;
        }
        n
    }

    /// Drops every entry with a target for which `gone` holds.
    pub(crate) fn remove_targets(&mut self, gone: impl Fn(&T) -> bool) {
        let keys: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| e.targets.iter().any(&gone))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.remove(&key);
        }
    }

    /// Whether an entry names a target for which `f` holds.
    pub(crate) fn names(&self, f: impl Fn(&T) -> bool) -> bool {
        self.entries.values().any(|e| e.targets.iter().any(&f))
    }

    fn live(&self, now: Instant, key: &Key) -> Option<&Entry<T>> {
        self.entries.get(key).filter(|e| e.expires > now)
    }

    fn has(&self, kind: usize) -> bool {
        self.per_kind[kind] > 0
    }

    /// The entry a request goes by, the most specific first: its session,
    /// its user, its realm and application, its realm, its application.
    /// Keys are built (and allocated) only for the kinds the cache holds.
    pub(crate) fn lookup(&self, now: Instant, facts: &Facts<'_>) -> Option<&Entry<T>> {
        if self.entries.is_empty() {
            return None;
        }
        let lower = |s: &str| s.to_ascii_lowercase().into_boxed_str();
        if let Some(s) = facts.session.filter(|_| self.has(0)) {
            if let Some(e) = self.live(now, &Key::Session(s.into())) {
                return Some(e);
            }
        }
        if let Some(u) = facts.user.filter(|_| self.has(5)) {
            if let Some(e) = self.live(now, &Key::User(u.into())) {
                return Some(e);
            }
        }
        if let Some(realm) = facts.realm.filter(|_| self.has(1) || self.has(2)) {
            let realm = lower(realm);
            if self.has(2) {
                let key = Key::RealmApplication(realm.clone(), facts.application_id);
                if let Some(e) = self.live(now, &key) {
                    return Some(e);
                }
            }
            if let Some(e) = self.live(now, &Key::Realm(realm)).filter(|_| self.has(1)) {
                return Some(e);
            }
        }
        if self.has(3) {
            return self.live(now, &Key::Application(facts.application_id));
        }
        None
    }

    /// The ALL_HOST entry of `host` (the peer a request would go to).
    pub(crate) fn lookup_host(&self, now: Instant, host: &str) -> Option<&Entry<T>> {
        if !self.has(4) {
            return None;
        }
        self.live(now, &Key::Host(host.to_ascii_lowercase().into()))
    }

    /// The live entries keyed by realm or application (the learned routes
    /// of the routing table): (realm, application id, entry).
    pub(crate) fn routes(&self, now: Instant) -> Vec<(Option<&str>, Option<u32>, &Entry<T>)> {
        let mut out: Vec<_> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires > now)
            .filter_map(|(k, e)| match k {
                Key::Realm(r) => Some((Some(&**r), None, e)),
                Key::RealmApplication(r, a) => Some((Some(&**r), Some(*a), e)),
                Key::Application(a) => Some((None, Some(*a), e)),
                _ => None,
            })
            .collect();
        out.sort_by_key(|(_, _, e)| e.seq);
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

    /// Sets the capacity (at start); entries beyond it go.
    pub(crate) fn set_capacity(&self, capacity: usize) {
        self.with(|c| {
            c.capacity = capacity;
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

    fn facts<'a>(session: &'a str, realm: &'a str, app: u32, user: Option<&'a str>) -> Facts<'a> {
        Facts {
            session: Some(session),
            realm: Some(realm),
            application_id: app,
            user,
        }
    }

    fn target(c: &Cache<&'static str>, now: Instant, f: &Facts<'_>) -> Option<&'static str> {
        c.lookup(now, f).map(|e| e.targets[0])
    }

    #[test]
    fn each_usage_has_its_key() {
        let f = facts("s;1", "B.net", 4, Some("alice"));
        let key = |u| Key::of(u, &f, Some("DRA.a.net"));
        assert_eq!(key(Usage::DontCache), None);
        assert_eq!(key(Usage::AllSession), Some(Key::Session("s;1".into())));
        assert_eq!(key(Usage::AllRealm), Some(Key::Realm("b.net".into())));
        assert_eq!(
            key(Usage::RealmAndApplication),
            Some(Key::RealmApplication("b.net".into(), 4))
        );
        assert_eq!(key(Usage::AllApplication), Some(Key::Application(4)));
        assert_eq!(key(Usage::AllHost), Some(Key::Host("dra.a.net".into())));
        assert_eq!(key(Usage::AllUser), Some(Key::User("alice".into())));
        // what the request lacks cannot key it
        let bare = Facts {
            application_id: 4,
            ..Facts::default()
        };
        assert_eq!(Key::of(Usage::AllSession, &bare, None), None);
        assert_eq!(Key::of(Usage::AllRealm, &bare, None), None);
        assert_eq!(Key::of(Usage::AllUser, &bare, None), None);
        assert_eq!(Key::of(Usage::AllHost, &bare, None), None);
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
        }
    }

    #[test]
    fn lookups_match_what_the_usage_keys_on() {
        let t0 = Instant::now();
        let mut c = Cache::new(16);
        let f = facts("s;1", "b.net", 4, Some("alice"));
        let k = |u| Key::of(u, &f, Some("dra.a.net")).unwrap();
        c.insert(t0, k(Usage::RealmAndApplication), vec!["ocs"], 60 * S);
        assert_eq!(target(&c, t0, &f), Some("ocs"));
        // realm compared without case; another application or realm misses
        assert_eq!(target(&c, t0, &facts("x", "B.NET", 4, None)), Some("ocs"));
        assert_eq!(target(&c, t0, &facts("x", "b.net", 5, None)), None);
        assert_eq!(target(&c, t0, &facts("x", "c.net", 4, None)), None);
        // the session is more specific than the realm
        c.insert(t0, k(Usage::AllSession), vec!["by-session"], 60 * S);
        assert_eq!(target(&c, t0, &f), Some("by-session"));
        assert_eq!(target(&c, t0, &facts("s;2", "b.net", 4, None)), Some("ocs"));
        c.insert(t0, k(Usage::AllUser), vec!["by-user"], 60 * S);
        assert_eq!(
            target(&c, t0, &facts("s;2", "b.net", 4, Some("alice"))),
            Some("by-user")
        );
        c.insert(t0, k(Usage::AllRealm), vec!["by-realm"], 60 * S);
        assert_eq!(
            target(&c, t0, &facts("s;3", "b.net", 5, None)),
            Some("by-realm")
        );
        c.insert(t0, k(Usage::AllApplication), vec!["by-app"], 60 * S);
        assert_eq!(
            target(&c, t0, &facts("s;3", "z.net", 4, None)),
            Some("by-app")
        );
        // ALL_HOST is looked up by the next hop's name
        assert!(c.lookup_host(t0, "dra.a.net").is_none());
        c.insert(t0, k(Usage::AllHost), vec!["by-host"], 60 * S);
        assert_eq!(
            c.lookup_host(t0, "DRA.a.net").map(|e| e.targets[0]),
            Some("by-host")
        );
        assert!(c.lookup_host(t0, "other.a.net").is_none());
        assert_eq!(c.len(), 6);
        let routes = c.routes(t0);
        let learned: Vec<_> = routes
            .iter()
            .map(|(r, a, e)| (*r, *a, e.targets[0]))
            .collect();
        assert_eq!(
            learned,
            [
                (Some("b.net"), Some(4), "ocs"),
                (Some("b.net"), None, "by-realm"),
                (None, Some(4), "by-app"),
            ]
        );
    }

    #[test]
    fn entries_expire() {
        let t0 = Instant::now();
        let mut c = Cache::new(16);
        let f = facts("s;1", "b.net", 4, None);
        c.insert(
            t0,
            Key::of(Usage::AllRealm, &f, None).unwrap(),
            vec!["ocs"],
            S,
        );
        assert_eq!(target(&c, t0 + S / 2, &f), Some("ocs"));
        // expired entries are not used, even before they are dropped
        assert_eq!(target(&c, t0 + S, &f), None);
        assert!(c.routes(t0 + S).is_empty());
        assert_eq!(c.len(), 1);
        assert_eq!(c.expire(t0 + S / 2), 0);
        assert_eq!(c.expire(t0 + S), 1);
        assert_eq!(c.len(), 0);
        // no cache time, no target: nothing kept
        c.insert(t0, Key::Application(4), vec!["ocs"], Duration::ZERO);
        c.insert(t0, Key::Application(4), Vec::new(), S);
        assert_eq!(c.len(), 0);
        // a cache time past what Instant holds is clamped, not a panic
        c.insert(t0, Key::Application(4), vec!["ocs"], Duration::MAX);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_cache_drops_the_first_to_expire() {
        let t0 = Instant::now();
        let mut c = Cache::new(3);
        for (i, ttl) in [(1u32, 30), (2, 10), (3, 20)] {
            c.insert(t0, Key::Application(i), vec![i], ttl * S);
        }
        c.insert(t0, Key::Application(4), vec![4], 40 * S);
        assert_eq!(c.len(), 3);
        let has = |c: &Cache<u32>, i| {
            c.lookup(
                t0,
                &Facts {
                    application_id: i,
                    ..Facts::default()
                },
            )
            .is_some()
        };
        assert!(!has(&c, 2), "the first to expire went");
        assert!(has(&c, 1) && has(&c, 3) && has(&c, 4));
        // expired ones go first
        c.insert(t0 + 25 * S, Key::Application(5), vec![5], S);
        assert!(!has(&c, 3));
        assert_eq!(c.len(), 3);
        // replacing a key does not grow the cache
        for _ in 0..10 {
            c.insert(t0, Key::Application(5), vec![5], 50 * S);
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
        none.insert(t0, Key::Application(1), vec![1], S);
        assert_eq!(none.len(), 0);
    }

    #[test]
    fn the_shared_cache_counts_without_its_lock() {
        let t0 = Instant::now();
        let shared: Shared<u32> = Shared::new(8);
        assert!(shared.is_empty());
        assert_eq!(shared.read(|c| Some(c.len())), None);
        shared.with(|c| c.insert(t0, Key::Application(4), vec![1], S));
        assert!(!shared.is_empty());
        shared.with(|c| c.expire(t0 + S));
        assert!(shared.is_empty());
        for i in 0..8 {
            shared.with(|c| c.insert(t0, Key::Application(i), vec![i], S));
        }
        shared.set_capacity(2);
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
        assert_eq!(r.origin_host.as_deref(), Some("dra.a.net"));
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
