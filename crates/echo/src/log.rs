//! The per-request log line (`Echoing back request made to … to client (…)`)
//! that mirror tests look for, with an injectable sink.

use std::io::Write as _;
use std::net::SocketAddr;

use tokio::sync::broadcast;

use crate::Identity;

/// How many records a slow subscriber may fall behind before it misses some.
const CHANNEL_CAPACITY: usize = 4096;

/// One echoed request, as written to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoRecord {
    /// The request target as received (path and query, unnormalised).
    pub request_uri: String,
    /// The peer that sent it (the proxy, when proxied).
    pub remote: SocketAddr,
    /// HTTP method (or `GRPC` for gRPC calls).
    pub method: String,
    /// The identity of the backend that answered.
    pub identity: Identity,
}

impl EchoRecord {
    /// The exact line the upstream echo server prints on stdout.
    pub fn line(&self) -> String {
        format!(
            "Echoing back request made to {} to client ({})",
            self.request_uri, self.remote
        )
    }
}

/// Where records go: always to a broadcast channel (subscribe to capture them
/// in tests), and optionally to stdout, one line each.
#[derive(Clone, Debug)]
pub struct EchoLog {
    tx: broadcast::Sender<EchoRecord>,
    stdout: bool,
}

impl Default for EchoLog {
    fn default() -> Self {
        Self::stdout()
    }
}

impl EchoLog {
    /// Records are printed to stdout (what `portico echo` does) and broadcast.
    pub fn stdout() -> Self {
        Self::with_stdout(true)
    }

    /// Records are only broadcast (tests, benchmarks).
    pub fn silent() -> Self {
        Self::with_stdout(false)
    }

    fn with_stdout(stdout: bool) -> Self {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self { tx, stdout }
    }

    /// A receiver for every record written after this call.
    pub fn subscribe(&self) -> broadcast::Receiver<EchoRecord> {
        self.tx.subscribe()
    }

    pub(crate) fn record(&self, record: EchoRecord) {
        if self.stdout {
            // A closed stdout must not take the server down: ignore errors.
            let _ = writeln!(std::io::stdout().lock(), "{}", record.line());
        }
        tracing::debug!(
            request_uri = %record.request_uri,
            remote = %record.remote,
            method = %record.method,
            pod = %record.identity.pod,
            "echoing request"
        );
        // No subscribers is fine.
        let _ = self.tx.send(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_matches_upstream_format() {
        let r = EchoRecord {
            request_uri: "/mirror?x=1".into(),
            remote: "127.0.0.1:4242".parse().expect("addr"),
            method: "GET".into(),
            identity: Identity::default(),
        };
        assert_eq!(
            r.line(),
            "Echoing back request made to /mirror?x=1 to client (127.0.0.1:4242)"
        );
    }

    #[tokio::test]
    async fn subscribers_receive_records() {
        let log = EchoLog::silent();
        let mut rx = log.subscribe();
        log.record(EchoRecord {
            request_uri: "/a".into(),
            remote: "127.0.0.1:1".parse().expect("addr"),
            method: "GET".into(),
            identity: Identity::default(),
        });
        assert_eq!(rx.recv().await.expect("record").request_uri, "/a");
    }
}
