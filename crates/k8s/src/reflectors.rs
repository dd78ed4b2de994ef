//! One kube-runtime watcher + reflector store per watched kind.
//!
//! Every event wakes the reconcile loop through a [`Notify`]; the loop builds
//! a [`Snapshot`] from the stores (in memory: a change never causes a list
//! call). Watch errors are retried with kube-runtime's default backoff; the
//! store keeps its last content meanwhile, so the data plane keeps serving
//! the last good configuration.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use parking_lot::RwLock;
use portico_model::{Object, Snapshot};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::kinds::{self, KindSpec};

struct Running {
    version: &'static str,
    resource: kube::api::ApiResource,
    store: Store<DynamicObject>,
    healthy: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The set of running reflectors.
#[derive(Clone)]
pub struct Reflectors {
    client: Client,
    running: Arc<RwLock<BTreeMap<&'static str, Running>>>,
    changed: Arc<Notify>,
}

impl Reflectors {
    pub fn new(client: Client) -> Reflectors {
        Reflectors {
            client,
            running: Arc::default(),
            changed: Arc::new(Notify::new()),
        }
    }

    /// Woken on every watch event (and when the set of kinds changes).
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Starts a reflector for `kind` at `version` unless one runs already at
    /// that version (a different version replaces it).
    pub fn ensure(&self, kind: &'static KindSpec, version: &'static str) {
        let mut running = self.running.write();
        if running.get(kind.kind).is_some_and(|r| r.version == version) {
            return;
        }
        let resource = kind.resource(version);
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);

        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let healthy = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(watch(
            kind.kind,
            api,
            writer,
            healthy.clone(),
            self.changed.clone(),
        ));
        tracing::info!(kind = kind.kind, version, "watching");
        running.insert(
            kind.kind,
            Running {
                version,
                resource,
                store,
                healthy,
                task,
            },
        );
        self.changed.notify_one();
    }

    /// Stops the reflector of `kind` (its CRD went away).
    pub fn stop(&self, kind: &str) {
        if self.running.write().remove(kind).is_some() {
            tracing::warn!(kind, "stopped watching");
            self.changed.notify_one();
        }
    }

    /// Kinds being watched, with their version.
    pub fn watched(&self) -> BTreeMap<&'static str, &'static str> {
        self.running
            .read()
            .iter()
            .map(|(k, r)| (*k, r.version))
            .collect()
    }

    /// Whether every reflector has completed its initial list and its watch
    /// is currently healthy.
    pub fn ready(&self) -> bool {
        let running = self.running.read();
        !running.is_empty() && running.values().all(|r| r.healthy.load(Ordering::Relaxed))
    }

    /// The `status` of one watched object as it is on the API server (as
    /// last seen by the watch), and the version it is watched at.
    pub fn status_of(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<serde_json::Value> {
        let running = self.running.read();
        let r = running.get(kind)?;
        let mut key = reflector::ObjectRef::<DynamicObject>::new_with(name, r.resource.clone());
        if let Some(ns) = namespace {
            key = key.within(ns);
        }
        r.store.get(&key)?.data.get("status").cloned()
    }

    /// Every object in the stores, converted to the storage version. Objects
    /// that do not decode are skipped with a warning.
    pub fn snapshot(&self) -> Snapshot {
        let running = self.running.read();
        let mut objects: Vec<Object> = Vec::new();
        for (kind, r) in running.iter() {
            let Some(spec) = kinds::spec(kind) else {
                continue;
            };
            for obj in r.store.state() {
                match kinds::to_object(spec, &obj) {
                    Ok(o) => objects.push(o),
                    Err(error) => tracing::warn!(%error, "skipping object"),
                }
            }
        }
        Snapshot::from_objects(objects)
    }
}

async fn watch(
    kind: &'static str,
    api: Api<DynamicObject>,
    writer: reflector::store::Writer<DynamicObject>,
    healthy: Arc<AtomicBool>,
    changed: Arc<Notify>,
) {
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::InitDone) => {
                healthy.store(true, Ordering::Relaxed);
                changed.notify_one();
            }
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => {
                healthy.store(true, Ordering::Relaxed);
                changed.notify_one();
            }
            Err(error) => {
                healthy.store(false, Ordering::Relaxed);
                tracing::warn!(kind, %error, "watch failed; retrying with backoff, serving the last state");
            }
        }
    }
}
