//! What every echo server needs to know besides its socket.

use crate::{EchoLog, Identity};

/// Configuration shared by all echo modes.
#[derive(Clone, Debug, Default)]
pub struct EchoConfig {
    /// The identity reported in answers.
    pub identity: Identity,
    /// The value of `httpPort` / `tcpport` in answers (the upstream server
    /// reports its `HTTP_PORT`/`TCP_PORT` setting). `None` reports the port
    /// actually bound.
    pub port_label: Option<String>,
    /// Where the per-request log line goes.
    pub log: EchoLog,
}

impl EchoConfig {
    /// A configuration with the given identity, logging to stdout.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            port_label: None,
            log: EchoLog::stdout(),
        }
    }

    /// Replaces the log sink.
    #[must_use]
    pub fn with_log(mut self, log: EchoLog) -> Self {
        self.log = log;
        self
    }

    /// Reports `label` as the port in answers instead of the bound port.
    #[must_use]
    pub fn with_port_label(mut self, label: impl Into<String>) -> Self {
        self.port_label = Some(label.into());
        self
    }

    pub(crate) fn port_label_for(&self, port: u16) -> String {
        self.port_label.clone().unwrap_or_else(|| port.to_string())
    }
}
