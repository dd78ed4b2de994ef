//! The routing table of one bound socket, compiled from an [`ir::Bind`]:
//! listener by Host (most specific first, listener isolation), then the most
//! specific virtual host, then the first matching route in IR order, found
//! through the virtual host's path index ([`index`]).
//!
//! [`ir::Bind`]: portico_ir::Bind

pub mod header;
pub mod host;
pub mod index;
pub mod method;
pub mod path;
pub mod query;
pub mod route;
pub mod value;

use std::sync::Arc;

use http::request::Parts;
use portico_ir::{Bind, BindProtocol, HostMatch, Listener};
use portico_observe::flow::GatewayRef;
use regex::{Regex, RegexBuilder};

pub use host::HostIndex;
pub use index::VhostRoutes;
pub use route::Route;

use crate::Error;
use crate::upstream::Upstreams;

/// Compiles `^(?:re)$` once, with a size limit so a hostile pattern cannot
/// eat the process.
pub(crate) fn anchored_regex(re: &str) -> Result<Regex, Error> {
    RegexBuilder::new(&format!("^(?:{re})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|source| Error::Regex {
            pattern: re.to_string(),
            source: Box::new(source),
        })
}

#[derive(Debug)]
pub struct ListenerTable {
    pub id: Arc<str>,
    /// For flow records.
    pub flow_gateway: GatewayRef,
    hostname: HostMatch,
    vhosts: HostIndex<VhostRoutes>,
    route_count: usize,
}

#[derive(Debug)]
pub struct RouteTable {
    /// Most specific hostname first, as the IR orders them.
    listeners: Vec<ListenerTable>,
    /// The port clients connected to (for redirects).
    pub port: u16,
    pub scheme: &'static str,
}

impl RouteTable {
    pub fn compile(bind: &Bind, port: u16, upstreams: &Upstreams) -> RouteTable {
        RouteTable {
            listeners: bind
                .listeners
                .iter()
                .map(|l| compile_listener(l, upstreams))
                .collect(),
            port,
            scheme: match bind.protocol {
                BindProtocol::Https => "https",
                _ => "http",
            },
        }
    }

    /// An empty table (every request 404s).
    pub fn empty(port: u16) -> RouteTable {
        RouteTable {
            listeners: Vec::new(),
            port,
            scheme: "http",
        }
    }

    /// The route for a request to `host` (normalized; empty when absent).
    pub fn find(&self, host: &str, parts: &Parts) -> Option<(&ListenerTable, &Route)> {
        let listener = self.listeners.iter().find(|l| l.hostname.matches(host))?;
        let route = listener.vhosts.get(host)?.find(parts)?;
        Some((listener, route))
    }

    /// The Gateway a request that matched no route is attributed to (its
    /// flow then shows on the service map): the listener its host selects,
    /// or, when no listener takes that host, the Gateway owning every
    /// listener of this socket (without a listener name).
    pub fn unmatched_gateway(&self, host: &str) -> Option<GatewayRef> {
        if let Some(l) = self.listeners.iter().find(|l| l.hostname.matches(host)) {
            return Some(l.flow_gateway.clone());
        }
        let first = &self.listeners.first()?.flow_gateway;
        let same = |g: &GatewayRef| g.namespace == first.namespace && g.name == first.name;
        self.listeners
            .iter()
            .all(|l| same(&l.flow_gateway))
            .then(|| GatewayRef {
                listener: None,
                ..first.clone()
            })
    }

    /// The listener a request to `host` belongs to, route or not (the
    /// most specific listener hostname that matches).
    pub fn listener_for(&self, host: &str) -> Option<&Arc<str>> {
        self.listeners
            .iter()
            .find(|l| l.hostname.matches(host))
            .map(|l| &l.id)
    }

    pub fn route_count(&self) -> usize {
        self.listeners.iter().map(|l| l.route_count).sum()
    }
}

fn compile_listener(l: &Listener, upstreams: &Upstreams) -> ListenerTable {
    let mut vhosts = HostIndex::default();
    for vh in &l.http {
        let mut routes = Vec::with_capacity(vh.routes.len());
        for r in &vh.routes {
            match Route::compile(r, upstreams) {
                Ok(route) => routes.push(route),
                Err(error) => tracing::warn!(
                    listener = %l.id,
                    route = %r.source.route,
                    rule = r.source.rule_index,
                    %error,
                    "route match rejected; it never matches"
                ),
            }
        }
        vhosts.insert(&vh.hostname, VhostRoutes::new(routes));
    }
    ListenerTable {
        id: l.id.as_str().into(),
        flow_gateway: GatewayRef {
            namespace: l.owner.namespace.as_str().into(),
            name: l.owner.name.as_str().into(),
            listener: Some(l.name.as_str().into()),
        },
        hostname: l.hostname.clone(),
        vhosts,
        route_count: l.http.iter().map(|v| v.routes.len()).sum(),
    }
}
