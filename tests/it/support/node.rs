//! The test-node builder: the nodes of the integration tests are made here,
//! on 127.0.0.1, with their peers and applications.
//!
//! ```ignore
//! // a server on a loopback port for the client pgw.example.net
//! let ocs = TestNode::builder("ocs.example.net", "example.net")
//!     .listen()
//!     .peer(PeerSpec::known("pgw.example.net"))
//!     .app(ThreadingApplication::new(AppBase::auth(4), 4, answer))
//!     .start();
//! // its client, once connected
//! let pgw = TestNode::builder("pgw.example.net", "example.net")
//!     .peer(PeerSpec::at("ocs.example.net", ocs.port()))
//!     .app(app.clone())
//!     .start_ready(Duration::from_secs(5));
//! ```

use std::net::{IpAddr, SocketAddr};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use diameter::message::constants::*;
use diameter::message::{Avp, Message};
use diameter::node::application::Application;
use diameter::node::peer::{AppId, Peer};
use diameter::node::{Node, NodeOptions, PeerOptions};

use super::wait_until;

/// 127.0.0.1.
pub fn lo() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

/// A peer the node is to know: its URI, realm, options, and whether the
/// node's applications serve it.
pub struct PeerSpec {
    uri: String,
    realm: Option<String>,
    options: PeerOptions,
    reconnect_wait: Option<Duration>,
    served: bool,
}

impl PeerSpec {
    /// A peer known by name, which connects to the node (`aaa://host`,
    /// from any address, not persistent).
    pub fn known(host: &str) -> PeerSpec {
        PeerSpec::uri(&format!("aaa://{host}")).anywhere()
    }

    /// A peer the node connects to, and reconnects to, at
    /// 127.0.0.1:`port` (`aaa://host:port`, persistent).
    pub fn at(host: &str, port: u16) -> PeerSpec {
        PeerSpec::uri(&format!("aaa://{host}:{port}")).persistent(true)
    }

    /// A peer by its URI, at 127.0.0.1, not persistent.
    pub fn uri(uri: &str) -> PeerSpec {
        PeerSpec {
            uri: uri.to_owned(),
            realm: None,
            options: PeerOptions {
                ip_addresses: vec![lo().into()],
                ..Default::default()
            },
            reconnect_wait: None,
            served: true,
        }
    }

    /// Its realm (`add_peer`'s realm).
    pub fn realm(mut self, realm: &str) -> PeerSpec {
        self.realm = Some(realm.to_owned());
        self
    }

    /// Whether the node keeps a connection to it.
    pub fn persistent(mut self, persistent: bool) -> PeerSpec {
        self.options.is_persistent = persistent;
        self
    }

    /// The time between its reconnection attempts.
    pub fn reconnect_wait(mut self, wait: Duration) -> PeerSpec {
        self.reconnect_wait = Some(wait);
        self
    }

    /// Its addresses instead of 127.0.0.1.
    pub fn addresses(mut self, addresses: &[&str]) -> PeerSpec {
        self.options.ip_addresses = addresses
            .iter()
            .map(|a| a.parse().expect("an address literal"))
            .collect();
        self
    }

    /// No addresses: it may come from anywhere, and is not connected to.
    pub fn anywhere(mut self) -> PeerSpec {
        self.options.ip_addresses.clear();
        self
    }

    /// Other peer options.
    pub fn options(mut self, set: impl FnOnce(&mut PeerOptions)) -> PeerSpec {
        set(&mut self.options);
        self
    }

    /// The node's applications do not serve it (or route to it).
    pub fn unserved(mut self) -> PeerSpec {
        self.served = false;
        self
    }

    /// Adds it to `node` (started or not).
    pub fn add_to(self, node: &Node) -> Arc<Peer> {
        let peer = node
            .add_peer(&self.uri, self.realm.as_deref(), self.options)
            .unwrap_or_else(|e| panic!("add_peer({}): {e}", self.uri));
        if let Some(wait) = self.reconnect_wait {
            peer.set_reconnect_wait(wait);
        }
        peer
    }
}

type Configure<'a> = Box<dyn FnOnce(&mut Node) + 'a>;

/// Builds a [`TestNode`]: see the module's example.
pub struct NodeBuilder<'a> {
    host: String,
    realm: String,
    options: NodeOptions,
    configure: Vec<Configure<'a>>,
    peers: Vec<PeerSpec>,
    apps: Vec<(Arc<dyn Application>, Vec<String>)>,
    app_ids: Vec<AppId>,
}

impl<'a> NodeBuilder<'a> {
    /// Listens for TCP on a free port of 127.0.0.1 (and advertises that
    /// address).
    pub fn listen(self) -> NodeBuilder<'a> {
        self.options(|o| o.tcp_port = Some(0)).loopback()
    }

    /// Advertises 127.0.0.1 as the node's address (binds to it when it
    /// listens), unless addresses were given.
    pub fn loopback(mut self) -> NodeBuilder<'a> {
        if self.options.ip_addresses.is_empty() {
            self.options.ip_addresses = vec![lo().into()];
        }
        self
    }

    /// Other node options (ports, addresses, TLS).
    pub fn options(mut self, set: impl FnOnce(&mut NodeOptions)) -> NodeBuilder<'a> {
        set(&mut self.options);
        self
    }

    /// Changes the node before its peers are added (its agent role, its
    /// timers, its route selector...).
    pub fn configure(mut self, set: impl FnOnce(&mut Node) + 'a) -> NodeBuilder<'a> {
        self.configure.push(Box::new(set));
        self
    }

    /// A peer.
    pub fn peer(mut self, peer: PeerSpec) -> NodeBuilder<'a> {
        self.peers.push(peer);
        self
    }

    /// Peers known by name, which connect to the node
    /// ([`PeerSpec::known`]).
    pub fn clients(mut self, hosts: &[&str]) -> NodeBuilder<'a> {
        self.peers.extend(hosts.iter().map(|h| PeerSpec::known(h)));
        self
    }

    /// An application serving every peer (but the [`PeerSpec::unserved`]).
    pub fn app(self, app: Arc<dyn Application>) -> NodeBuilder<'a> {
        self.app_routing(app, &[])
    }

    /// An application serving every peer, routing requests for `realms` to
    /// them.
    pub fn app_routing(mut self, app: Arc<dyn Application>, realms: &[&str]) -> NodeBuilder<'a> {
        self.apps
            .push((app, realms.iter().map(|r| r.to_string()).collect()));
        self
    }

    /// An application id advertised without an application (a relay's).
    pub fn app_id(mut self, id: AppId) -> NodeBuilder<'a> {
        self.app_ids.push(id);
        self
    }

    /// The node with its peers and applications, not started.
    pub fn build(self) -> TestNode {
        let mut node = Node::new(&self.host, &self.realm, self.options);
        for set in self.configure {
            set(&mut node);
        }
        for id in self.app_ids {
            node.add_application_id(id);
        }
        let mut peers = Vec::new();
        let mut served = Vec::new();
        for spec in self.peers {
            let serve = spec.served;
            let peer = spec.add_to(&node);
            if serve {
                served.push(peer.clone());
            }
            peers.push(peer);
        }
        for (app, realms) in self.apps {
            let realms: Vec<&str> = realms.iter().map(String::as_str).collect();
            node.add_application(app, &served, &realms);
        }
        TestNode { node, peers }
    }

    /// The node, started.
    pub fn start(self) -> TestNode {
        self.build().start()
    }

    /// The node, started, once every persistent peer is ready.
    pub fn start_ready(self, timeout: Duration) -> TestNode {
        let n = self.start();
        n.wait_ready(timeout);
        n
    }
}

/// A node of the tests and the peers it was built with; derefs to the
/// [`Node`].
pub struct TestNode {
    /// The node.
    pub node: Node,
    /// Its peers, in the order they were given.
    pub peers: Vec<Arc<Peer>>,
}

impl TestNode {
    /// A node `host` of `realm` to build: no port, no address, no peer.
    pub fn builder<'a>(host: &str, realm: &str) -> NodeBuilder<'a> {
        NodeBuilder {
            host: host.to_owned(),
            realm: realm.to_owned(),
            options: NodeOptions::default(),
            configure: Vec::new(),
            peers: Vec::new(),
            apps: Vec::new(),
            app_ids: Vec::new(),
        }
    }

    /// Starts the node.
    pub fn start(self) -> TestNode {
        self.node
            .start()
            .unwrap_or_else(|e| panic!("{} start: {e}", self.node.origin_host));
        self
    }

    /// Waits until every persistent peer is ready.
    pub fn wait_ready(&self, timeout: Duration) {
        wait_until(
            &format!("{}: every peer ready", self.node.origin_host),
            timeout,
            || {
                self.peers
                    .iter()
                    .filter(|p| p.persistent)
                    .all(|p| p.is_ready())
            },
        );
    }

    /// The peer given `i`-th.
    pub fn peer(&self, i: usize) -> &Arc<Peer> {
        &self.peers[i]
    }

    /// Its first listening address.
    pub fn addr(&self) -> SocketAddr {
        self.node.listen_addresses()[0]
    }

    /// Its first listening port.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// The node and its peers.
    pub fn into_parts(self) -> (Node, Vec<Arc<Peer>>) {
        (self.node, self.peers)
    }
}

impl Deref for TestNode {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.node
    }
}

/// A node on 127.0.0.1, listening on a free port or not, not started: for
/// the agent tests, which add peers and routes one by one.
pub fn loopback_node(host: &str, realm: &str, listen: bool) -> Node {
    TestNode::builder(host, realm)
        .loopback()
        .options(|o| o.tcp_port = listen.then_some(0))
        .build()
        .node
}

/// Adds the peer `host` of `realm` at 127.0.0.1 to `n`: connected to at
/// `port` (and reconnected 200 ms after it goes) when given, else only
/// known.
pub fn loopback_peer(n: &Node, host: &str, realm: &str, port: Option<u16>) -> Arc<Peer> {
    let peer = match port {
        Some(port) => PeerSpec::uri(&format!("aaa://{host}:{port};transport=tcp")).persistent(true),
        None => PeerSpec::uri(&format!("aaa://{host}")),
    };
    peer.realm(realm)
        .reconnect_wait(Duration::from_millis(200))
        .add_to(n)
}

/// The first listening port of `n`.
pub fn port(n: &Node) -> u16 {
    n.listen_addresses()[0].port()
}

/// Stops every node (2 s for the DPA, without waiting for the workers).
pub fn stop(nodes: &[&Node]) {
    for n in nodes {
        n.stop(Duration::from_secs(2), false)
            .unwrap_or_else(|e| panic!("{} stop: {e}", n.origin_host));
    }
}

/// The top-level Result-Code.
pub fn result_code(m: &Message) -> Option<u32> {
    m.find_avp(&[(AVP_RESULT_CODE, 0)]).and_then(Avp::as_u32)
}
