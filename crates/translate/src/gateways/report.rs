//! Status objects for Gateways, their listeners and ListenerSets, built from
//! the evaluated listeners.

use std::net::IpAddr;

use super::listeners::ListenerEval;
use super::problem::Problem;
use crate::{Condition, GatewayStatusAddress, ListenerStatus};

/// A condition that is True with `ok_reason`, or False with the problem.
pub fn cond(
    type_: &str,
    problem: Option<&Problem>,
    ok_reason: &str,
    ok_message: &str,
    generation: i64,
) -> Condition {
    match problem {
        None => Condition::new(type_, true, ok_reason, ok_message, generation),
        Some(p) => Condition::new(type_, false, p.reason, p.message.clone(), generation),
    }
}

/// The status of one listener (attachedRoutes filled in later by `finish`).
pub fn listener_status(l: &ListenerEval) -> ListenerStatus {
    let g = l.spec.owner_generation;
    let accepted_problem = l.accepted.as_ref().or(l.conflict.as_ref());
    let programmed_problem = if l.programmed() {
        None
    } else if let Some(p) = accepted_problem {
        Some(Problem::new(
            "Invalid",
            format!("listener is not accepted: {}", p.message),
        ))
    } else if let Some(p) = &l.resolved {
        Some(Problem::new(
            "Invalid",
            format!("listener references are not resolved: {}", p.message),
        ))
    } else {
        l.not_programmed.clone()
    };
    let conflicted = match &l.conflict {
        Some(p) => Condition::new("Conflicted", true, p.reason, p.message.clone(), g),
        None => Condition::new("Conflicted", false, "NoConflicts", "no conflicts", g),
    };
    ListenerStatus {
        name: l.spec.name.clone(),
        supported_kinds: l.supported_kinds.clone(),
        attached_routes: 0,
        conditions: vec![
            cond(
                "Accepted",
                accepted_problem,
                "Accepted",
                "listener is accepted",
                g,
            ),
            cond(
                "Programmed",
                programmed_problem.as_ref(),
                "Programmed",
                "listener is programmed",
                g,
            ),
            cond(
                "ResolvedRefs",
                l.resolved.as_ref(),
                "ResolvedRefs",
                "all references are resolved",
                g,
            ),
            conflicted,
        ],
    }
}

/// `Accepted` for an owner (Gateway or ListenerSet) from its own listeners,
/// `valid` saying which count: all valid → Accepted; some →
/// True/ListenersNotValid; none → False.
pub fn listeners_accepted(
    listeners: &[&ListenerEval],
    valid: fn(&ListenerEval) -> bool,
    generation: i64,
) -> Condition {
    let valid = listeners.iter().filter(|l| valid(l)).count();
    if valid == listeners.len() {
        Condition::new("Accepted", true, "Accepted", "accepted", generation)
    } else if valid > 0 {
        Condition::new(
            "Accepted",
            true,
            "ListenersNotValid",
            format!(
                "{} of {} listeners are not valid",
                listeners.len() - valid,
                listeners.len()
            ),
            generation,
        )
    } else {
        Condition::new(
            "Accepted",
            false,
            "ListenersNotValid",
            "no listener is valid",
            generation,
        )
    }
}

pub fn addresses(ips: &[IpAddr]) -> Vec<GatewayStatusAddress> {
    ips.iter()
        .map(|ip| GatewayStatusAddress {
            type_: "IPAddress".to_string(),
            value: ip.to_string(),
        })
        .collect()
}
