//! HTTPRoute RequestMirror with `percent` and `fraction`: the primary
//! backend answers every request, the mirror sees the configured share.

use super::httproute_mirror::modified;
use crate::expect::{Expect, expect_mirror_share};
use crate::status::{route_accepted, route_resolved};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![conformance_test!(
        "HTTPRouteRequestPercentageMirror",
        manifests: ["tests/httproute-request-percentage-mirror.yaml"],
        features: ["Gateway", "HTTPRoute", "HTTPRouteRequestPercentageMirror"],
        percentage_mirror
    )]
}

const SAME: [(&str, &str); 1] = [(INFRA_NS, "same-namespace")];
const MIRROR: (&str, &str) = ("infra-backend-v2", INFRA_NS);

async fn percentage_mirror(env: &Env) -> Result<(), Failure> {
    let route = "request-percentage-mirror";
    route_accepted(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    route_resolved(env, "HTTPRoute", INFRA_NS, route, &SAME).await?;
    let gw = env.gateway_address(INFRA_NS, "same-namespace").await?;
    let v1 = |path: &str| Expect::get(path, "infra-backend-v1", INFRA_NS);
    // `percent: 20`.
    expect_mirror_share(env, &gw, &v1("/percent-mirror"), MIRROR, 20).await?;
    // `fraction: 25/50`.
    expect_mirror_share(env, &gw, &v1("/percent-mirror-fraction"), MIRROR, 50).await?;
    // `percent: 35` after a header modifier.
    let modified = modified("/percent-mirror-and-modify-headers");
    expect_mirror_share(env, &gw, &modified, MIRROR, 35).await
}
