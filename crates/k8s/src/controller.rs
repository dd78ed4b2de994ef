//! The reconcile loop: stores → snapshot → translate → data plane, and (on
//! the leader) statuses, Gateway Services and LB IPAM written back.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use parking_lot::Mutex;
use portico_ir::Ir;
use portico_model::Snapshot;
use portico_translate::{Condition, ListenerFailure, ObjectStatus, Options, Statuses};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::discovery::{self, Discovered};
use crate::gateway_service;
use crate::ipam;
use crate::kinds;
use crate::lease::Leadership;
use crate::metrics::Metrics;
use crate::reflectors::Reflectors;
use crate::status::{self, FIELD_MANAGER};

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct Config {
    /// Translation options (controller name). The address pools are
    /// replaced: addresses come from the Gateway Services.
    pub options: Options,
    /// Quiet time after a watch event before reconciling.
    pub debounce: Duration,
    /// How often discovery re-runs (a CRD installed later is picked up).
    pub rediscover: Duration,
    /// The address listeners bind in the pod.
    pub bind_ip: IpAddr,
    /// Labels selecting the Portico pods (the Gateway Services' selector).
    pub pod_selector: BTreeMap<String, String>,
    /// Provision one LoadBalancer Service per Gateway.
    pub gateway_services: bool,
    /// Run LB IPAM for LoadBalancer Services.
    pub ipam: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            options: Options::default(),
            debounce: Duration::from_millis(200),
            rediscover: Duration::from_secs(30),
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            pod_selector: BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                "portico".to_string(),
            )]),
            gateway_services: true,
            ipam: true,
        }
    }
}

/// What one reconcile pass published.
#[derive(Clone, Debug, Default)]
pub struct Published {
    pub ir: Arc<Ir>,
    pub statuses: Statuses,
    /// Every reflector has synced and its watch is healthy.
    pub synced: bool,
    /// Kinds not watched, and why.
    pub missing: BTreeMap<&'static str, String>,
}

/// Applies an IR to the data plane and returns the statuses corrected by
/// what it could not serve.
pub type DataPlane = Arc<dyn Fn(Arc<Ir>, Statuses) -> BoxFuture<'static, Statuses> + Send + Sync>;

/// A data plane that accepts everything (tests, controller-only replicas).
pub fn null_data_plane() -> DataPlane {
    Arc::new(|_, statuses| Box::pin(async move { statuses }))
}

/// The controller.
#[derive(Clone)]
pub struct Controller {
    client: Client,
    config: Arc<Config>,
    reflectors: Reflectors,
    leadership: Leadership,
    metrics: Metrics,
    discovered: Arc<Mutex<Discovered>>,
    published: watch::Sender<Arc<Published>>,
    recorder: kube::runtime::events::Recorder,
}

impl Controller {
    pub fn new(
        client: Client,
        config: Config,
        leadership: Leadership,
        metrics: Metrics,
    ) -> Controller {
        Controller {
            reflectors: Reflectors::new(client.clone()),
            client: client.clone(),
            config: Arc::new(config),
            leadership,
            metrics,
            discovered: Arc::default(),
            published: watch::channel(Arc::new(Published::default())).0,
            recorder: kube::runtime::events::Recorder::new(
                client.clone(),
                kube::runtime::events::Reporter {
                    controller: "portico".into(),
                    instance: None,
                },
            ),
        }
    }

    /// Every published reconcile result.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Published>> {
        self.published.subscribe()
    }

    pub fn reflectors(&self) -> &Reflectors {
        &self.reflectors
    }

    /// One discovery round: starts reflectors for served kinds, stops those
    /// whose CRD went away.
    pub async fn discover(&self) -> crate::Result<Discovered> {
        let found = discovery::discover(&self.client).await?;
        for (kind, reason) in &found.missing {
            if self.discovered.lock().missing.get(kind) != Some(reason) {
                tracing::warn!(kind, reason = %reason, "kind disabled");
            }
            self.reflectors.stop(kind);
        }
        for kind in found.served.keys() {
            if let Some((spec, version)) = found.spec_version(kind) {
                self.reflectors.ensure(spec, version);
            }
        }
        *self.discovered.lock() = found.clone();
        Ok(found)
    }

    /// Runs discovery, the reconcile loop and periodic rediscovery until
    /// `shutdown` fires.
    pub async fn run(self, data_plane: DataPlane, mut shutdown: watch::Receiver<bool>) {
        let changed = self.reflectors.changed();
        let mut leader = self.leadership.subscribe();
        let mut rediscover = tokio::time::interval(self.config.rediscover);
        rediscover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = rediscover.tick() => {
                    if let Err(error) = self.discover().await {
                        tracing::warn!(%error, "discovery failed; keeping the current watches");
                    }
                    continue;
                }
                _ = changed.notified() => {}
                _ = leader.changed() => {}
            }
            // Debounce: let a burst of events settle.
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tokio::time::sleep(self.config.debounce) => {}
            }
            self.reconcile(&data_plane).await;
        }
    }

    /// One reconcile pass.
    pub async fn reconcile(&self, data_plane: &DataPlane) -> Arc<Published> {
        self.metrics.reconciles.inc();
        let snapshot = self.reflectors.snapshot();
        let mut options = self.config.options.clone();
        options.now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs());
        options.default_pool = gateway_service::placeholder_pool();
        options.usable_address = None;
        let out =
            portico_translate::translate(&gateway_service::for_translation(&snapshot), &options);
        let (mut ir, mut statuses) = (out.ir, out.statuses);
        let dropped = gateway_service::bind_all(&mut ir, self.config.bind_ip);
        let failures: Vec<ListenerFailure> = dropped
            .into_iter()
            .map(|listener_id| ListenerFailure {
                listener_id,
                bind_failed: true,
                error: "the port is used by an older Gateway served by the same pods".into(),
            })
            .collect();
        portico_translate::apply_data_plane_report(&mut statuses, &failures);
        let ir = Arc::new(ir);
        let mut statuses = data_plane(ir.clone(), statuses).await;
        gateway_service::set_addresses(&mut statuses, &snapshot);
        let missing = self.discovered.lock().missing.clone();
        report_missing(&mut statuses, &missing);
        let published = Arc::new(Published {
            ir,
            statuses,
            synced: self.reflectors.ready(),
            missing,
        });
        self.published.send_replace(published.clone());
        if self.leadership.is_leader() {
            self.write(&snapshot, &published.ir, &published.statuses)
                .await;
        }
        published
    }

    async fn write(&self, snapshot: &Snapshot, ir: &Ir, statuses: &Statuses) {
        let now = now_rfc3339();
        let controller = self.config.options.controller_name.clone();
        for (key, status) in &statuses.objects {
            let mut parts = key.splitn(3, '/');
            let kind = parts.next().unwrap_or_default();
            let (ns, name) = match (parts.next(), parts.next()) {
                (Some(ns), Some(name)) => (Some(ns), name),
                (Some(name), None) => (None, name),
                _ => continue,
            };
            let Ok(desired) = serde_json::to_value(status) else {
                continue;
            };
            let existing = self.reflectors.status_of(kind, ns, name);
            if let Some(new) = status::plan(kind, &desired, existing.as_ref(), &controller, &now) {
                if kind == "Gateway" && self.apply_status(kind, ns, name, new.clone()).await {
                    self.gateway_events(snapshot, ns, name, existing.as_ref(), &new)
                        .await;
                } else if kind != "Gateway" {
                    self.apply_status(kind, ns, name, new).await;
                }
            }
        }
        if self.config.gateway_services {
            self.write_gateway_services(snapshot, ir, statuses).await;
        }
        if self.config.ipam {
            let desired = ipam::desired(snapshot);
            for ((ns, name), status) in desired.services {
                let existing = self.reflectors.status_of("Service", Some(&ns), &name);
                let projected = project_service_status(existing.as_ref());
                if let Some(new) =
                    status::plan("Service", &status, Some(&projected), &controller, &now)
                {
                    self.apply_status("Service", Some(&ns), &name, new).await;
                }
            }
            for (name, status) in desired.pools {
                let existing = self.reflectors.status_of("LoadBalancerIPPool", None, &name);
                if let Some(new) = status::plan(
                    "LoadBalancerIPPool",
                    &status,
                    existing.as_ref(),
                    &controller,
                    &now,
                ) {
                    self.apply_status("LoadBalancerIPPool", None, &name, new)
                        .await;
                }
            }
        }
    }

    /// Writes one status; true when it was written.
    async fn apply_status(&self, kind: &str, ns: Option<&str>, name: &str, status: Value) -> bool {
        if !self.leadership.is_leader() {
            return false;
        }
        let Some(spec) = kinds::spec(kind) else {
            return false;
        };
        let Some(version) = self.reflectors.watched().get(kind).copied() else {
            return false;
        };
        self.metrics.status_writes.inc();
        match status::apply(&self.client, spec, version, ns, name, status).await {
            Ok(()) => {
                tracing::debug!(kind, namespace = ns, name, "status written");
                true
            }
            Err(error) => {
                self.metrics.write_errors.inc();
                tracing::warn!(kind, namespace = ns, name, %error, "status write failed");
                false
            }
        }
    }

    /// Events on a Gateway for the transitions a status write made.
    async fn gateway_events(
        &self,
        snapshot: &Snapshot,
        ns: Option<&str>,
        name: &str,
        old: Option<&Value>,
        new: &Value,
    ) {
        use kube::Resource;
        use kube::runtime::events::{Event, EventType};
        let Some(gw) = snapshot.gateways.iter().find(|g| {
            g.metadata.namespace.as_deref() == ns && g.metadata.name.as_deref() == Some(name)
        }) else {
            return;
        };
        let reference = gw.object_ref(&());
        for t in crate::events::gateway_transitions(old, new) {
            let event = Event {
                type_: if t.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: t.reason.clone(),
                note: Some(t.note.clone()),
                action: "Reconcile".into(),
                secondary: None,
            };
            if let Err(error) = self.recorder.publish(&event, &reference).await {
                tracing::debug!(%error, gateway = name, "publishing an event failed");
            }
        }
    }

    async fn write_gateway_services(&self, snapshot: &Snapshot, ir: &Ir, statuses: &Statuses) {
        for gw in &snapshot.gateways {
            let ns = gw.metadata.namespace.clone().unwrap_or_default();
            let name = gw.metadata.name.clone().unwrap_or_default();
            // Only Gateways this controller accepted (statuses exist only for ours).
            let ours = matches!(
                statuses.get("Gateway", &ns, &name),
                Some(ObjectStatus::Gateway(_))
            );
            if !ours {
                continue;
            }
            let extra = gateway_service::listener_set_ports(ir, &ns, &name);
            let desired = gateway_service::service_for(gw, &self.config.pod_selector, &extra);
            let svc_name = gateway_service::service_name(&name);
            let existing = snapshot.services.iter().find(|s| {
                s.metadata.namespace.as_deref() == Some(&ns)
                    && s.metadata.name.as_deref() == Some(&svc_name)
            });
            if existing.is_some_and(|e| service_matches(e, &desired)) {
                continue;
            }
            if !self.leadership.is_leader() {
                return;
            }
            self.metrics.service_writes.inc();
            let api: Api<Service> = Api::namespaced(self.client.clone(), &ns);
            match api
                .patch(
                    &svc_name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&desired),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(namespace = %ns, service = %svc_name, gateway = %name, "Gateway Service applied")
                }
                Err(error) => {
                    self.metrics.write_errors.inc();
                    tracing::warn!(namespace = %ns, service = %svc_name, %error, "Gateway Service apply failed");
                }
            }
        }
    }
}

/// Whether the Service already has everything `desired` sets.
fn service_matches(existing: &Service, desired: &Value) -> bool {
    let Ok(actual) = serde_json::to_value(existing) else {
        return false;
    };
    let subset = |path: &[&str]| {
        let want = path.iter().fold(desired, |v, k| &v[*k]);
        let have = path.iter().fold(&actual, |v, k| &v[*k]);
        match want.as_object() {
            Some(map) => map.iter().all(|(k, v)| have.get(k) == Some(v)),
            None => want == have,
        }
    };
    let ports_match = {
        let want = desired["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let have = actual["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        want.len() == have.len()
            && want.iter().zip(&have).all(|(w, h)| {
                ["name", "protocol", "port", "targetPort"]
                    .iter()
                    .all(|k| w.get(*k) == h.get(*k))
            })
    };
    subset(&["metadata", "labels"])
        && subset(&["metadata", "annotations"])
        && subset(&["spec", "selector"])
        && subset(&["spec", "type"])
        && actual["metadata"]["ownerReferences"] == desired["metadata"]["ownerReferences"]
        && ports_match
}

/// The part of a Service status LB IPAM owns.
fn project_service_status(existing: Option<&Value>) -> Value {
    let lb = existing
        .and_then(|s| s.get("loadBalancer"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    let conditions: Vec<Value> = existing
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter(|c| {
                    c.get("type").and_then(Value::as_str) == Some(ipam::SATISFIED_CONDITION)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    json!({"loadBalancer": lb, "conditions": conditions})
}

/// Kinds without a CRD are reported on every GatewayClass this controller
/// accepted, as condition `portico.dev/AllKindsServed`.
pub fn report_missing(statuses: &mut Statuses, missing: &BTreeMap<&'static str, String>) {
    for status in statuses.objects.values_mut() {
        let ObjectStatus::GatewayClass(class) = status else {
            continue;
        };
        let generation = class
            .conditions
            .first()
            .map(|c| c.observed_generation)
            .unwrap_or(1);
        let condition = if missing.is_empty() {
            Condition::new(
                "portico.dev/AllKindsServed",
                true,
                "AllServed",
                "every kind Portico reads is served",
                generation,
            )
        } else {
            let kinds: Vec<&str> = missing.keys().copied().collect();
            Condition::new(
                "portico.dev/AllKindsServed",
                false,
                "CRDNotInstalled",
                format!(
                    "not watched (CRD missing or unknown version): {}",
                    kinds.join(", ")
                ),
                generation,
            )
        };
        class.conditions.retain(|c| c.type_ != condition.type_);
        class.conditions.push(condition);
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_status_projection_keeps_only_ipam_fields() {
        let existing = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}, "conditions": [
            {"type": "other", "status": "True"},
            {"type": ipam::SATISFIED_CONDITION, "status": "True"}
        ]});
        let p = project_service_status(Some(&existing));
        assert_eq!(p["conditions"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            project_service_status(None),
            json!({"loadBalancer": {}, "conditions": []})
        );
    }

    #[test]
    fn missing_kinds_are_reported_on_gateway_classes() {
        let mut s = Statuses::default();
        s.insert(
            "GatewayClass",
            "",
            "portico",
            ObjectStatus::GatewayClass(portico_translate::GatewayClassStatus {
                conditions: vec![Condition::new("Accepted", true, "Accepted", "", 2)],
                ..Default::default()
            }),
        );
        report_missing(
            &mut s,
            &BTreeMap::from([("GRPCRoute", "missing".to_string())]),
        );
        let Some(ObjectStatus::GatewayClass(c)) = s.get("GatewayClass", "", "portico") else {
            panic!("class")
        };
        let cond = c
            .conditions
            .iter()
            .find(|c| c.type_ == "portico.dev/AllKindsServed")
            .expect("cond");
        assert_eq!(cond.reason, "CRDNotInstalled");
        assert!(cond.message.contains("GRPCRoute"));
        assert_eq!(cond.observed_generation, 2);
    }
}
