//! The access log writer task: a ring subscriber that writes lines to a
//! file or stdout.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Field, line, wanted};
use crate::Error;
use crate::flow::{FlowRing, Subscription, SubscriptionEvent};

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    /// Appended to (created if missing).
    File(PathBuf),
}

impl Destination {
    /// `-` is stdout, anything else a file path.
    pub fn parse(value: &str) -> Destination {
        if value == "-" {
            Destination::Stdout
        } else {
            Destination::File(PathBuf::from(value))
        }
    }
}

/// A running access log writer.
#[derive(Debug)]
pub struct AccessLog {
    written: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AccessLog {
    /// Subscribes to `ring` (new flows only) and starts writing.
    pub async fn start(
        ring: &FlowRing,
        destination: Destination,
        fields: Vec<Field>,
    ) -> Result<AccessLog, Error> {
        let out: Box<dyn AsyncWrite + Send + Unpin> = match &destination {
            Destination::Stdout => Box::new(tokio::io::stdout()),
            Destination::File(path) => Box::new(
                tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(|source| Error::AccessLogOpen {
                        path: path.clone(),
                        source,
                    })?,
            ),
        };
        let (_history, subscription) = ring.subscribe();
        let written = Arc::new(AtomicU64::new(0));
        let lost = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(
            subscription,
            BufWriter::new(out),
            fields,
            Counters {
                written: written.clone(),
                lost: lost.clone(),
            },
            stopped,
        ));
        tracing::info!(destination = ?destination, "access log on");
        Ok(AccessLog {
            written,
            lost,
            stop,
            task,
        })
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Requests the writer missed because it fell behind.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Writes what is already queued, flushes and stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "access log writer ended abnormally");
        }
    }
}

struct Counters {
    written: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
}

async fn run<W: AsyncWrite + Unpin>(
    mut subscription: Subscription,
    mut out: BufWriter<W>,
    fields: Vec<Field>,
    counters: Counters,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            biased;
            event = subscription.recv() => event,
            _ = stopped.changed() => None,
        };
        let Some(event) = event else { break };
        if !handle(event, &mut out, &fields, &counters).await {
            return;
        }
        // Drain what is ready, then flush once: a burst costs one write.
        while let Some(event) = subscription.try_recv() {
            if !handle(event, &mut out, &fields, &counters).await {
                return;
            }
        }
        if let Err(e) = out.flush().await {
            tracing::error!(error = %e, "access log flush failed; access log off");
            return;
        }
    }
    while let Some(event) = subscription.try_recv() {
        if !handle(event, &mut out, &fields, &counters).await {
            return;
        }
    }
    if let Err(e) = out.flush().await {
        tracing::warn!(error = %e, "access log final flush failed");
    }
}

/// Writes one event; false when the output is broken.
async fn handle<W: AsyncWrite + Unpin>(
    event: SubscriptionEvent,
    out: &mut BufWriter<W>,
    fields: &[Field],
    counters: &Counters,
) -> bool {
    match event {
        SubscriptionEvent::Lost(n) => {
            counters.lost.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(lost = n, "access log fell behind; lines lost");
            true
        }
        SubscriptionEvent::Flow(r) => {
            if !wanted(&r.flow) {
                return true;
            }
            let mut text = line(&r.flow, fields);
            text.push('\n');
            match out.write_all(text.as_bytes()).await {
                Ok(()) => {
                    counters.written.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(e) => {
                    tracing::error!(error = %e, "access log write failed; access log off");
                    false
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::accesslog::{ALL_FIELDS, parse_fields};
    use crate::flow::{Flow, RingConfig, Verdict};

    fn ring(subscriber_buffer: usize) -> FlowRing {
        FlowRing::new(RingConfig {
            capacity: 63,
            subscriber_buffer,
            ..RingConfig::default()
        })
        .expect("ring")
    }

    async fn read_lines(path: &std::path::Path, want: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if lines.len() >= want || tokio::time::Instant::now() > deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "portico-accesslog-{}-{name}.jsonl",
            std::process::id()
        ))
    }

    #[tokio::test]
    async fn writes_one_line_per_http_flow_to_a_file() {
        let ring = ring(64);
        let path = temp_path("file");
        let _ = std::fs::remove_file(&path);
        let log = AccessLog::start(
            &ring,
            Destination::File(path.clone()),
            parse_fields("status,verdict,route").expect("fields"),
        )
        .await
        .expect("start");
        let sink = ring.sink();
        sink.emit(crate::accesslog::tests_support::http_flow(
            200,
            Verdict::Forwarded,
        ));
        sink.emit(Flow::default()); // not HTTP: skipped
        sink.emit(crate::accesslog::tests_support::http_flow(
            500,
            Verdict::Error,
        ));
        let lines = read_lines(&path, 2).await;
        assert_eq!(lines.len(), 2, "{lines:?}");
        let first: Value = serde_json::from_str(&lines[0]).expect("json");
        let second: Value = serde_json::from_str(&lines[1]).expect("json");
        assert_eq!(first["status"], 200);
        assert_eq!(second["status"], 500);
        assert_eq!(second["verdict"], "ERROR");
        assert_eq!(second["route"], "HTTPRoute shop/cart");
        assert_eq!(first.as_object().map(|o| o.len()), Some(3));
        assert_eq!(log.written(), 2);
        log.shutdown().await;
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_writer_that_falls_behind_counts_loss_and_never_blocks_emit() {
        // A buffer of 2 and a burst of 200 emitted before the writer task
        // can run (current-thread runtime): emit must return every time and
        // the overflow must be counted, not waited for.
        let ring = ring(2);
        let path = temp_path("lag");
        let _ = std::fs::remove_file(&path);
        let log = AccessLog::start(&ring, Destination::File(path.clone()), ALL_FIELDS.to_vec())
            .await
            .expect("start");
        let sink = ring.sink();
        for _ in 0..200 {
            sink.emit(crate::accesslog::tests_support::http_flow(
                200,
                Verdict::Forwarded,
            ));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while log.written() + log.lost() < 200 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(log.lost() > 0, "lost {}", log.lost());
        assert_eq!(log.written() + log.lost(), 200);
        let written = log.written();
        log.shutdown().await;
        let lines = read_lines(&path, 1).await;
        assert_eq!(lines.len() as u64, written);
        // The ring's own loss counter (Hubble's lost events) saw it too.
        assert_eq!(ring.status().lost_flows, 200 - written);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn dash_means_stdout() {
        assert_eq!(Destination::parse("-"), Destination::Stdout);
        assert_eq!(
            Destination::parse("/var/log/a.jsonl"),
            Destination::File("/var/log/a.jsonl".into())
        );
    }
}
