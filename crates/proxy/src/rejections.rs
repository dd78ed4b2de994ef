//! Connections closed before they were served, counted by cause. The first
//! rejection of each cause is logged at warn level; later ones only at
//! debug (a scanner or a misconfigured load balancer would otherwise flood
//! the log) and in the counters, exported as
//! `portico_<metric>_total{cause}`.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most causes a kind of rejection may have.
const MAX_CAUSES: usize = 8;

/// One kind of rejection's causes.
pub trait Cause: Copy + 'static {
    /// Every cause, in label order (at most eight).
    const ALL: &'static [Self];
    /// What was rejected (for the log line).
    const WHAT: &'static str;
    /// The metric family, without `portico_` and `_total`.
    const METRIC: &'static str;
    /// The metric label value.
    fn label(self) -> &'static str;
    /// Position in [`Cause::ALL`].
    fn position(self) -> usize;
}

/// Rejection counters of one kind (part of [`crate::Metrics`]).
#[derive(Debug)]
pub struct Rejections<C: Cause> {
    counts: [AtomicU64; MAX_CAUSES],
    cause: PhantomData<C>,
}

impl<C: Cause> Default for Rejections<C> {
    fn default() -> Self {
        Rejections {
            counts: Default::default(),
            cause: PhantomData,
        }
    }
}

impl<C: Cause> Rejections<C> {
    /// Counts one rejection and logs it (warn the first time per cause).
    pub(crate) fn record(&self, cause: C, peer: SocketAddr, detail: &str) {
        let Some(count) = self.counts.get(cause.position()) else {
            return;
        };
        let before = count.fetch_add(1, Ordering::Relaxed);
        if before == 0 {
            tracing::warn!(
                what = C::WHAT,
                cause = cause.label(),
                %peer,
                detail,
                metric = C::METRIC,
                "connection rejected and closed; later rejections with this cause are only counted"
            );
        } else {
            tracing::debug!(what = C::WHAT, cause = cause.label(), %peer, detail, "connection rejected");
        }
    }

    pub fn snapshot(&self) -> RejectCounts<C> {
        RejectCounts {
            counts: self.counts.each_ref().map(|c| c.load(Ordering::Relaxed)),
            cause: PhantomData,
        }
    }
}

/// A copy of [`Rejections`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectCounts<C: Cause> {
    counts: [u64; MAX_CAUSES],
    cause: PhantomData<C>,
}

impl<C: Cause> Default for RejectCounts<C> {
    fn default() -> Self {
        RejectCounts {
            counts: [0; MAX_CAUSES],
            cause: PhantomData,
        }
    }
}

impl<C: Cause> RejectCounts<C> {
    pub fn get(&self, cause: C) -> u64 {
        self.counts.get(cause.position()).copied().unwrap_or(0)
    }

    /// `(cause label, count)` for every cause.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        C::ALL.iter().map(|c| (c.label(), self.get(*c)))
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Why a connection on a TLS or HTTPS listener was closed before serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsReject {
    /// The first bytes are not a TLS handshake record.
    NotTls,
    /// The peer closed (or reset) the connection inside the ClientHello.
    Truncated,
    /// No complete ClientHello / handshake within the deadline.
    Timeout,
    /// No listener or route for the server name (or no server name).
    NoRoute,
    /// The TLS handshake itself failed (protocol versions, ciphers, client
    /// certificate, a malformed message).
    Handshake,
}

impl Cause for TlsReject {
    const ALL: &'static [TlsReject] = &[
        TlsReject::NotTls,
        TlsReject::Truncated,
        TlsReject::Timeout,
        TlsReject::NoRoute,
        TlsReject::Handshake,
    ];
    const WHAT: &'static str = "TLS connection";
    const METRIC: &'static str = "tls_rejected";

    fn label(self) -> &'static str {
        match self {
            TlsReject::NotTls => "not_tls",
            TlsReject::Truncated => "truncated",
            TlsReject::Timeout => "timeout",
            TlsReject::NoRoute => "no_route",
            TlsReject::Handshake => "handshake",
        }
    }

    fn position(self) -> usize {
        self as usize
    }
}

impl TlsReject {
    /// The cause of a failed ClientHello read (`sni::read_client_hello` or
    /// rustls' lazy acceptor): anything but a cut connection means the bytes
    /// were not TLS.
    pub(crate) fn of_read(error: &std::io::Error) -> TlsReject {
        match error.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted => TlsReject::Truncated,
            _ => TlsReject::NotTls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_cause_and_lists_every_label() {
        let r = Rejections::<TlsReject>::default();
        let peer: SocketAddr = "192.0.2.1:1000".parse().expect("addr");
        r.record(TlsReject::NotTls, peer, "x");
        r.record(TlsReject::NotTls, peer, "y");
        r.record(TlsReject::Handshake, peer, "z");
        let s = r.snapshot();
        assert_eq!(s.get(TlsReject::NotTls), 2);
        assert_eq!(s.get(TlsReject::Handshake), 1);
        assert_eq!(s.total(), 3);
        let labels: Vec<&str> = s.iter().map(|(l, _)| l).collect();
        assert_eq!(
            labels,
            ["not_tls", "truncated", "timeout", "no_route", "handshake"]
        );
        for (i, c) in TlsReject::ALL.iter().enumerate() {
            assert_eq!(c.position(), i);
        }
    }

    #[test]
    fn read_errors_map_to_causes() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            TlsReject::of_read(&Error::from(ErrorKind::UnexpectedEof)),
            TlsReject::Truncated
        );
        assert_eq!(
            TlsReject::of_read(&Error::other("not a TLS handshake record")),
            TlsReject::NotTls
        );
    }
}
