//! Feeding the data plane's [`ApplyReport`] back into statuses: a listener
//! the proxy could not bind (or does not serve) is not `Programmed`,
//! whatever translation concluded.

use portico_proxy::{ApplyReport, ListenerState};
use portico_translate::{ListenerFailure, Statuses, apply_data_plane_report};

/// Listener counts after an apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerCounts {
    pub programmed: usize,
    pub failed: usize,
}

/// Merges the report into `statuses` and counts listeners by state.
pub fn apply(statuses: &mut Statuses, report: &ApplyReport) -> ListenerCounts {
    let mut counts = ListenerCounts::default();
    let mut failures = vec![];
    for listener in &report.listeners {
        match &listener.error {
            None => counts.programmed += 1,
            Some(error) => {
                counts.failed += 1;
                failures.push(ListenerFailure {
                    listener_id: listener.listener_id.clone(),
                    bind_failed: bind_failed(listener),
                    error: error.clone(),
                });
            }
        }
    }
    apply_data_plane_report(statuses, &failures);
    counts
}

/// Whether the socket itself could not be had (reported as `PortUnavailable`).
///
/// `ListenerState` carries only a message; the proxy's bind errors read
/// `cannot bind ADDR: ...` and a second Bind for one address `duplicate bind`.
fn bind_failed(listener: &ListenerState) -> bool {
    listener
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("cannot bind") || e.starts_with("duplicate bind"))
}

#[cfg(test)]
mod tests {
    use portico_translate::{Condition, GatewayStatus, ListenerStatus, ObjectStatus, condition};

    use super::*;

    fn statuses() -> Statuses {
        let mut s = Statuses::default();
        let listener = |name: &str| ListenerStatus {
            name: name.into(),
            conditions: vec![
                Condition::new("Accepted", true, "Accepted", "", 1),
                Condition::new("Programmed", true, "Programmed", "", 1),
            ],
            ..ListenerStatus::default()
        };
        s.insert(
            "Gateway",
            "default",
            "gw",
            ObjectStatus::Gateway(GatewayStatus {
                conditions: vec![
                    Condition::new("Accepted", true, "Accepted", "", 1),
                    Condition::new("Programmed", true, "Programmed", "", 1),
                ],
                listeners: vec![listener("http"), listener("other")],
                ..GatewayStatus::default()
            }),
        );
        s
    }

    fn state(name: &str, error: Option<&str>) -> ListenerState {
        ListenerState {
            listener_id: format!("Gateway/default/gw/{name}"),
            address: "127.10.0.1:80".parse().unwrap(),
            error: error.map(Into::into),
        }
    }

    #[test]
    fn bind_failures_make_the_listener_unprogrammed_and_are_counted() {
        let mut s = statuses();
        let report = ApplyReport {
            listeners: vec![
                state("http", Some("cannot bind 127.10.0.1:80: address in use")),
                state("other", None),
            ],
        };
        let counts = apply(&mut s, &report);
        assert_eq!(
            counts,
            ListenerCounts {
                programmed: 1,
                failed: 1
            }
        );
        let Some(ObjectStatus::Gateway(gw)) = s.get("Gateway", "default", "gw") else {
            panic!("gateway status missing");
        };
        let http = &gw.listeners[0].conditions;
        let programmed = condition(http, "Programmed").unwrap();
        assert!(!programmed.is_true());
        assert_eq!(programmed.reason, "PortUnavailable");
        assert!(
            condition(&gw.listeners[1].conditions, "Programmed")
                .unwrap()
                .is_true()
        );
    }

    #[test]
    fn a_clean_report_changes_nothing() {
        let mut s = statuses();
        let before = s.clone();
        let report = ApplyReport {
            listeners: vec![state("http", None), state("other", None)],
        };
        assert_eq!(apply(&mut s, &report).failed, 0);
        assert_eq!(s, before);
    }
}
