//! PROXY protocol v1 and v2 (HAProxy's specification), both directions.
//!
//! Accept: binds that enable it ([`portico_ir::Bind::proxy_protocol`]) read
//! the header before anything else ([`accept`]), and the addresses it
//! carries replace the socket's for the whole connection (X-Forwarded-For,
//! Forwarded, flow records, access logs, load-balancer hashing). A
//! connection without a valid header within the deadline is closed,
//! counted by cause ([`Rejections`]) and logged once per cause.
//!
//! Send: clusters that ask for it ([`portico_ir::Cluster::proxy_protocol`])
//! write [`encode::encode`]'s header as the first bytes of every new
//! upstream connection.

pub mod encode;
pub mod parse;
mod reuse;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use portico_ir::ProxyProtocolVersion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bind::BindShared;
pub use crate::rejections::Cause;

pub use parse::{Addresses, ParseError};
pub use reuse::ClientConns;

/// The client connection a request came on: the addresses for a PROXY
/// header upstream, and the upstream connections only it may reuse.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    pub addresses: Addresses,
    pub(crate) conns: &'a ClientConns,
}

/// Why a connection on a PROXY-protocol bind was closed before serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reject {
    /// The first bytes are not a PROXY protocol signature.
    Missing,
    /// A signature followed by an invalid header.
    Malformed,
    /// The peer closed (or reset) the connection inside the header.
    Truncated,
    /// Longer than the specification (v1) or Portico (v2) allows.
    Oversized,
    /// No complete header within the deadline.
    Timeout,
}

impl Cause for Reject {
    const ALL: &'static [Reject] = &[
        Reject::Missing,
        Reject::Malformed,
        Reject::Truncated,
        Reject::Oversized,
        Reject::Timeout,
    ];
    const WHAT: &'static str = "PROXY protocol header";
    const METRIC: &'static str = "proxy_protocol_rejected";

    fn label(self) -> &'static str {
        match self {
            Reject::Missing => "missing",
            Reject::Malformed => "malformed",
            Reject::Truncated => "truncated",
            Reject::Oversized => "oversized",
            Reject::Timeout => "timeout",
        }
    }

    fn position(self) -> usize {
        self as usize
    }
}

impl From<ParseError> for Reject {
    fn from(e: ParseError) -> Reject {
        match e {
            ParseError::Missing => Reject::Missing,
            ParseError::Malformed(_) => Reject::Malformed,
            ParseError::Oversized => Reject::Oversized,
        }
    }
}

/// Rejected connections by cause (part of [`crate::Metrics`]).
pub type Rejections = crate::rejections::Rejections<Reject>;

/// A copy of [`Rejections`].
pub type RejectCounts = crate::rejections::RejectCounts<Reject>;

/// The bind hook: on a bind with PROXY protocol enabled, reads the header
/// within the header read timeout; otherwise returns the socket's
/// addresses untouched. `None`: the connection is to be closed.
pub(crate) async fn on_accept(
    shared: &BindShared,
    stream: &mut TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
) -> Option<(SocketAddr, SocketAddr)> {
    if !shared.proxy_protocol.load(Ordering::Relaxed) {
        return Some((peer, local));
    }
    accept(
        stream,
        peer,
        local,
        shared.config.header_read_timeout,
        &shared.metrics.proxy_protocol_rejected,
    )
    .await
}

/// The header to write first on a new upstream connection of a cluster
/// that asks for one, for a client connection from `peer` to `local`.
pub(crate) fn preface(
    version: Option<ProxyProtocolVersion>,
    origin: Option<Addresses>,
) -> Option<Vec<u8>> {
    version.map(|v| encode::encode(v, origin))
}

/// Connects to an upstream and writes `preface` (a PROXY header, or
/// nothing) before any other byte.
pub(crate) async fn connect(address: SocketAddr, preface: &[u8]) -> std::io::Result<TcpStream> {
    let mut tcp = TcpStream::connect(address).await?;
    if !preface.is_empty() {
        tcp.write_all(preface).await?;
    }
    Ok(tcp)
}

/// Reads the PROXY header of a new connection on an enabled bind, within
/// `limit`. Returns the connection's effective `(peer, local)` addresses
/// (the header's, or the socket's for LOCAL/UNKNOWN/AF_UNSPEC/AF_UNIX), or
/// `None` after counting and logging the rejection; the caller then drops
/// (closes) the connection. Never consumes a byte past the header.
pub async fn accept(
    stream: &mut TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    limit: Duration,
    rejections: &Rejections,
) -> Option<(SocketAddr, SocketAddr)> {
    let result = match tokio::time::timeout(limit, read_header(stream)).await {
        Ok(r) => r,
        Err(_) => Err((Reject::Timeout, "no complete header before the deadline")),
    };
    match result {
        Ok(Some(a)) => {
            let source = SocketAddr::new(a.source.ip().to_canonical(), a.source.port());
            let destination =
                SocketAddr::new(a.destination.ip().to_canonical(), a.destination.port());
            tracing::trace!(%peer, %source, %destination, "PROXY protocol header accepted");
            Some((source, destination))
        }
        Ok(None) => Some((peer, local)),
        Err((cause, detail)) => {
            rejections.record(cause, peer, detail);
            None
        }
    }
}

/// Peeks at what has arrived and consumes it only while it is all header
/// (the parser says `Incomplete`), then exactly the header's length: the
/// application bytes behind it stay in the socket for the next layer.
async fn read_header(stream: &mut TcpStream) -> Result<Option<Addresses>, (Reject, &'static str)> {
    let mut seen: Vec<u8> = Vec::new();
    let mut window = [0u8; 512];
    loop {
        let room = parse::MAX_HEADER
            .saturating_sub(seen.len())
            .clamp(1, window.len());
        let n = match stream.peek(&mut window[..room]).await {
            Ok(0) => {
                return Err((
                    Reject::Truncated,
                    "connection closed before a complete header",
                ));
            }
            Ok(n) => n,
            Err(_) => return Err((Reject::Truncated, "read error inside the header")),
        };
        let start = seen.len();
        seen.extend_from_slice(&window[..n]);
        let take = match parse::parse(&seen) {
            Ok(parse::Parsed::Complete { header, len }) => {
                // `len` is past everything consumed before (those bytes
                // were a strict prefix of the header).
                let take = len.saturating_sub(start);
                consume(stream, &mut window, take).await?;
                return Ok(header.addresses);
            }
            Ok(parse::Parsed::Incomplete) => n,
            Err(e) => {
                let detail = match e {
                    ParseError::Malformed(what) => what,
                    ParseError::Missing => "no PROXY protocol signature",
                    ParseError::Oversized => "header too long",
                };
                return Err((e.into(), detail));
            }
        };
        consume(stream, &mut window, take).await?;
    }
}

/// Reads (discards) `n` bytes already seen by a peek.
async fn consume(
    stream: &mut TcpStream,
    scratch: &mut [u8],
    mut n: usize,
) -> Result<(), (Reject, &'static str)> {
    while n > 0 {
        let chunk = n.min(scratch.len());
        stream
            .read_exact(&mut scratch[..chunk])
            .await
            .map_err(|_| (Reject::Truncated, "read error inside the header"))?;
        n -= chunk;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const LIMIT: Duration = Duration::from_secs(5);

    /// A connected pair: the client writes `chunks` (then keeps the socket
    /// open unless `close`), the server side is returned.
    async fn pair(chunks: Vec<Vec<u8>>, close: bool) -> (TcpStream, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.set_nodelay(true).unwrap();
            for c in chunks {
                client.write_all(&c).await.unwrap();
                client.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
            if close {
                drop(client);
            } else {
                std::future::pending::<()>().await;
            }
        });
        let (server, peer) = listener.accept().await.unwrap();
        (server, peer)
    }

    fn sample() -> Addresses {
        Addresses {
            source: "192.0.2.7:40000".parse().unwrap(),
            destination: "198.51.100.1:443".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn headers_in_pieces_are_read_exactly() {
        for version in [ProxyProtocolVersion::V1, ProxyProtocolVersion::V2] {
            let header = encode::encode(version, Some(sample()));
            let (a, b) = header.split_at(7);
            let mut tail = b.to_vec();
            tail.extend_from_slice(b"GET / HTTP/1.1\r\n");
            let (mut server, peer) = pair(vec![a.to_vec(), tail], false).await;
            let local = server.local_addr().unwrap();
            let r = Rejections::default();
            let got = accept(&mut server, peer, local, LIMIT, &r).await;
            assert_eq!(
                got,
                Some((sample().source, sample().destination)),
                "{version:?}"
            );
            let mut rest = [0u8; 16];
            server.read_exact(&mut rest).await.unwrap();
            assert_eq!(&rest, b"GET / HTTP/1.1\r\n", "application bytes untouched");
            assert_eq!(r.snapshot().total(), 0);
        }
    }

    #[tokio::test]
    async fn local_keeps_the_socket_addresses() {
        let header = encode::encode(ProxyProtocolVersion::V2, None);
        let (mut server, peer) = pair(vec![header], false).await;
        let local = server.local_addr().unwrap();
        let got = accept(&mut server, peer, local, LIMIT, &Rejections::default()).await;
        assert_eq!(got, Some((peer, local)));
    }

    #[tokio::test]
    async fn rejections_are_counted_by_cause() {
        let r = Rejections::default();
        let cases: Vec<(Vec<Vec<u8>>, bool, Reject)> = vec![
            (
                vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()],
                false,
                Reject::Missing,
            ),
            (
                vec![b"PROXY TCP4 1.2.3.4 x 1 2\r\n".to_vec()],
                false,
                Reject::Malformed,
            ),
            (
                vec![b"PROXY TCP4 1.2.3.4".to_vec()],
                true,
                Reject::Truncated,
            ),
            (
                vec![vec![b'P', b'R', b'O', b'X', b'Y', b' '], vec![b'a'; 200]],
                false,
                Reject::Oversized,
            ),
            (vec![], true, Reject::Truncated),
        ];
        for (chunks, close, _) in cases.iter().cloned() {
            let (mut server, peer) = pair(chunks, close).await;
            let local = server.local_addr().unwrap();
            assert_eq!(accept(&mut server, peer, local, LIMIT, &r).await, None);
        }
        let s = r.snapshot();
        assert_eq!(s.get(Reject::Missing), 1);
        assert_eq!(s.get(Reject::Malformed), 1);
        assert_eq!(s.get(Reject::Truncated), 2);
        assert_eq!(s.get(Reject::Oversized), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_times_out() {
        let (mut server, peer) = pair(vec![b"PROXY ".to_vec()], false).await;
        let local = server.local_addr().unwrap();
        let r = Rejections::default();
        assert_eq!(accept(&mut server, peer, local, LIMIT, &r).await, None);
        assert_eq!(r.snapshot().get(Reject::Timeout), 1);
        assert_eq!(
            r.snapshot().iter().collect::<Vec<_>>(),
            vec![
                ("missing", 0),
                ("malformed", 0),
                ("truncated", 0),
                ("oversized", 0),
                ("timeout", 1)
            ]
        );
    }
}
