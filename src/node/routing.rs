//! RFC 6733 §6.1 request routing as pure functions over peers, the
//! applications' routes and application ids: Destination-Host first, then
//! the realm's peers serving the application, then the realm's default
//! peers; among several, the least loaded (ties in turn).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::message::constants::*;
use crate::message::{Avp, Message};
use crate::node::peer::{AppId, AppKind, Peer, PEER_READY_STATES, RELAY_APPLICATION_ID};

/// The peers a request may go to, and the realm they were picked for.
pub(crate) struct Candidates {
    pub peers: Vec<Arc<Peer>>,
    pub realm: String,
}

/// Whether the peer's connection is ready and negotiated `app` (or relay).
pub(crate) fn negotiated(peer: &Peer, app: AppId) -> bool {
    let st = peer.status.lock();
    let Some(c) = st.connection.as_ref() else {
        return false;
    };
    if !PEER_READY_STATES.contains(&c.state) {
        return false;
    }
    let ids = match app.kind {
        AppKind::Auth => &c.auth_application_ids,
        AppKind::Acct => &c.acct_application_ids,
    };
    ids.iter()
        .any(|id| *id == app.id || *id == RELAY_APPLICATION_ID)
}

/// What an application serves: its id, its peers, and extra realms.
pub(crate) struct Route<'a> {
    /// The application.
    pub app: AppId,
    /// The peers it was added for.
    pub peers: &'a [Arc<Peer>],
    /// Realms (lower-cased) it serves besides its peers' own.
    pub realms: &'a [String],
}

/// The usable peers for `msg` of application `app`: the Destination-Host's
/// peer when it is usable; else the peers of the application's routes in
/// the Destination-Realm (`own_realm` when absent) or in the routes'
/// realms; else the realm's default peers. `Err` carries the realm when
/// none is usable.
pub(crate) fn candidates<'a>(
    msg: &Message,
    app: AppId,
    own_realm: &str,
    routes: impl Iterator<Item = Route<'a>>,
    peers: &[Arc<Peer>],
    usable: &dyn Fn(&Peer) -> bool,
) -> Result<Candidates, String> {
    let realm = msg
        .find_avp(&[(AVP_DESTINATION_REALM, 0)])
        .and_then(Avp::as_str)
        .unwrap_or(own_realm)
        .to_ascii_lowercase();
    if let Some(host) = msg
        .find_avp(&[(AVP_DESTINATION_HOST, 0)])
        .and_then(Avp::as_str)
    {
        if let Some(p) = peers
            .iter()
            .find(|p| p.node_name.eq_ignore_ascii_case(host))
        {
            if usable(p) {
                return Ok(Candidates {
                    peers: vec![p.clone()],
                    realm,
                });
            }
        }
    }
    let mut found: Vec<Arc<Peer>> = Vec::new();
    for route in routes.filter(|r| r.app == app) {
        let in_realm = route.realms.contains(&realm);
        for p in route.peers {
            if (in_realm || p.realm_name.eq_ignore_ascii_case(&realm))
                && !found.iter().any(|f| Arc::ptr_eq(f, p))
                && usable(p)
            {
                found.push(p.clone());
            }
        }
    }
    if found.is_empty() {
        found = peers
            .iter()
            .filter(|p| p.is_default && p.realm_name.eq_ignore_ascii_case(&realm) && usable(p))
            .cloned()
            .collect();
    }
    if found.is_empty() {
        return Err(realm);
    }
    Ok(Candidates {
        peers: found,
        realm,
    })
}

/// python's `select_least_used_peer`: of `peers`, the one with the fewest
/// requests waiting for their answers (`peer.outstanding`), the first on
/// ties; `None` when `peers` is empty. The node picks this way (ties in
/// turn) when `peer_route_select_func` is `None`; a selector can call it:
///
/// ```
/// use std::sync::Arc;
/// use diameter::node::{select_least_used_peer, NoRoute, NoRouteReason, Node, NodeError, NodeOptions};
///
/// let mut node = Node::new("pgw.example.net", "example.net", NodeOptions::default());
/// node.peer_route_select_func = Some(Arc::new(|app, _message, peers| {
///     select_least_used_peer(peers).ok_or(NodeError::NotRoutable(NoRoute {
///         application_id: app.application_id(),
///         realm: String::new(),
///         reason: NoRouteReason::NoReadyPeer,
///     }))
/// }));
/// ```
pub fn select_least_used_peer(peers: &[Arc<Peer>]) -> Option<Arc<Peer>> {
    least_loaded(peers, 0)
}

/// The peer with the fewest outstanding requests (one reading of each
/// count, as they change under us); ties go in turn by `turn`.
pub(crate) fn least_loaded(peers: &[Arc<Peer>], turn: usize) -> Option<Arc<Peer>> {
    // two passes over the counters, no allocation: the least load and how
    // many peers have it, then the `turn`-th of those
    let load = |p: &Arc<Peer>| p.outstanding.load(Ordering::Relaxed);
    let (mut least, mut tied) = (u64::MAX, 0usize);
    for l in peers.iter().map(load) {
        if l < least {
            (least, tied) = (l, 1);
        } else if l == least {
            tied += 1;
        }
    }
    if tied == 0 {
        return None;
    }
    peers
        .iter()
        .filter(|p| load(p) == least)
        .nth(turn % tied)
        // the loads moved between the passes (other threads): the least now
        .or_else(|| peers.iter().min_by_key(|p| load(p)))
        .cloned()
}
