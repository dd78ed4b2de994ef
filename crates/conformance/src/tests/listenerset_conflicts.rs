//! ListenerSet listeners that clash with Gateway listeners or with the
//! listeners of an older ListenerSet on hostname or protocol: the loser is
//! Conflicted, and a ListenerSet left without a valid listener is not
//! accepted.

use super::listenerset::{attached_listener_sets, listener_set_conditions};
use super::listenerset_namespaces::{ACCEPTED_LISTENER, SET_NOT_VALID, listener_conditions};
use crate::status::{self, Cond};
use crate::{ConformanceTest, Env, Failure, INFRA_NS, conformance_test};

pub fn tests() -> Vec<ConformanceTest> {
    vec![
        conformance_test!(
            "ListenerSetHostnameConflict",
            manifests: ["tests/listenerset-hostname-conflict.yaml"],
            features: ["Gateway", "ListenerSet"],
            hostname_conflict
        ),
        conformance_test!(
            "ListenerSetProtocolConflict",
            manifests: ["tests/listenerset-protocol-conflict.yaml"],
            features: ["Gateway", "ListenerSet", "TCPRoute"],
            protocol_conflict
        ),
    ]
}

const HOSTNAME_CONFLICTED: &[Cond] = &[
    Cond("Accepted", "False", ""),
    Cond("Programmed", "False", ""),
    Cond("Conflicted", "True", "HostnameConflict"),
];

// The v1.6.1 API defines no "Conflicted" reason for Accepted: any reason,
// as for hostname conflicts.
const PROTOCOL_CONFLICTED: &[Cond] = &[
    Cond("Accepted", "False", ""),
    Cond("Programmed", "False", ""),
    Cond("Conflicted", "True", "ProtocolConflict"),
];

/// The shared layout of both manifests, named by `what` (`hostname` or
/// `protocol`): a Gateway with `gateway-listener` and
/// `<what>-conflict-with-gateway-listener`; ListenerSets `...-gateway-1`
/// (one good listener, one clashing with the Gateway, one that wins over
/// `...-listener-set-1`), `...-gateway-2` (only the clash with the
/// Gateway), `...-listener-set-1` (one good listener and one losing to
/// `...-gateway-1`) and `...-listener-set-2` (only that loser).
async fn conflicts(
    env: &Env,
    what: &str,
    conflicted: &[Cond],
    not_valid: &[Cond],
) -> Result<(), Failure> {
    let gw = format!("gateway-with-listenerset-{what}-conflict");
    let with_gateway = format!("{what}-conflict-with-gateway-listener");
    let with_set = format!("{what}-conflict-with-listener-set-listener");
    let set = |suffix: &str| format!("listenerset-with-{what}-conflict-with-{suffix}");
    status::gateway_conditions(env, INFRA_NS, &gw, &[Cond("Accepted", "True", "")]).await?;
    for l in ["gateway-listener", with_gateway.as_str()] {
        listener_conditions(env, "Gateway", (INFRA_NS, &gw), l, ACCEPTED_LISTENER).await?;
    }
    attached_listener_sets(env, &gw, 2).await?;

    let accepted_set = [
        Cond("Accepted", "True", ""),
        Cond("Programmed", "True", "Programmed"),
    ];
    let cases: [(String, &[Cond], &[Listener<'_>]); 4] = [
        (
            set("gateway-1"),
            &accepted_set,
            &[
                ("listener-set-1-listener", ACCEPTED_LISTENER),
                (&with_gateway, conflicted),
                (&with_set, ACCEPTED_LISTENER),
            ],
        ),
        (set("gateway-2"), not_valid, &[(&with_gateway, conflicted)]),
        (
            set("listener-set-1"),
            &accepted_set,
            &[
                ("listener-set-2-listener", ACCEPTED_LISTENER),
                (&with_set, conflicted),
            ],
        ),
        (set("listener-set-2"), not_valid, &[(&with_set, conflicted)]),
    ];
    for (name, set_conditions, listeners) in cases {
        listener_set_conditions(env, INFRA_NS, &name, set_conditions).await?;
        for (l, expected) in listeners {
            listener_conditions(env, "ListenerSet", (INFRA_NS, &name), l, expected).await?;
        }
    }
    Ok(())
}

/// A listener name and its expected conditions.
type Listener<'a> = (&'a str, &'a [Cond]);

async fn hostname_conflict(env: &Env) -> Result<(), Failure> {
    conflicts(env, "hostname", HOSTNAME_CONFLICTED, SET_NOT_VALID).await
}

async fn protocol_conflict(env: &Env) -> Result<(), Failure> {
    // Upstream accepts any reason for Programmed=False here.
    let not_valid = [
        Cond("Accepted", "False", "ListenersNotValid"),
        Cond("Programmed", "False", ""),
    ];
    conflicts(env, "protocol", PROTOCOL_CONFLICTED, &not_valid).await
}
