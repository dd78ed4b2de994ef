//! Idle HTTP/1.1 keep-alive connections give their hyper state back
//! ("park") and resume transparently; the header read timeout still closes
//! silent and slow clients, parked or not.

use std::time::Duration;

use portico_proxy::ProxyConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Longer than two park periods: an idle connection is parked by then.
const QUIET: Duration = Duration::from_millis(800);
const DEADLINE: Duration = Duration::from_secs(10);

async fn gateway(config: ProxyConfig) -> (Echo, Gateway) {
    let echo = Echo::start("a").await;
    let gw = Gateway::start_with(
        config,
        simple(
            vec![route(prefix("/"), vec![backend("a", 1)])],
            vec![echo.cluster()],
        ),
    )
    .await;
    (echo, gw)
}

/// Reads one response (head and Content-Length body); its status line.
async fn response(s: &mut TcpStream) -> String {
    let work = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if got.len() >= end + 4 + len {
                    return head.lines().next().unwrap().to_string();
                }
            }
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed mid-response");
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(DEADLINE, work).await.unwrap()
}

/// Waits for the gateway to close the connection.
async fn closed(s: &mut TcpStream) {
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("connection still open after the deadline")
        .unwrap_or(0);
    assert_eq!(n, 0, "unexpected bytes: {:?}", &buf[..n]);
}

const GET: &[u8] = b"GET /x HTTP/1.1\r\nhost: h\r\n\r\n";

#[tokio::test]
async fn a_parked_connection_serves_its_next_requests() {
    let (_echo, gw) = gateway(ProxyConfig::default()).await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    for _ in 0..3 {
        s.write_all(GET).await.unwrap();
        assert_eq!(response(&mut s).await, "http/1.1 200 ok");
        tokio::time::sleep(QUIET).await;
    }
    // Two requests in one write after a park: both answered in order.
    s.write_all(&[GET, GET].concat()).await.unwrap();
    assert_eq!(response(&mut s).await, "http/1.1 200 ok");
    assert_eq!(response(&mut s).await, "http/1.1 200 ok");
}

#[tokio::test]
async fn a_request_head_split_across_a_park_is_completed() {
    let (_echo, gw) = gateway(ProxyConfig::default()).await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert_eq!(response(&mut s).await, "http/1.1 200 ok");
    s.write_all(&GET[..12]).await.unwrap();
    tokio::time::sleep(QUIET).await;
    s.write_all(&GET[12..]).await.unwrap();
    assert_eq!(response(&mut s).await, "http/1.1 200 ok");
}

fn short_timeout() -> ProxyConfig {
    ProxyConfig {
        header_read_timeout: Duration::from_secs(1),
        ..ProxyConfig::default()
    }
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_header_read_timeout() {
    let (_echo, gw) = gateway(short_timeout()).await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert_eq!(response(&mut s).await, "http/1.1 200 ok");
    closed(&mut s).await;
}

#[tokio::test]
async fn a_client_trickling_its_head_is_closed_after_the_header_read_timeout() {
    let (_echo, gw) = gateway(short_timeout()).await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(GET).await.unwrap();
    assert_eq!(response(&mut s).await, "http/1.1 200 ok");
    s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    // One header byte every 300 ms, with quiet gaps long enough to park in
    // between: the timeout runs across parks and closes the connection.
    let trickle = async {
        for b in b"x-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            .iter()
            .cycle()
        {
            if s.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    tokio::time::timeout(DEADLINE, trickle)
        .await
        .expect("the gateway never closed the trickling connection");
}
