//! Leader election with a coordination.k8s.io/v1 Lease.
//!
//! Every `renew` period the candidate reads the Lease and either renews it
//! (it holds it), takes it over (free, or its holder's renewTime is older
//! than the lease duration) or follows. Updates use the Lease's
//! resourceVersion, so two candidates can never both win a round.
//!
//! [`Leadership::is_leader`] is true only until the last successful renewal
//! plus the lease duration minus a safety margin: when the API server
//! becomes unreachable or another replica takes over, this replica stops
//! writing within the lease duration, whatever its loop is doing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::Result;

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub duration: Duration,
    /// How often to renew (or try to acquire); well below `duration`.
    pub renew: Duration,
}

impl LeaseConfig {
    pub fn new(namespace: &str, identity: &str) -> LeaseConfig {
        LeaseConfig {
            namespace: namespace.to_string(),
            name: "portico-controller".to_string(),
            identity: identity.to_string(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        }
    }
}

/// Shared view of whether this replica leads.
#[derive(Clone)]
pub struct Leadership {
    valid_until: Arc<Mutex<Option<Instant>>>,
    changes: watch::Sender<bool>,
}

impl Default for Leadership {
    fn default() -> Self {
        Leadership {
            valid_until: Arc::default(),
            changes: watch::channel(false).0,
        }
    }
}

impl Leadership {
    /// A leadership that always leads (single replica, tests).
    pub fn always() -> Leadership {
        let l = Leadership::default();
        l.set(Some(
            Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600),
        ));
        l
    }

    /// Whether this replica may write now.
    pub fn is_leader(&self) -> bool {
        self.valid_until.lock().is_some_and(|t| Instant::now() < t)
    }

    /// Notified when leadership is gained or lost.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.changes.subscribe()
    }

    fn set(&self, until: Option<Instant>) {
        *self.valid_until.lock() = until;
        let leader = self.is_leader();
        self.changes
            .send_if_modified(|v| std::mem::replace(v, leader) != leader);
    }
}

fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(renewed) = spec.renew_time.as_ref() else {
        return true;
    };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    renewed
        .0
        .saturating_add(SignedDuration::from_secs(duration))
        .is_ok_and(|t| t < now)
}

/// One election round. Returns whether this replica holds the lease.
pub async fn round(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool> {
    let now = Timestamp::now();
    let duration_secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                namespace: Some(cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        };
    };
    let mut spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    let ours = holder.as_deref() == Some(cfg.identity.as_str());
    if !ours && holder.is_some() && !expired(&spec, now) {
        return Ok(false);
    }
    if !ours {
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        spec.holder_identity = Some(cfg.identity.clone());
    }
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(duration_secs);
    lease.spec = Some(spec);
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        // Someone else updated it first: they win this round.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Gives the lease up (on shutdown) so another replica takes over at once.
pub async fn release(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<()> {
    if let Some(mut lease) = api.get_opt(&cfg.name).await?
        && let Some(spec) = lease.spec.as_mut()
        && spec.holder_identity.as_deref() == Some(cfg.identity.as_str())
    {
        spec.holder_identity = None;
        spec.renew_time = None;
        api.replace(&cfg.name, &PostParams::default(), &lease)
            .await?;
    }
    Ok(())
}

/// Runs the election until `shutdown` fires, then releases the lease.
pub async fn run(
    client: Client,
    cfg: LeaseConfig,
    leadership: Leadership,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    // Stop claiming leadership a little before the lease can expire.
    let margin = cfg.duration / 5;
    let mut tick = tokio::time::interval(cfg.renew);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let started = Instant::now();
        match round(&api, &cfg).await {
            Ok(true) => {
                if !leadership.is_leader() {
                    tracing::info!(identity = %cfg.identity, lease = %cfg.name, "became leader");
                }
                leadership.set(Some(started + cfg.duration.saturating_sub(margin)));
            }
            Ok(false) => {
                if leadership.is_leader() {
                    tracing::warn!(identity = %cfg.identity, "lost the lease");
                }
                leadership.set(None);
            }
            Err(error) => {
                // Keep the deadline from the last renewal: writes stop when it passes.
                tracing::warn!(%error, "lease renewal failed");
                let until = *leadership.valid_until.lock();
                leadership.set(until);
            }
        }
    }
    let was_leader = leadership.is_leader();
    leadership.set(None);
    if was_leader && let Err(error) = release(&api, &cfg).await {
        tracing::warn!(%error, "releasing the lease");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_uses_renew_time_and_duration() {
        let now = Timestamp::now();
        let spec = |ago: i64| LeaseSpec {
            renew_time: Some(MicroTime(
                now.saturating_sub(SignedDuration::from_secs(ago))
                    .unwrap_or(now),
            )),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        };
        assert!(!expired(&spec(5), now));
        assert!(expired(&spec(20), now));
        assert!(expired(&LeaseSpec::default(), now));
    }

    #[test]
    fn leadership_expires_by_itself() {
        let l = Leadership::default();
        assert!(!l.is_leader());
        l.set(Some(Instant::now() + Duration::from_secs(60)));
        assert!(l.is_leader());
        l.set(Some(Instant::now()));
        assert!(!l.is_leader());
    }
}
