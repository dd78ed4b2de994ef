//! Portico's configuration metrics, registered in a shared Prometheus
//! registry and served by the admin server in the OpenMetrics text format.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Prefix of every Portico metric.
pub const PREFIX: &str = "portico";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Metrics of the configuration pipeline (source → translate → apply).
///
/// Cheap to clone: every field is a handle to the registered metric.
#[derive(Clone, Debug)]
pub struct ConfigMetrics {
    reloads: Family<ResultLabel, Counter>,
    load_errors: Gauge,
    objects: Family<KindLabel, Gauge>,
    translate_duration: Histogram,
    listeners: Family<StateLabel, Gauge>,
    last_reload: Gauge<f64, AtomicU64>,
}

impl ConfigMetrics {
    /// Registers the metrics in `registry`, prefixed with `portico_`.
    pub fn register(registry: &mut Registry) -> ConfigMetrics {
        let metrics = ConfigMetrics {
            reloads: Family::default(),
            load_errors: Gauge::default(),
            objects: Family::default(),
            // 50µs .. ~1.6s
            translate_duration: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            listeners: Family::default(),
            last_reload: Gauge::default(),
        };
        let sub = registry.sub_registry_with_prefix(PREFIX);
        sub.register(
            "config_reloads",
            "Configuration reloads by result (error: some files failed to load)",
            metrics.reloads.clone(),
        );
        sub.register(
            "config_load_errors",
            "Load errors in the current configuration",
            metrics.load_errors.clone(),
        );
        sub.register(
            "objects",
            "Objects in the current configuration by kind",
            metrics.objects.clone(),
        );
        sub.register_with_unit(
            "translate_duration",
            "Time to translate a snapshot into the data-plane IR",
            Unit::Seconds,
            metrics.translate_duration.clone(),
        );
        sub.register(
            "listeners",
            "Data-plane listeners by state after the last apply",
            metrics.listeners.clone(),
        );
        sub.register_with_unit(
            "config_last_reload_timestamp",
            "Unix time of the last configuration reload",
            Unit::Seconds,
            metrics.last_reload.clone(),
        );
        // Both results exist from the start, so rates work before the first error.
        for result in ["success", "error"] {
            let _ = metrics.reloads.get_or_create(&ResultLabel { result });
        }
        for state in ["programmed", "failed"] {
            let _ = metrics.listeners.get_or_create(&StateLabel { state });
        }
        metrics
    }

    /// Counts one reload; `ok` is false when some input failed to load.
    pub fn record_reload(&self, ok: bool) {
        let result = if ok { "success" } else { "error" };
        self.reloads.get_or_create(&ResultLabel { result }).inc();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        self.last_reload.set(now);
    }

    /// Sets the number of load errors in the current configuration.
    pub fn set_load_errors(&self, count: usize) {
        self.load_errors.set(saturating_i64(count));
    }

    /// Sets the object count of each kind. Pass every kind (zero included) so
    /// kinds whose objects were all deleted drop to 0.
    pub fn set_objects<'a>(&self, counts: impl IntoIterator<Item = (&'a str, usize)>) {
        for (kind, count) in counts {
            self.objects
                .get_or_create(&KindLabel {
                    kind: kind.to_string(),
                })
                .set(saturating_i64(count));
        }
    }

    /// Records how long one translation took.
    pub fn observe_translate(&self, elapsed: Duration) {
        self.translate_duration.observe(elapsed.as_secs_f64());
    }

    /// Sets the listener counts after a data-plane apply.
    pub fn set_listeners(&self, programmed: usize, failed: usize) {
        self.listeners
            .get_or_create(&StateLabel {
                state: "programmed",
            })
            .set(saturating_i64(programmed));
        self.listeners
            .get_or_create(&StateLabel { state: "failed" })
            .set(saturating_i64(failed));
    }
}

fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Encodes `registry` in the OpenMetrics text format.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::warn!(error = %e, "encoding metrics failed");
    }
    out
}

/// Content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn counters_and_gauges_are_encoded_with_labels() {
        let mut registry = Registry::default();
        let m = ConfigMetrics::register(&mut registry);
        m.record_reload(true);
        m.record_reload(true);
        m.record_reload(false);
        m.set_load_errors(3);
        m.set_objects([("Gateway", 2), ("HTTPRoute", 0)]);
        m.set_listeners(4, 1);
        m.observe_translate(Duration::from_millis(2));
        let text = encode(&registry);
        assert_eq!(
            line(&text, "portico_config_reloads_total{result=\"success\"}"),
            Some("portico_config_reloads_total{result=\"success\"} 2"),
            "{text}"
        );
        assert_eq!(
            line(&text, "portico_config_reloads_total{result=\"error\"}"),
            Some("portico_config_reloads_total{result=\"error\"} 1")
        );
        assert_eq!(
            line(&text, "portico_config_load_errors "),
            Some("portico_config_load_errors 3")
        );
        assert_eq!(
            line(&text, "portico_objects{kind=\"Gateway\"}"),
            Some("portico_objects{kind=\"Gateway\"} 2")
        );
        assert_eq!(
            line(&text, "portico_objects{kind=\"HTTPRoute\"}"),
            Some("portico_objects{kind=\"HTTPRoute\"} 0")
        );
        assert_eq!(
            line(&text, "portico_listeners{state=\"failed\"}"),
            Some("portico_listeners{state=\"failed\"} 1")
        );
        assert_eq!(
            line(&text, "portico_translate_duration_seconds_count"),
            Some("portico_translate_duration_seconds_count 1")
        );
        let stamp: f64 = line(&text, "portico_config_last_reload_timestamp_seconds ")
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .expect("last reload timestamp");
        assert!(stamp > 1.7e9, "{stamp}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn both_reload_results_exist_before_any_reload() {
        let mut registry = Registry::default();
        let _m = ConfigMetrics::register(&mut registry);
        let text = encode(&registry);
        assert!(text.contains("portico_config_reloads_total{result=\"error\"} 0"));
        assert!(text.contains("portico_listeners{state=\"programmed\"} 0"));
    }
}
