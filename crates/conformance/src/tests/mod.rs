//! The ported upstream tests, one file per area. Each test states the
//! upstream `ShortName`, the manifests it applies and the features it needs,
//! and checks what the upstream test checks.

mod backend_tls;
mod gateway_addresses;
mod gateway_isolation;
mod gateway_listeners;
mod gateway_parameters;
mod generation_bump;
mod grpcroute;
mod httproute_backend_filter_weights;
mod httproute_basic;
mod httproute_cors;
mod httproute_filters;
mod httproute_grants;
mod httproute_hostnames;
mod httproute_https;
mod httproute_invalid;
mod httproute_listener_port;
mod httproute_matching;
mod httproute_mirror;
mod httproute_mirror_percentage;
mod httproute_parents;
mod httproute_protocols;
mod httproute_redirect_port_scheme;
mod httproute_redirects;
mod httproute_retry;
mod httproute_rewrites;
mod httproute_rules;
mod httproute_service_types;
mod httproute_tls_frontend;
mod l4_probe;
mod listenerset;
mod listenerset_conflicts;
mod listenerset_namespaces;
mod listenerset_parents;
mod tcproute;
mod tlsroute;
mod udproute;

use crate::ConformanceTest;

/// Every ported test, in upstream order within each area.
pub fn all() -> Vec<ConformanceTest> {
    let mut tests = Vec::new();
    tests.extend(httproute_basic::tests());
    tests.extend(httproute_hostnames::tests());
    tests.extend(httproute_matching::tests());
    tests.extend(httproute_matching::method_tests());
    tests.extend(httproute_invalid::tests());
    tests.extend(httproute_parents::tests());
    tests.extend(httproute_grants::tests());
    tests.extend(httproute_filters::tests());
    tests.extend(httproute_backend_filter_weights::tests());
    tests.extend(httproute_cors::tests());
    tests.extend(httproute_redirects::tests());
    tests.extend(httproute_redirect_port_scheme::tests());
    tests.extend(httproute_rewrites::tests());
    tests.extend(httproute_mirror::tests());
    tests.extend(httproute_mirror_percentage::tests());
    tests.extend(httproute_rules::tests());
    tests.extend(httproute_service_types::tests());
    tests.extend(httproute_listener_port::tests());
    tests.extend(httproute_protocols::tests());
    tests.extend(httproute_retry::tests());
    tests.extend(httproute_https::tests());
    tests.extend(httproute_tls_frontend::tests());
    tests.extend(gateway_listeners::tests());
    tests.extend(gateway_isolation::tests());
    tests.extend(gateway_addresses::tests());
    tests.extend(gateway_parameters::tests());
    tests.extend(generation_bump::tests());
    tests.extend(listenerset::tests());
    tests.extend(listenerset_namespaces::tests());
    tests.extend(listenerset_conflicts::tests());
    tests.extend(listenerset_parents::tests());
    tests.extend(grpcroute::tests());
    tests.extend(tlsroute::tests());
    tests.extend(tcproute::tests());
    tests.extend(udproute::tests());
    tests.extend(backend_tls::tests());
    tests
}
