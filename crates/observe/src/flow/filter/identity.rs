//! Filters on identifiers: flow UUID, trace id, security identity and
//! owning workload.

use super::{Predicate, Side, WorkloadSpec, invalid, when};
use crate::Error;
use crate::flow::record::Endpoint;

fn endpoint(side: Side, r: &crate::flow::ring::Recorded) -> Option<&Endpoint> {
    match side {
        Side::Source => r.flow.source.as_deref(),
        Side::Destination => r.flow.destination.as_deref(),
    }
}

pub(super) fn uuid(values: &[String]) -> Result<Option<Predicate>, Error> {
    let ids = values
        .iter()
        .map(|v| {
            let id = v.trim().to_ascii_lowercase();
            let shape_ok = id.len() == 36
                && id.char_indices().all(|(i, c)| {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        c == '-'
                    } else {
                        c.is_ascii_hexdigit()
                    }
                });
            if shape_ok {
                Ok(id)
            } else {
                Err(invalid("uuid", v, "not a UUID"))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(when(!ids.is_empty(), move |r| {
        let own = r.uuid();
        ids.contains(&own)
    }))
}

pub(super) fn trace_id(values: &[String]) -> Option<Predicate> {
    let ids: Vec<String> = values
        .iter()
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    when(!ids.is_empty(), move |r| {
        r.flow
            .trace_id
            .as_deref()
            .is_some_and(|t| ids.iter().any(|id| id.eq_ignore_ascii_case(t)))
    })
}

pub(super) fn identity(side: Side, values: &[u32]) -> Option<Predicate> {
    let ids = values.to_vec();
    when(!ids.is_empty(), move |r| {
        endpoint(side, r).is_some_and(|ep| ids.contains(&ep.identity))
    })
}

pub(super) fn workload(side: Side, values: &[WorkloadSpec]) -> Option<Predicate> {
    let wants = values.to_vec();
    when(!wants.is_empty(), move |r| {
        endpoint(side, r).is_some_and(|ep| {
            ep.workloads.iter().any(|w| {
                wants.iter().any(|want| {
                    (want.name.is_empty() || *want.name == *w.name)
                        && (want.kind.is_empty() || want.kind.eq_ignore_ascii_case(&w.kind))
                })
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::flow::filter::test_support::recorded;
    use crate::flow::record::{Flow, Workload};

    #[test]
    fn uuid_matches_the_recorded_flow() {
        let f = recorded(Flow::default());
        let own = f.uuid();
        assert!(uuid(&[own.to_uppercase()]).expect("valid").expect("set")(
            &f
        ));
        let other = "00000000-0000-4000-8000-000000000000".to_string();
        assert!(!uuid(&[other]).expect("valid").expect("set")(&f));
        assert!(uuid(&["nope".into()]).is_err());
    }

    #[test]
    fn trace_identity_and_workload() {
        let f = recorded(Flow {
            trace_id: Some("4BF92F3577B34DA6A3CE929D0E0E4736".into()),
            destination: Some(Arc::new(Endpoint {
                identity: 42,
                workloads: vec![Workload {
                    name: "web".into(),
                    kind: "Deployment".into(),
                }],
                ..Endpoint::default()
            })),
            ..Flow::default()
        });
        assert!(trace_id(&["4bf92f3577b34da6a3ce929d0e0e4736".into()]).expect("set")(&f));
        assert!(!trace_id(&["00".into()]).expect("set")(&f));
        assert!(identity(Side::Destination, &[1, 42]).expect("set")(&f));
        assert!(!identity(Side::Source, &[42]).expect("set")(&f));
        let by_name = WorkloadSpec {
            name: "web".into(),
            kind: String::new(),
        };
        let by_kind = WorkloadSpec {
            name: String::new(),
            kind: "deployment".into(),
        };
        let wrong = WorkloadSpec {
            name: "web".into(),
            kind: "StatefulSet".into(),
        };
        assert!(workload(Side::Destination, &[by_name]).expect("set")(&f));
        assert!(workload(Side::Destination, &[by_kind]).expect("set")(&f));
        assert!(!workload(Side::Destination, &[wrong]).expect("set")(&f));
    }
}
