//! The background OTLP/gRPC exporter: drains the bounded span queue in
//! batches (up to `max_batch` spans, or whatever arrived within
//! `flush_interval`), sends each batch with one `TraceService/Export`
//! call, and backs off exponentially while the collector fails. A failed
//! batch is dropped and counted; the request path never waits for any of
//! this.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};

use super::encode::{self, ResourceInfo};
use super::metrics::{DropReason, TraceMetrics};
use super::proto::collector::trace_service_client::TraceServiceClient;
use super::span::SpanRecord;
use crate::Error;

/// First wait after a failed export; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Time given to the last flush on shutdown.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

pub(super) struct Settings {
    pub max_batch: usize,
    pub flush_interval: Duration,
    pub export_timeout: Duration,
    pub resource: ResourceInfo,
}

/// Checks `endpoint` and prepares a lazily connecting channel.
pub(super) fn channel(endpoint: &str, connect_timeout: Duration) -> Result<Channel, Error> {
    let bad = |reason: &str| Error::OtlpEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported (the exporter speaks plaintext gRPC; use http:// to a local collector)",
            ));
        }
        _ => return Err(bad("expected http://HOST:PORT")),
    }
    if uri.host().is_none() {
        return Err(bad("no host"));
    }
    Ok(Endpoint::from(uri)
        .connect_timeout(connect_timeout)
        .connect_lazy())
}

/// The running exporter task. [`TraceExporter::shutdown`] flushes what is
/// queued (bounded by a short deadline); dropping it stops the task
/// without flushing.
#[derive(Debug)]
pub struct TraceExporter {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Drop for TraceExporter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl TraceExporter {
    pub(super) fn spawn(
        rx: mpsc::Receiver<SpanRecord>,
        client: TraceServiceClient<Channel>,
        settings: Settings,
        metrics: TraceMetrics,
        endpoint: String,
    ) -> TraceExporter {
        let (stop, stop_rx) = watch::channel(false);
        let worker = Worker {
            rx,
            client,
            settings,
            metrics,
            endpoint,
            failing: None,
            backoff: None,
        };
        TraceExporter {
            stop,
            task: Some(tokio::spawn(worker.run(stop_rx))),
        }
    }

    /// Sends what is queued, then stops.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "OTLP exporter task failed");
        }
    }
}

struct Worker {
    rx: mpsc::Receiver<SpanRecord>,
    client: TraceServiceClient<Channel>,
    settings: Settings,
    metrics: TraceMetrics,
    endpoint: String,
    /// The cause of the current failure streak (logged once per cause).
    failing: Option<String>,
    /// While failing: the next export waits until then; the current delay.
    backoff: Option<(Instant, Duration)>,
}

/// Resolves once a stop is asked for (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

impl Worker {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let max = self.settings.max_batch.max(1);
        let mut batch = Vec::with_capacity(max);
        loop {
            let first = tokio::select! {
                s = self.rx.recv() => s,
                () = stopped(&mut stop) => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            let deadline = Instant::now() + self.settings.flush_interval;
            let mut stopping = false;
            while batch.len() < max {
                tokio::select! {
                    s = self.rx.recv() => match s {
                        Some(s) => batch.push(s),
                        None => break,
                    },
                    () = tokio::time::sleep_until(deadline) => break,
                    () = stopped(&mut stop) => {
                        stopping = true;
                        break;
                    }
                }
            }
            if stopping {
                break;
            }
            if let Some((until, _)) = self.backoff {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    () = stopped(&mut stop) => break,
                }
            }
            let spans = std::mem::replace(&mut batch, Vec::with_capacity(max));
            self.export(spans).await;
        }
        // Last flush: what is in hand and what is queued, within a deadline.
        while let Ok(s) = self.rx.try_recv() {
            batch.push(s);
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            if tokio::time::timeout(SHUTDOWN_FLUSH, self.export(batch))
                .await
                .is_err()
            {
                self.metrics.dropped(DropReason::ExportFailed, n);
            }
        }
    }

    async fn export(&mut self, spans: Vec<SpanRecord>) {
        let n = spans.len() as u64;
        let request = encode::request(&self.settings.resource, spans);
        let result = tokio::time::timeout(
            self.settings.export_timeout,
            self.client.export(tonic::Request::new(request)),
        )
        .await;
        match result {
            Ok(Ok(response)) => {
                let rejected = response
                    .into_inner()
                    .partial_success
                    .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0))
                    .min(n);
                self.metrics.exported(n - rejected);
                if rejected > 0 {
                    self.metrics.dropped(DropReason::Rejected, rejected);
                }
                if let Some(cause) = self.failing.take() {
                    tracing::info!(endpoint = %self.endpoint, previous = %cause, "OTLP export recovered");
                }
                self.backoff = None;
            }
            Ok(Err(status)) => {
                let cause = format!("{:?}", status.code());
                self.failed(n, cause, status.message().to_owned());
            }
            Err(_) => self.failed(n, "Timeout".to_owned(), "export timed out".to_owned()),
        }
    }

    fn failed(&mut self, n: u64, cause: String, detail: String) {
        self.metrics.export_error();
        self.metrics.dropped(DropReason::ExportFailed, n);
        if self.failing.as_deref() != Some(cause.as_str()) {
            tracing::warn!(
                endpoint = %self.endpoint,
                cause = %cause,
                error = %detail,
                "OTLP export failed; spans are dropped and exports back off until it recovers (logged once per cause)"
            );
            self.failing = Some(cause);
        }
        let delay = match self.backoff {
            Some((_, d)) => (d * 2).min(MAX_BACKOFF),
            None => FIRST_BACKOFF,
        };
        self.backoff = Some((Instant::now() + delay, delay));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        assert!(channel("http://127.0.0.1:4317", Duration::from_secs(1)).is_ok());
        for bad in [
            "https://collector:4317",
            "127.0.0.1:4317",
            "ftp://x",
            "http://",
        ] {
            let err = channel(bad, Duration::from_secs(1)).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
