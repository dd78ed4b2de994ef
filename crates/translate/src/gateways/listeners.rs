//! Validation of one listener on its own: protocol, port, hostname, TLS mode
//! and certificates, allowed route kinds and namespaces. Conflicts between
//! listeners are [`super::conflicts`]' job.

use portico_ir::{BindProtocol, HostMatch, ListenerTls, TlsMode};
use portico_model::{GATEWAY_GROUP, Snapshot};

use super::certificates;
use super::hostname;
use super::problem::Problem;
use super::selector::NamespaceIndex;
use super::spec::{FromSpec, ListenerSpec};
use crate::RouteGroupKind;
use crate::context::AllowedNamespaces;

/// A listener after validation, before conflict detection.
#[derive(Clone, Debug)]
pub struct ListenerEval {
    pub spec: ListenerSpec,
    pub bind_protocol: Option<BindProtocol>,
    pub host_match: HostMatch,
    pub tls: Option<ListenerTls>,
    pub supported_kinds: Vec<RouteGroupKind>,
    pub allowed_namespaces: AllowedNamespaces,
    /// `Accepted=False` reason, if any.
    pub accepted: Option<Problem>,
    /// `ResolvedRefs=False` reason, if any.
    pub resolved: Option<Problem>,
    /// `Conflicted=True` reason, if any (set by conflict detection).
    pub conflict: Option<Problem>,
    /// `Programmed=False` reason coming from outside the listener (the
    /// Gateway has no usable address, ...).
    pub not_programmed: Option<Problem>,
}

impl ListenerEval {
    /// Accepted and not conflicted: routes may attach.
    pub fn attachable(&self) -> bool {
        self.accepted.is_none() && self.conflict.is_none()
    }

    /// Attachable with its references resolved. Invalid route kinds next
    /// to valid ones do not stop the listener from serving the valid kinds
    /// (ResolvedRefs still says False).
    pub fn usable(&self) -> bool {
        let refs_ok = match &self.resolved {
            None => true,
            Some(p) => p.reason == "InvalidRouteKinds" && !self.supported_kinds.is_empty(),
        };
        self.attachable() && refs_ok
    }

    /// Usable, nothing else in the way.
    pub fn programmed(&self) -> bool {
        self.usable() && self.not_programmed.is_none()
    }

    /// TLS mode for conflict detection (TLS listeners only).
    pub fn tls_mode(&self) -> Option<TlsMode> {
        self.tls.as_ref().map(|t| t.mode)
    }
}

fn kind(k: &str) -> RouteGroupKind {
    RouteGroupKind {
        group: GATEWAY_GROUP.to_string(),
        kind: k.to_string(),
    }
}

/// Route kinds a protocol can serve.
pub fn kinds_for(protocol: BindProtocol) -> Vec<RouteGroupKind> {
    match protocol {
        BindProtocol::Http | BindProtocol::Https => vec![kind("HTTPRoute"), kind("GRPCRoute")],
        BindProtocol::Tls => vec![kind("TLSRoute")],
        BindProtocol::Tcp => vec![kind("TCPRoute")],
        BindProtocol::Udp => vec![kind("UDPRoute")],
    }
}

fn parse_protocol(protocol: &str) -> Option<BindProtocol> {
    match protocol {
        "HTTP" => Some(BindProtocol::Http),
        "HTTPS" => Some(BindProtocol::Https),
        "TLS" => Some(BindProtocol::Tls),
        "TCP" => Some(BindProtocol::Tcp),
        "UDP" => Some(BindProtocol::Udp),
        _ => None,
    }
}

/// Validates one listener.
pub fn evaluate(
    snapshot: &Snapshot,
    namespaces: &NamespaceIndex,
    spec: ListenerSpec,
    now: Option<u64>,
) -> ListenerEval {
    let mut eval = ListenerEval {
        bind_protocol: parse_protocol(&spec.protocol),
        host_match: HostMatch::Any,
        tls: None,
        supported_kinds: Vec::new(),
        allowed_namespaces: AllowedNamespaces::Same(spec.owner.namespace.clone()),
        accepted: None,
        resolved: None,
        conflict: None,
        not_programmed: None,
        spec,
    };
    let Some(protocol) = eval.bind_protocol else {
        eval.accepted = Some(Problem::new(
            "UnsupportedProtocol",
            format!(
                "protocol {:?} is not supported (HTTP, HTTPS, TLS, TCP, UDP are)",
                eval.spec.protocol
            ),
        ));
        return eval;
    };
    check_kinds(&mut eval, protocol);
    check_namespaces(&mut eval, namespaces);
    if !(1..=65535).contains(&eval.spec.port) {
        eval.accepted.get_or_insert(Problem::new(
            "PortUnavailable",
            format!("port {} is outside 1-65535", eval.spec.port),
        ));
    }
    check_hostname(&mut eval, protocol);
    check_tls(snapshot, &mut eval, protocol, now);
    eval
}

fn check_kinds(eval: &mut ListenerEval, protocol: BindProtocol) {
    let valid = kinds_for(protocol);
    let Some(listed) = &eval.spec.kinds else {
        eval.supported_kinds = valid;
        return;
    };
    let mut supported: Vec<RouteGroupKind> = Vec::new();
    let mut invalid = Vec::new();
    for k in listed {
        let group = k.group.as_deref().unwrap_or(GATEWAY_GROUP);
        match valid.iter().find(|v| v.group == group && v.kind == k.kind) {
            Some(v) if !supported.contains(v) => supported.push(v.clone()),
            Some(_) => {}
            None => invalid.push(format!("{group}/{}", k.kind)),
        }
    }
    if !invalid.is_empty() {
        eval.resolved = Some(Problem::new(
            "InvalidRouteKinds",
            format!(
                "route kinds {} are not supported on a {} listener",
                invalid.join(", "),
                eval.spec.protocol
            ),
        ));
    }
    eval.supported_kinds = supported;
}

fn check_namespaces(eval: &mut ListenerEval, namespaces: &NamespaceIndex) {
    eval.allowed_namespaces = match eval.spec.from {
        FromSpec::Same => AllowedNamespaces::Same(eval.spec.owner.namespace.clone()),
        FromSpec::All => AllowedNamespaces::All,
        FromSpec::Selector => {
            let selected = match &eval.spec.selector {
                Some(selector) => namespaces.select(selector).map_err(|e| e.to_string()),
                None => Err(
                    "allowedRoutes.namespaces.from is Selector but no selector is set".to_string(),
                ),
            };
            match selected {
                Ok(set) => AllowedNamespaces::Selector(set),
                Err(why) => {
                    eval.accepted
                        .get_or_insert(Problem::new("UnsupportedValue", why));
                    AllowedNamespaces::Selector(Default::default())
                }
            }
        }
    };
}

fn check_hostname(eval: &mut ListenerEval, protocol: BindProtocol) {
    // TCP and UDP carry no host name: the field is ignored for them.
    if matches!(protocol, BindProtocol::Tcp | BindProtocol::Udp) {
        return;
    }
    let Some(hostname) = eval.spec.hostname.as_deref().filter(|h| !h.is_empty()) else {
        return;
    };
    match hostname::invalid_reason(hostname) {
        None => eval.host_match = HostMatch::parse(Some(hostname)),
        Some(why) => {
            eval.accepted.get_or_insert(Problem::new(
                "UnsupportedValue",
                format!("hostname {hostname:?} is invalid: {why}"),
            ));
        }
    }
}

fn check_tls(
    snapshot: &Snapshot,
    eval: &mut ListenerEval,
    protocol: BindProtocol,
    now: Option<u64>,
) {
    if !matches!(protocol, BindProtocol::Https | BindProtocol::Tls) {
        return;
    }
    let mode = eval
        .spec
        .tls
        .as_ref()
        .and_then(|t| t.mode)
        .unwrap_or(TlsMode::Terminate);
    if protocol == BindProtocol::Https && mode == TlsMode::Passthrough {
        eval.accepted.get_or_insert(Problem::new(
            "UnsupportedValue",
            "HTTPS listeners terminate TLS; use a TLS listener for Passthrough",
        ));
        return;
    }
    let certificates = if mode == TlsMode::Terminate {
        let refs = eval
            .spec
            .tls
            .as_ref()
            .map(|t| t.certificate_refs.as_slice())
            .unwrap_or_default();
        match certificates::resolve(snapshot, &eval.spec.owner, refs, now) {
            Ok(certs) => certs,
            Err(problem) => {
                // RefNotPermitted and InvalidRouteKinds both live on
                // ResolvedRefs; the certificate problem is the one to fix first.
                eval.resolved = Some(problem);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    eval.tls = Some(ListenerTls {
        mode,
        certificates,
        client_validation: None,
    });
}

#[cfg(test)]
mod tests {
    use portico_ir::ObjectRef;

    use super::*;
    use crate::gateways::spec::KindSpec;

    fn spec(protocol: &str, port: i32) -> ListenerSpec {
        ListenerSpec {
            owner: ObjectRef {
                kind: "Gateway".into(),
                namespace: "ns".into(),
                name: "gw".into(),
            },
            owner_generation: 1,
            name: "l".into(),
            port,
            protocol: protocol.into(),
            hostname: None,
            tls: None,
            kinds: None,
            from: FromSpec::Same,
            selector: None,
        }
    }

    fn eval(spec: ListenerSpec) -> ListenerEval {
        evaluate(&Snapshot::default(), &NamespaceIndex::default(), spec, None)
    }

    #[test]
    fn ports_outside_the_range_are_unavailable() {
        for port in [0, -1, 65536, 70000] {
            let e = eval(spec("HTTP", port));
            assert_eq!(
                e.accepted.map(|p| p.reason),
                Some("PortUnavailable"),
                "{port}"
            );
        }
        assert!(eval(spec("HTTP", 65535)).accepted.is_none());
    }

    #[test]
    fn default_kinds_follow_the_protocol() {
        let kinds = |p: &str| -> Vec<String> {
            eval(spec(p, 80))
                .supported_kinds
                .into_iter()
                .map(|k| k.kind)
                .collect()
        };
        assert_eq!(kinds("HTTP"), ["HTTPRoute", "GRPCRoute"]);
        assert_eq!(kinds("UDP"), ["UDPRoute"]);
        assert!(kinds("SCTP").is_empty());
    }

    #[test]
    fn listed_kinds_are_deduplicated_and_invalid_ones_reported() {
        let mut s = spec("TCP", 9000);
        s.kinds = Some(vec![
            KindSpec {
                group: None,
                kind: "TCPRoute".into(),
            },
            KindSpec {
                group: Some(portico_model::GATEWAY_GROUP.into()),
                kind: "TCPRoute".into(),
            },
            KindSpec {
                group: None,
                kind: "HTTPRoute".into(),
            },
        ]);
        let e = eval(s);
        assert_eq!(e.supported_kinds.len(), 1);
        assert_eq!(e.resolved.map(|p| p.reason), Some("InvalidRouteKinds"));
    }

    #[test]
    fn https_needs_terminate_and_certificates() {
        let mut s = spec("HTTPS", 443);
        s.tls = Some(crate::gateways::spec::TlsSpec {
            mode: Some(TlsMode::Passthrough),
            certificate_refs: vec![],
        });
        assert_eq!(eval(s).accepted.map(|p| p.reason), Some("UnsupportedValue"));
        let e = eval(spec("HTTPS", 443));
        assert!(e.accepted.is_none());
        assert_eq!(e.resolved.map(|p| p.reason), Some("InvalidCertificateRef"));
        let mut s = spec("TLS", 443);
        s.tls = Some(crate::gateways::spec::TlsSpec {
            mode: Some(TlsMode::Passthrough),
            certificate_refs: vec![],
        });
        let e = eval(s);
        assert!(e.accepted.is_none() && e.resolved.is_none());
        assert_eq!(e.tls.map(|t| t.mode), Some(TlsMode::Passthrough));
    }
}
