//! `lastTransitionTime` stamping.
//!
//! Translation is pure and leaves `lastTransitionTime` unset. The writer of
//! statuses stamps it: a condition whose type, status and reason did not
//! change keeps the time it had, so statuses never flap; any other condition
//! gets the current time.

use std::collections::HashMap;
use std::time::SystemTime;

use portico_translate::{Condition, ObjectStatus, Statuses};

/// The current time in RFC 3339 (seconds, UTC), as Kubernetes writes it.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Calls `f` with every condition of `status` and a scope naming where the
/// condition sits (`""` for the object, `listener/NAME`, `parent/...`).
pub fn for_each_condition(status: &ObjectStatus, f: &mut dyn FnMut(&str, &Condition)) {
    let mut visit = |scope: &str, conditions: &[Condition]| {
        conditions.iter().for_each(|c| f(scope, c));
    };
    match status {
        ObjectStatus::GatewayClass(s) => visit("", &s.conditions),
        ObjectStatus::Gateway(s) => {
            visit("", &s.conditions);
            for l in &s.listeners {
                visit(&listener_scope(&l.name), &l.conditions);
            }
        }
        ObjectStatus::ListenerSet(s) => {
            visit("", &s.conditions);
            for l in &s.listeners {
                visit(&listener_scope(&l.name), &l.conditions);
            }
        }
        ObjectStatus::Route(s) => {
            for p in &s.parents {
                visit(
                    &ref_scope("parent", &p.controller_name, &p.parent_ref),
                    &p.conditions,
                );
            }
        }
        ObjectStatus::Policy(s) => {
            for a in &s.ancestors {
                visit(
                    &ref_scope("ancestor", &a.controller_name, &a.ancestor_ref),
                    &a.conditions,
                );
            }
        }
    }
}

/// Mutable twin of [`for_each_condition`].
fn for_each_condition_mut(status: &mut ObjectStatus, f: &mut dyn FnMut(&str, &mut Condition)) {
    let mut visit = |scope: &str, conditions: &mut [Condition]| {
        conditions.iter_mut().for_each(|c| f(scope, c));
    };
    match status {
        ObjectStatus::GatewayClass(s) => visit("", &mut s.conditions),
        ObjectStatus::Gateway(s) => {
            visit("", &mut s.conditions);
            for l in &mut s.listeners {
                visit(&listener_scope(&l.name), &mut l.conditions);
            }
        }
        ObjectStatus::ListenerSet(s) => {
            visit("", &mut s.conditions);
            for l in &mut s.listeners {
                visit(&listener_scope(&l.name), &mut l.conditions);
            }
        }
        ObjectStatus::Route(s) => {
            for p in &mut s.parents {
                let scope = ref_scope("parent", &p.controller_name, &p.parent_ref);
                visit(&scope, &mut p.conditions);
            }
        }
        ObjectStatus::Policy(s) => {
            for a in &mut s.ancestors {
                let scope = ref_scope("ancestor", &a.controller_name, &a.ancestor_ref);
                visit(&scope, &mut a.conditions);
            }
        }
    }
}

fn listener_scope(name: &str) -> String {
    format!("listener/{name}")
}

fn ref_scope(what: &str, controller: &str, r: &portico_translate::ParentReference) -> String {
    format!(
        "{what}/{controller}/{}/{}/{}/{}/{}/{}",
        r.group.as_deref().unwrap_or(""),
        r.kind.as_deref().unwrap_or(""),
        r.namespace.as_deref().unwrap_or(""),
        r.name,
        r.section_name.as_deref().unwrap_or(""),
        r.port.map(|p| p.to_string()).unwrap_or_default(),
    )
}

/// Stamps `lastTransitionTime` on every condition of `statuses`: the time
/// from `previous` when type, status and reason are unchanged, else `now`.
pub fn stamp(statuses: &mut Statuses, previous: &Statuses, now: &str) {
    for (key, status) in &mut statuses.objects {
        let mut before: HashMap<(String, String), (String, String, Option<String>)> =
            HashMap::new();
        if let Some(prev) = previous.objects.get(key) {
            for_each_condition(prev, &mut |scope, c| {
                before.insert(
                    (scope.to_string(), c.type_.clone()),
                    (
                        c.status.clone(),
                        c.reason.clone(),
                        c.last_transition_time.clone(),
                    ),
                );
            });
        }
        for_each_condition_mut(status, &mut |scope, c| {
            let kept = before
                .get(&(scope.to_string(), c.type_.clone()))
                .filter(|(status, reason, _)| *status == c.status && *reason == c.reason)
                .and_then(|(_, _, time)| time.clone());
            c.last_transition_time = Some(kept.unwrap_or_else(|| now.to_string()));
        });
    }
}

#[cfg(test)]
mod tests {
    use portico_translate::{
        GatewayStatus, ListenerStatus, ParentReference, RouteParentStatus, RouteStatus,
    };

    use super::*;

    fn gateway(programmed: bool, listener_reason: &str, generation: i64) -> Statuses {
        let mut s = Statuses::default();
        s.insert(
            "Gateway",
            "default",
            "gw",
            ObjectStatus::Gateway(GatewayStatus {
                conditions: vec![
                    Condition::new("Accepted", true, "Accepted", "ok", generation),
                    Condition::new("Programmed", programmed, "Programmed", "", generation),
                ],
                listeners: vec![ListenerStatus {
                    name: "http".into(),
                    conditions: vec![Condition::new(
                        "ResolvedRefs",
                        true,
                        listener_reason,
                        "",
                        generation,
                    )],
                    ..ListenerStatus::default()
                }],
                ..GatewayStatus::default()
            }),
        );
        s
    }

    fn times(s: &Statuses) -> Vec<(String, String)> {
        let mut out = vec![];
        for status in s.objects.values() {
            for_each_condition(status, &mut |scope, c| {
                out.push((
                    format!("{scope}:{}", c.type_),
                    c.last_transition_time.clone().unwrap_or_default(),
                ));
            });
        }
        out
    }

    #[test]
    fn first_stamp_uses_now() {
        let mut s = gateway(true, "ResolvedRefs", 1);
        stamp(&mut s, &Statuses::default(), "T1");
        assert!(times(&s).iter().all(|(_, t)| t == "T1"), "{:?}", times(&s));
    }

    #[test]
    fn unchanged_conditions_keep_their_time_even_across_generations() {
        let mut first = gateway(true, "ResolvedRefs", 1);
        stamp(&mut first, &Statuses::default(), "T1");
        let mut second = gateway(true, "ResolvedRefs", 2);
        stamp(&mut second, &first, "T2");
        assert!(times(&second).iter().all(|(_, t)| t == "T1"));
    }

    #[test]
    fn status_or_reason_changes_take_the_new_time() {
        let mut first = gateway(true, "ResolvedRefs", 1);
        stamp(&mut first, &Statuses::default(), "T1");
        let mut second = gateway(false, "InvalidCertificateRef", 1);
        stamp(&mut second, &first, "T2");
        let t = times(&second);
        assert!(t.contains(&(":Accepted".into(), "T1".into())), "{t:?}");
        assert!(t.contains(&(":Programmed".into(), "T2".into())), "{t:?}");
        assert!(
            t.contains(&("listener/http:ResolvedRefs".into(), "T2".into())),
            "{t:?}"
        );
    }

    #[test]
    fn route_parents_are_matched_by_parent_ref() {
        let route = |parent: &str| {
            let mut s = Statuses::default();
            s.insert(
                "HTTPRoute",
                "default",
                "r",
                ObjectStatus::Route(RouteStatus {
                    parents: vec![RouteParentStatus {
                        parent_ref: ParentReference {
                            name: parent.into(),
                            ..ParentReference::default()
                        },
                        controller_name: "portico.dev/gateway-controller".into(),
                        conditions: vec![Condition::new("Accepted", true, "Accepted", "", 1)],
                    }],
                }),
            );
            s
        };
        let mut first = route("a");
        stamp(&mut first, &Statuses::default(), "T1");
        let mut same = route("a");
        stamp(&mut same, &first, "T2");
        assert_eq!(times(&same)[0].1, "T1");
        let mut other = route("b");
        stamp(&mut other, &first, "T2");
        assert_eq!(times(&other)[0].1, "T2");
    }
}
