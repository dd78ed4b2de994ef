//! The state a running instance publishes for the admin API: the objects as
//! loaded, their stamped statuses, the applied IR and the load problems.
//! Swapped atomically (arc-swap) after every reload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use portico_ir::Ir;
use portico_model::{Location, Object};
use portico_observe::{AdminSource, ObjectQuery, QueryError};
use portico_translate::Statuses;
use serde_json::{Value, json};

use crate::kinds;
use crate::objects::ObjectId;
use crate::problems::{self, Problem};

/// One object as loaded, with where it came from.
#[derive(Clone, Debug)]
pub struct LoadedObject {
    pub id: ObjectId,
    /// The typed object; rendered to JSON only when the admin API asks (a
    /// JSON tree is several times the typed object's size, and every
    /// object is kept for the life of the state).
    pub object: Object,
    pub location: Option<Location>,
}

/// Everything one reload produced.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// Counts reloads; 0 before the first.
    pub generation: u64,
    /// Sorted by identity.
    pub objects: Vec<LoadedObject>,
    pub statuses: Statuses,
    pub ir: Arc<Ir>,
    /// Problems of the source: load errors, unreadable files, duplicates.
    pub source_problems: Vec<Problem>,
    pub skipped: Vec<(String, Location)>,
}

impl State {
    /// Every problem of this state, sorted by location.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out: Vec<Problem> = self.source_problems.clone();
        out.extend(self.skipped.iter().map(|(k, l)| problems::skipped(k, l)));
        for o in &self.objects {
            out.extend(problems::conditions(
                &o.id,
                o.location.as_ref(),
                &self.statuses,
            ));
        }
        problems::sort(&mut out);
        out
    }

    /// The object as kubectl prints it, with its status merged, as the
    /// admin API serves it.
    pub fn render(&self, object: &LoadedObject) -> Value {
        let mut value = object.object.to_json();
        let id = &object.id;
        if let (Some(status), Some(map)) = (
            self.statuses.to_json(id.kind, &id.namespace, &id.name),
            value.as_object_mut(),
        ) {
            map.insert("status".into(), status);
        }
        value
    }

    /// Objects matching `query` as a kubectl `List`.
    pub fn query(&self, query: &ObjectQuery) -> Result<Value, QueryError> {
        let kind = kinds::resolve(&query.kind)
            .ok_or_else(|| QueryError::UnknownKind(query.kind.clone()))?;
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|o| o.id.kind == kind.kind)
            .filter(|o| {
                !kind.namespaced
                    || query
                        .namespace
                        .as_deref()
                        .is_none_or(|ns| o.id.namespace == ns)
            })
            .filter(|o| query.name.as_deref().is_none_or(|n| o.id.name == n))
            .map(|o| self.render(o))
            .collect();
        Ok(json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}))
    }
}

/// The shared, atomically swapped state plus readiness.
#[derive(Default)]
pub struct Published {
    state: ArcSwap<State>,
    ready: AtomicBool,
}

impl Published {
    pub fn load(&self) -> Arc<State> {
        self.state.load_full()
    }

    /// Publishes a new state; `applied` marks the instance ready.
    pub fn store(&self, state: State, applied: bool) {
        self.state.store(Arc::new(state));
        if applied {
            self.ready.store(true, Ordering::SeqCst);
        }
    }
}

impl AdminSource for Published {
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn config_dump(&self) -> Value {
        let state = self.load();
        json!({
            "generation": state.generation,
            "ir": portico_observe::redact::config_dump(&state.ir),
        })
    }

    fn objects(&self, query: &ObjectQuery) -> Result<Value, QueryError> {
        self.load().query(query)
    }

    fn problems(&self) -> Value {
        serde_json::to_value(self.load().problems()).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use portico_translate::{Condition, GatewayStatus, ObjectStatus};

    use super::*;

    fn object(kind: &'static str, namespace: &str, name: &str) -> LoadedObject {
        let (api, spec) = match kind {
            "Gateway" => (
                "gateway.networking.k8s.io/v1",
                "{gatewayClassName: c, listeners: [{name: http, port: 80, protocol: HTTP}]}",
            ),
            _ => ("gateway.networking.k8s.io/v1", "{}"),
        };
        let yaml = format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  \
             creationTimestamp: \"2026-01-01T00:00:00Z\"\nspec: {spec}\n"
        );
        let loaded = portico_model::load_str(std::path::Path::new("t.yaml"), &yaml);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let object = loaded.documents.into_iter().next().unwrap().object;
        LoadedObject {
            id: ObjectId::of(&object),
            object,
            location: None,
        }
    }

    fn state() -> State {
        let mut statuses = Statuses::default();
        statuses.insert(
            "Gateway",
            "a",
            "gw",
            ObjectStatus::Gateway(GatewayStatus {
                conditions: vec![Condition::new("Accepted", true, "Accepted", "", 1)],
                ..GatewayStatus::default()
            }),
        );
        State {
            objects: vec![
                object("Gateway", "a", "gw"),
                object("Gateway", "b", "gw"),
                object("HTTPRoute", "a", "r"),
            ],
            statuses,
            ..State::default()
        }
    }

    #[test]
    fn query_filters_by_kind_namespace_and_name() {
        let s = state();
        let q = |kind: &str, ns: Option<&str>, name: Option<&str>| {
            s.query(&ObjectQuery {
                kind: kind.into(),
                namespace: ns.map(Into::into),
                name: name.map(Into::into),
            })
            .unwrap()["items"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(q("Gateway", None, None), 2);
        assert_eq!(q("gtw", Some("a"), None), 1);
        assert_eq!(q("Gateway", Some("a"), Some("nope")), 0);
        assert_eq!(q("httproutes", Some("a"), Some("r")), 1);
    }

    #[test]
    fn status_is_merged() {
        let s = state();
        let list = s
            .query(&ObjectQuery {
                kind: "Gateway".into(),
                namespace: Some("a".into()),
                name: None,
            })
            .unwrap();
        let gw = &list["items"][0];
        assert_eq!(gw["status"]["conditions"][0]["type"], "Accepted");
        assert_eq!(gw["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
        let other = &s.render(&s.objects[1]);
        assert!(other.get("status").is_none());
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        let err = state()
            .query(&ObjectQuery {
                kind: "pods".into(),
                ..ObjectQuery::default()
            })
            .unwrap_err();
        assert_eq!(err, QueryError::UnknownKind("pods".into()));
    }

    #[test]
    fn readiness_follows_the_first_apply() {
        let p = Published::default();
        assert!(!p.ready());
        p.store(State::default(), false);
        assert!(!p.ready());
        p.store(State::default(), true);
        assert!(p.ready());
    }
}
