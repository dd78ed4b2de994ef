//! GRPCRoute: method and header matching, listener hostnames, weights,
//! named rules. Calls go over h2c through the Gateway.

use tonic::Code;

use crate::grpc::{GrpcExpect, Method, expect_all_grpc, expect_grpc_weights};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "GRPCExactMethodMatching",
            manifests: ["tests/grpcroute-exact-method-matching.yaml"],
            features: ["Gateway", "GRPCRoute"],
            exact_method_matching
        ),
        conformance_test!(
            "GRPCRouteHeaderMatching",
            manifests: ["tests/grpcroute-header-matching.yaml"],
            features: ["Gateway", "GRPCRoute"],
            header_matching
        ),
        conformance_test!(
            "GRPCRouteListenerHostnameMatching",
            manifests: ["tests/grpcroute-listener-hostname-matching.yaml"],
            features: ["Gateway", "GRPCRoute"],
            listener_hostname_matching
        ),
        conformance_test!(
            "GRPCRouteWeight",
            manifests: ["tests/grpcroute-weight.yaml"],
            features: ["Gateway", "GRPCRoute"],
            weight
        ),
        conformance_test!(
            "GRPCRouteNamedRule",
            manifests: ["tests/grpcroute-named-rule.yaml"],
            features: ["Gateway", "GRPCRoute", "GRPCRouteNamedRouteRule"],
            named_rule
        ),
    ]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];
const V1: &str = "grpc-infra-backend-v1";
const V2: &str = "grpc-infra-backend-v2";
const V3: &str = "grpc-infra-backend-v3";

async fn ready(env: &Env, route: &str) -> Result<String, Failure> {
    route_accepted(env, "GRPCRoute", INFRA_NS, route, &SAME).await?;
    route_resolved(env, "GRPCRoute", INFRA_NS, route, &SAME).await?;
    env.gateway_address(INFRA_NS, "same-namespace").await
}

fn ok(method: Method, backend: &str) -> GrpcExpect {
    GrpcExpect::ok(method, backend, INFRA_NS)
}

async fn exact_method_matching(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "exact-matching").await?;
    expect_all_grpc(
        env,
        &gw,
        &[
            ok(Method::Echo, V1),
            ok(Method::EchoTwo, V2),
            GrpcExpect::code(Method::EchoThree, Code::Unimplemented),
        ],
    )
    .await
}

async fn header_matching(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "grpc-header-matching").await?;
    let to = |backend: &str, md: &[(&str, &str)]| ok(Method::Echo, backend).metadata(md);
    let none =
        |md: &[(&str, &str)]| GrpcExpect::code(Method::Echo, Code::Unimplemented).metadata(md);
    expect_all_grpc(
        env,
        &gw,
        &[
            to(V1, &[("Version", "one")]),
            to(V2, &[("Version", "two")]),
            to(V1, &[("Version", "two"), ("Color", "orange")]),
            to(V2, &[("Version", "two"), ("Color", "blue")]),
            none(&[("Color", "orange")]),
            none(&[("Some-Other-Header", "one")]),
            to(V1, &[("Color", "blue")]),
            to(V1, &[("Color", "green")]),
            to(V2, &[("Color", "red")]),
            to(V2, &[("Color", "yellow")]),
            none(&[("Color", "purple")]),
        ],
    )
    .await
}

async fn listener_hostname_matching(env: &Env) -> Result<(), Failure> {
    const GW: &str = "grpcroute-listener-hostname-matching";
    let gws = [(INFRA_NS, GW)];
    for route in ["backend-v1", "backend-v2", "backend-v3"] {
        route_accepted(env, "GRPCRoute", INFRA_NS, route, &gws).await?;
    }
    let gw = env.gateway_address(INFRA_NS, GW).await?;
    let at = |authority: &str, backend: &str| ok(Method::Echo, backend).authority(authority);
    let none =
        |authority: &str| GrpcExpect::code(Method::Echo, Code::Unimplemented).authority(authority);
    expect_all_grpc(
        env,
        &gw,
        &[
            at("bar.com", V1),
            at("foo.bar.com", V2),
            at("baz.bar.com", V3),
            at("boo.bar.com", V3),
            at("multiple.prefixes.bar.com", V3),
            at("multiple.prefixes.foo.com", V3),
            none("foo.com"),
            none("no.matching.host"),
        ],
    )
    .await
}

async fn weight(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "weighted-backends").await?;
    let any = GrpcExpect::ok(Method::Echo, "grpc-infra-backend-v", INFRA_NS);
    expect_all_grpc(env, &gw, std::slice::from_ref(&any)).await?;
    expect_grpc_weights(&gw, &any, &[(V1, 0.7), (V2, 0.3), (V3, 0.0)]).await
}

async fn named_rule(env: &Env) -> Result<(), Failure> {
    let gw = ready(env, "grpc-named-rules").await?;
    expect_all_grpc(env, &gw, &[ok(Method::Echo, V1), ok(Method::EchoTwo, V2)]).await
}
