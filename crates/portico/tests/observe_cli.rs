//! `portico observe` against an in-process Hubble server on port 0.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use portico_observe::flow::{
    Endpoint, Flow, FlowRing, FlowSink, HttpInfo, IpInfo, L7Record, L7Type, Layer4, Layer7,
    RingConfig, ServiceRef, TcpFlags, Verdict,
};
use portico_observe::hubble::{HubbleServer, ServerOptions, serve};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const DEADLINE: Duration = Duration::from_secs(20);

fn flow(code: u16, path: &str, src: &str) -> Flow {
    Flow {
        verdict: if code >= 500 {
            Verdict::Error
        } else {
            Verdict::Forwarded
        },
        ip: Some(IpInfo {
            source: src.parse().expect("ip"),
            destination: "10.1.0.5".parse().expect("ip"),
        }),
        l4: Some(Layer4::Tcp {
            source_port: 50000,
            destination_port: 8080,
            flags: TcpFlags::default(),
        }),
        l7: Some(Layer7 {
            kind: L7Type::Response,
            latency: Some(Duration::from_millis(2)),
            record: L7Record::Http(HttpInfo {
                code,
                method: "GET".into(),
                url: format!("http://shop.example{path}"),
                protocol: "HTTP/1.1",
                ..HttpInfo::default()
            }),
        }),
        destination: Some(Arc::new(Endpoint {
            namespace: Some("shop".into()),
            pod_name: Some("web-1".into()),
            ..Endpoint::default()
        })),
        destination_service: Some(ServiceRef {
            namespace: "shop".into(),
            name: "web".into(),
        }),
        ..Flow::default()
    }
}

async fn server_with_flows() -> (HubbleServer, FlowSink) {
    let ring = FlowRing::new(RingConfig::default()).expect("ring");
    let sink = ring.sink();
    sink.emit(flow(200, "/", "192.0.2.1"));
    sink.emit(flow(404, "/missing", "192.0.2.2"));
    sink.emit(flow(503, "/api", "198.51.100.7"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = serve(listener, ring, ServerOptions::default()).expect("serve");
    (server, sink)
}

async fn observe(server: &HubbleServer, args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(
        DEADLINE,
        Command::new(BIN)
            .arg("observe")
            .arg("--hubble-addr")
            .arg(server.local_addr().to_string())
            .args(args)
            .output(),
    )
    .await
    .expect("portico observe finished in time")
    .expect("run portico");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_codes(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            v["flow"]["l7"]["http"]["code"].as_u64().expect("code")
        })
        .collect()
}

#[tokio::test]
async fn observe_prints_history_in_each_format_with_filters() {
    let (server, _sink) = server_with_flows().await;

    let (code, out, err) = observe(&server, &["-o", "json"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_codes(&out), vec![200, 404, 503]);

    let (code, out, _) = observe(&server, &["--last", "1", "-o", "json"]).await;
    assert_eq!(code, 0);
    assert_eq!(json_codes(&out), vec![503]);

    let (_, out, _) = observe(&server, &["-o", "json", "--http-status", "4+"]).await;
    assert_eq!(json_codes(&out), vec![404]);

    let (_, out, _) = observe(
        &server,
        &["-o", "json", "--not", "--from-ip", "192.0.2.0/24"],
    )
    .await;
    assert_eq!(json_codes(&out), vec![503]);

    let (_, out, _) = observe(
        &server,
        &[
            "-o",
            "json",
            "-n",
            "shop",
            "--to-service",
            "web",
            "--verdict",
            "ERROR",
        ],
    )
    .await;
    assert_eq!(json_codes(&out), vec![503]);

    let (_, out, _) = observe(
        &server,
        &[
            "-o",
            "json",
            "--http-path",
            "^/miss",
            "--protocol",
            "http",
            "--port",
            "8080",
        ],
    )
    .await;
    assert_eq!(json_codes(&out), vec![404]);

    let (code, out, _) = observe(&server, &["--first", "1"]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("192.0.2.1:50000 -> shop/web-1:8080 http-response FORWARDED"),
        "{out}"
    );

    let (_, out, _) = observe(&server, &["-o", "table", "--http-method", "get"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("TIMESTAMP"), "{out}");

    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn observe_rejects_invalid_filters_with_a_clear_message() {
    let (server, _sink) = server_with_flows().await;
    for (args, needle) in [
        (vec!["--verdict", "ALLOWED"], "unknown verdict"),
        (vec!["--from-ip", "10.0.0.0/99"], "not a CIDR"),
        (vec!["--http-path", "(oops"], "invalid regular expression"),
        (vec!["--http-status", "7+"], "http_status_code"),
    ] {
        let (code, _, err) = observe(&server, &args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn observe_follow_streams_new_flows() {
    let (server, sink) = server_with_flows().await;
    let mut child = Command::new(BIN)
        .args(["observe", "-f", "--http-path", "^/live$", "--hubble-addr"])
        .arg(server.local_addr().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn portico observe -f");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    // Keep emitting until the follower (connected at some point) prints one.
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            sink.emit(flow(200, "/live", "192.0.2.9"));
        }
    });
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("a followed flow before the deadline")
        .expect("read")
        .expect("a line");
    ticker.abort();
    assert!(line.contains("http://shop.example/live"), "{line}");
    child.kill().await.expect("kill");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn observe_reports_an_unreachable_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let out = tokio::time::timeout(
        DEADLINE,
        Command::new(BIN)
            .args(["observe", "--hubble-addr", &addr.to_string()])
            .output(),
    )
    .await
    .expect("finished in time")
    .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the Hubble API"), "{err}");
}

/// `portico status` against `portico run` on an empty directory (admin on
/// port 0) and an in-process Hubble server holding three flows.
#[tokio::test]
async fn status_summarises_objects_and_flows() {
    let (server, _sink) = server_with_flows().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let addr_file = dir.path().join(".admin-addr");
    let mut run = Command::new(BIN)
        .args(["run", "--config"])
        .arg(dir.path())
        .args([
            "--admin",
            "127.0.0.1:0",
            "--hubble-addr",
            "127.0.0.1:0",
            "--admin-addr-file",
        ])
        .arg(&addr_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn portico run");
    let admin = portico_testkit::eventually(DEADLINE, || {
        let addr_file = addr_file.clone();
        async move {
            let text = tokio::fs::read_to_string(&addr_file).await?;
            text.trim()
                .parse::<std::net::SocketAddr>()
                .map_err(|e| std::io::Error::other(e.to_string()))
        }
    })
    .await
    .expect("admin address file");
    let out = tokio::time::timeout(
        DEADLINE,
        Command::new(BIN)
            .args(["status", "--admin", &admin.to_string(), "--hubble-addr"])
            .arg(server.local_addr().to_string())
            .output(),
    )
    .await
    .expect("status finished in time")
    .expect("run portico status");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("Admin API:  {admin}")), "{stdout}");
    assert!(stdout.contains("Gateways:   0 (0 programmed)"), "{stdout}");
    assert!(stdout.contains("Routes:     0 (0 accepted)"), "{stdout}");
    assert!(
        stdout.contains("Flows:      3 / 4095 in ring, 3 seen"),
        "{stdout}"
    );
    run.kill().await.expect("kill portico run");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn print_raw_filters_needs_no_server() {
    let out = tokio::time::timeout(
        DEADLINE,
        Command::new(BIN)
            .args([
                "observe",
                "--print-raw-filters",
                "--from-ip",
                "10.0.0.1",
                "--not",
                "--verdict",
                "DROPPED",
                "--hubble-addr",
                "127.0.0.1:9",
            ])
            .output(),
    )
    .await
    .expect("finished in time")
    .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["allowlist"][0]["source_ip"][0], "10.0.0.1");
    assert_eq!(v["denylist"][0]["verdict"][0], "DROPPED");
}
