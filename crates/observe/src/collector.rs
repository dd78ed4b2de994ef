//! Exporting counters that live elsewhere (e.g. the proxy's atomics) by
//! reading them at scrape time.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Whether a sample only grows (counter) or goes up and down (gauge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleKind {
    Counter,
    Gauge,
}

/// One value read at scrape time. Counter names omit the `_total` suffix
/// (the encoder adds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: SampleKind,
    pub value: u64,
}

/// A [`Collector`] that calls a function on every scrape.
pub struct FnCollector<F> {
    read: F,
}

impl<F> FnCollector<F>
where
    F: Fn() -> Vec<Sample> + Send + Sync + 'static,
{
    pub fn new(read: F) -> FnCollector<F> {
        FnCollector { read }
    }
}

impl<F> std::fmt::Debug for FnCollector<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnCollector").finish_non_exhaustive()
    }
}

impl<F> Collector for FnCollector<F>
where
    F: Fn() -> Vec<Sample> + Send + Sync + 'static,
{
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for sample in (self.read)() {
            match sample.kind {
                SampleKind::Counter => {
                    let metric = ConstCounter::new(sample.value);
                    let m = encoder.encode_descriptor(
                        sample.name,
                        sample.help,
                        None,
                        MetricType::Counter,
                    )?;
                    metric.encode(m)?;
                }
                SampleKind::Gauge => {
                    let metric = ConstGauge::new(i64::try_from(sample.value).unwrap_or(i64::MAX));
                    let m = encoder.encode_descriptor(
                        sample.name,
                        sample.help,
                        None,
                        MetricType::Gauge,
                    )?;
                    metric.encode(m)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use prometheus_client::registry::Registry;

    use super::*;
    use crate::metrics::encode;

    #[test]
    fn values_are_read_at_scrape_time_with_the_prefix() {
        let requests = Arc::new(AtomicU64::new(0));
        let mut registry = Registry::default();
        let r = requests.clone();
        registry
            .sub_registry_with_prefix("portico")
            .register_collector(Box::new(FnCollector::new(move || {
                vec![
                    Sample {
                        name: "proxy_requests",
                        help: "Requests",
                        kind: SampleKind::Counter,
                        value: r.load(Ordering::Relaxed),
                    },
                    Sample {
                        name: "proxy_active_connections",
                        help: "Open connections",
                        kind: SampleKind::Gauge,
                        value: 2,
                    },
                ]
            })));
        requests.store(7, Ordering::Relaxed);
        let text = encode(&registry);
        assert!(text.contains("portico_proxy_requests_total 7"), "{text}");
        assert!(
            text.contains("portico_proxy_active_connections 2"),
            "{text}"
        );
        requests.store(9, Ordering::Relaxed);
        assert!(encode(&registry).contains("portico_proxy_requests_total 9"));
    }
}
