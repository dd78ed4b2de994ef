//! Kubernetes Events on Gateways for significant transitions: Accepted,
//! Programmed, address assigned, and conflicts (listener conditions turning
//! `Conflicted=True`).

use serde_json::Value;

/// One Event to publish: (is a warning, reason, note).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub warning: bool,
    pub reason: String,
    pub note: String,
}

fn conditions(status: Option<&Value>) -> Vec<(String, String, String)> {
    status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let f = |k: &str| {
                        c.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    (f("type"), f("status"), f("reason"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn addresses(status: Option<&Value>) -> Vec<String> {
    status
        .and_then(|s| s.get("addresses"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("value")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn conflicted_listeners(status: Option<&Value>) -> Vec<String> {
    status
        .and_then(|s| s.get("listeners"))
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter(|l| {
                    conditions(Some(l))
                        .iter()
                        .any(|(t, s, _)| t == "Conflicted" && s == "True")
                })
                .filter_map(|l| l.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The transitions between a Gateway's status on the object and the new one.
pub fn gateway_transitions(old: Option<&Value>, new: &Value) -> Vec<Transition> {
    let mut out = Vec::new();
    let before = conditions(old);
    for (type_, status, reason) in conditions(Some(new)) {
        if !matches!(type_.as_str(), "Accepted" | "Programmed") {
            continue;
        }
        let was = before.iter().find(|(t, _, _)| *t == type_);
        if was.is_some_and(|(_, s, r)| *s == status && *r == reason) {
            continue;
        }
        out.push(Transition {
            warning: status != "True",
            reason: if status == "True" {
                type_.clone()
            } else {
                reason.clone()
            },
            note: format!("{type_}={status} ({reason})"),
        });
    }
    let (a0, a1) = (addresses(old), addresses(Some(new)));
    if a0 != a1 && !a1.is_empty() {
        out.push(Transition {
            warning: false,
            reason: "AddressAssigned".into(),
            note: format!("addresses: {}", a1.join(", ")),
        });
    }
    let (c0, c1) = (conflicted_listeners(old), conflicted_listeners(Some(new)));
    let fresh: Vec<&String> = c1.iter().filter(|l| !c0.contains(l)).collect();
    if !fresh.is_empty() {
        out.push(Transition {
            warning: true,
            reason: "ListenerConflict".into(),
            note: format!(
                "conflicting listeners: {}",
                fresh
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn transitions_only_on_change() {
        let pending = json!({"conditions": [{"type": "Programmed", "status": "False", "reason": "AddressNotAssigned"}]});
        let programmed = json!({"addresses": [{"type": "IPAddress", "value": "192.0.2.1"}],
            "conditions": [{"type": "Programmed", "status": "True", "reason": "Programmed"}]});
        let t = gateway_transitions(Some(&pending), &programmed);
        let reasons: Vec<&str> = t.iter().map(|t| t.reason.as_str()).collect();
        assert_eq!(reasons, ["Programmed", "AddressAssigned"]);
        assert!(gateway_transitions(Some(&programmed), &programmed).is_empty());
        let first = gateway_transitions(None, &pending);
        assert!(first[0].warning);
    }

    #[test]
    fn new_listener_conflicts_are_reported() {
        let new = json!({"conditions": [], "listeners": [{"name": "a", "conditions": [{"type": "Conflicted", "status": "True", "reason": "HostnameConflict"}]}]});
        let t = gateway_transitions(None, &new);
        assert_eq!(t[0].reason, "ListenerConflict");
        assert!(t[0].note.contains('a'));
    }
}
