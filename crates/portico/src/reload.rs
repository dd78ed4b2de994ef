//! One reload of `portico run`: translate, apply to the data plane, feed the
//! data plane's report back, stamp statuses, publish, count.

use std::collections::HashSet;
use std::sync::Arc;

use portico_file::DirState;
use portico_observe::ConfigMetrics;
use portico_proxy::Proxy;
use portico_translate::Options;

use crate::cmd::agent::ServiceLoadBalancer;
use crate::feedback;
use crate::pipeline;
use crate::stamp::{now_rfc3339, stamp};
use crate::state::{Published, State};

pub struct Reloader {
    pub options: Options,
    pub proxy: Proxy,
    pub metrics: ConfigMetrics,
    pub published: Arc<Published>,
    /// The eBPF service load balancer (`--kube-proxy-replacement`), off by default.
    service_lb: ServiceLoadBalancer,
    /// Source problems logged by the previous reload (not repeated while they persist).
    logged_problems: HashSet<String>,
    /// Unknown kinds already logged (once each per process).
    logged_kinds: HashSet<String>,
}

impl Reloader {
    pub fn new(
        options: Options,
        proxy: Proxy,
        metrics: ConfigMetrics,
        published: Arc<Published>,
        service_lb: ServiceLoadBalancer,
    ) -> Reloader {
        Reloader {
            options,
            proxy,
            metrics,
            published,
            service_lb,
            logged_problems: HashSet::new(),
            logged_kinds: HashSet::new(),
        }
    }

    /// Runs one reload of `dir` and publishes its state.
    pub async fn reload(&mut self, dir: &DirState) {
        let previous = self.published.load();
        let translated = pipeline::translate(dir, &self.options);
        self.metrics.observe_translate(translated.elapsed);
        self.log_problems(&translated);

        let ir = Arc::new(translated.output.ir);
        let report = self.proxy.apply(ir.clone()).await;
        self.service_lb.sync(&ir.services);
        let mut statuses = translated.output.statuses;
        let listeners = feedback::apply(&mut statuses, &report);
        stamp(&mut statuses, &previous.statuses, &now_rfc3339());

        let errors = translated
            .source_problems
            .iter()
            .filter(|p| p.severity == crate::problems::Severity::Error)
            .count();
        self.metrics.record_reload(errors == 0);
        self.metrics.set_load_errors(errors);
        self.metrics
            .set_objects(translated.counts.iter().map(|(k, n)| (*k, *n)));
        self.metrics
            .set_listeners(listeners.programmed, listeners.failed);

        let generation = previous.generation + 1;
        tracing::info!(
            generation,
            revision = dir.revision,
            objects = translated.objects.len(),
            load_errors = errors,
            binds = ir.binds.len(),
            listeners_programmed = listeners.programmed,
            listeners_failed = listeners.failed,
            translate_us = u64::try_from(translated.elapsed.as_micros()).unwrap_or(u64::MAX),
            "configuration applied"
        );
        self.published.store(
            State {
                generation,
                objects: translated.objects,
                statuses,
                ir,
                source_problems: translated.source_problems,
                skipped: translated.skipped,
            },
            true,
        );
    }

    /// Detaches the eBPF programs (if they were on).
    pub fn shutdown(self) {
        self.service_lb.shutdown();
    }

    /// Logs new source problems one per line
    /// (`file:line:column: Kind namespace/name: message`) and unknown kinds
    /// once each.
    fn log_problems(&mut self, translated: &pipeline::Translated) {
        let mut current = HashSet::new();
        for p in &translated.source_problems {
            let line = p.to_string();
            if !self.logged_problems.contains(&line) {
                tracing::warn!(
                    file = p.file.as_deref().unwrap_or(""),
                    line = p.line.unwrap_or(0),
                    column = p.column.unwrap_or(0),
                    "{line}"
                );
            }
            current.insert(line);
        }
        self.logged_problems = current;
        for (kind, location) in &translated.skipped {
            if self.logged_kinds.insert(kind.clone()) {
                tracing::info!(kind = %kind, first = %location, "skipping kind not used by Portico");
            }
        }
    }
}
