use std::time::Duration;

use http::StatusCode;
use portico_proxy::{Proxy, ProxyConfig};

use crate::common::*;

#[tokio::test]
async fn apply_adds_and_removes_a_listener_while_another_keeps_serving() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let clusters = || vec![a.cluster(), b.cluster()];
    let bind_a = |addr| {
        bind(
            addr,
            vec![listener(
                "gw/a",
                None,
                vec![vhost(None, vec![route(prefix("/"), vec![backend("a", 1)])])],
            )],
        )
    };
    let bind_b = |addr| {
        bind(
            addr,
            vec![listener(
                "gw/b",
                None,
                vec![vhost(None, vec![route(prefix("/"), vec![backend("b", 1)])])],
            )],
        )
    };

    let proxy = Proxy::new(ProxyConfig::default());
    let first = proxy.apply(ir(vec![bind_a(any_port())], clusters())).await;
    let addr_a = first.listener("gw/a").unwrap().address;
    // Keep one HTTP/1.1 connection open to listener a across the updates.
    let client = h1_client();
    let req = |host: &str| {
        http::Request::builder()
            .uri(format!("http://{addr_a}/"))
            .header("host", host)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    assert_eq!(send(&client, req("h")).await.backend(), "a");

    // Add listener b on its own port (the IR keeps a's port 0 key stable).
    let second = proxy
        .apply(ir(
            vec![bind_a(any_port()), bind_b(free_port())],
            clusters(),
        ))
        .await;
    assert!(
        second.listeners.iter().all(|l| l.error.is_none()),
        "{second:?}"
    );
    assert_eq!(
        second.listener("gw/a").unwrap().address,
        addr_a,
        "kept bind not rebound"
    );
    let addr_b = second.listener("gw/b").unwrap().address;
    assert_eq!(get(addr_b, "h", "/").await.backend(), "b");
    assert_eq!(send(&client, req("h")).await.backend(), "a");

    // Remove b again: it stops accepting, a is untouched.
    let third = proxy.apply(ir(vec![bind_a(any_port())], clusters())).await;
    assert_eq!(third.listeners.len(), 1);
    assert!(
        tokio::net::TcpStream::connect(addr_b).await.is_err(),
        "removed listener closed"
    );
    assert_eq!(send(&client, req("h")).await.backend(), "a");
    assert_eq!(
        proxy.metrics().snapshot().connections_total,
        2,
        "a's connection was reused throughout"
    );
    proxy.shutdown(Duration::from_secs(1)).await;
}

/// A free loopback address with a concrete port (bind, note, release).
fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test]
async fn route_change_applies_at_once_and_in_flight_request_finishes() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let to = |name: &str| {
        simple(
            vec![route(prefix("/"), vec![backend(name, 1)])],
            vec![a.cluster(), b.cluster()],
        )
    };
    let gw = Gateway::start(to("a")).await;
    let addr = gw.addr();

    let slow = tokio::spawn(async move { get(addr, "h", "/slow").await });
    a.wait_received().await;
    // Swap the table while the slow request is in flight at backend a.
    let report = gw.proxy.apply(to("b")).await;
    assert_eq!(report.listeners[0].address, addr);
    assert_eq!(
        get(addr, "h", "/fast").await.backend(),
        "b",
        "new requests see the new table"
    );
    a.release();
    let done = tokio::time::timeout(DEADLINE, slow).await.unwrap().unwrap();
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(
        done.backend(),
        "a",
        "in-flight request finished on the old route"
    );
}

#[tokio::test]
async fn removed_listener_drains_in_flight_request() {
    let a = Echo::start("a").await;
    let gw = Gateway::start(simple(
        vec![route(prefix("/"), vec![backend("a", 1)])],
        vec![a.cluster()],
    ))
    .await;
    let addr = gw.addr();
    let slow = tokio::spawn(async move { get(addr, "h", "/slow").await });
    a.wait_received().await;
    let report = gw.proxy.apply(ir(vec![], vec![a.cluster()])).await;
    assert!(report.listeners.is_empty());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    a.release();
    let done = tokio::time::timeout(DEADLINE, slow).await.unwrap().unwrap();
    assert_eq!(
        done.status,
        StatusCode::OK,
        "in-flight request on a removed listener completes"
    );
}

#[tokio::test]
async fn bind_failure_is_reported_and_other_listeners_serve() {
    let a = Echo::start("a").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let l = |id: &str| {
        listener(
            id,
            None,
            vec![vhost(None, vec![route(prefix("/"), vec![backend("a", 1)])])],
        )
    };
    let proxy = Proxy::new(ProxyConfig::default());
    let report = proxy
        .apply(ir(
            vec![
                bind(taken_addr, vec![l("gw/taken")]),
                bind(any_port(), vec![l("gw/ok")]),
            ],
            vec![a.cluster()],
        ))
        .await;
    let failed = report.listener("gw/taken").unwrap();
    assert!(
        failed.error.as_deref().is_some_and(|e| e.contains("bind")),
        "{failed:?}"
    );
    let ok = report.listener("gw/ok").unwrap();
    assert!(ok.error.is_none());
    assert_eq!(get(ok.address, "h", "/").await.backend(), "a");

    // Once the port is free, the next apply binds it.
    drop(taken);
    let report = proxy
        .apply(ir(
            vec![
                bind(taken_addr, vec![l("gw/taken")]),
                bind(any_port(), vec![l("gw/ok")]),
            ],
            vec![a.cluster()],
        ))
        .await;
    assert!(report.listener("gw/taken").unwrap().error.is_none());
    assert_eq!(get(taken_addr, "h", "/").await.backend(), "a");
}

#[tokio::test]
async fn endpoint_updates_keep_serving() {
    let a = Echo::start("a").await;
    let b = Echo::start("b").await;
    let with = |eps| {
        simple(
            vec![route(prefix("/"), vec![backend("svc", 1)])],
            vec![cluster("svc", eps)],
        )
    };
    let gw = Gateway::start(with(vec![a.endpoint()])).await;
    assert_eq!(get(gw.addr(), "h", "/").await.backend(), "a");
    gw.proxy.apply(with(vec![b.endpoint()])).await;
    assert_eq!(get(gw.addr(), "h", "/").await.backend(), "b");
    gw.proxy.apply(with(vec![])).await;
    assert_eq!(
        get(gw.addr(), "h", "/").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn shutdown_stops_accepting() {
    let gw = Gateway::start(simple(vec![], vec![])).await;
    let addr = gw.addr();
    assert_eq!(get(addr, "h", "/").await.status, StatusCode::NOT_FOUND);
    gw.proxy.shutdown(Duration::from_secs(1)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
