//! Foreign-client test: a Python grpcio client generated from the same
//! proto files (tests/python/hubble_client.py) talks to the Rust server.
//!
//! Needs `python3` with grpcio and grpcio-tools
//! (`python3 -m pip install grpcio grpcio-tools`); without them the test
//! prints why and passes without checking anything.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use portico_observe::flow::{
    Endpoint, Flow, FlowRing, GatewayRef, HttpInfo, IpInfo, L7Record, L7Type, Layer4, Layer7,
    RingConfig, ServiceRef, TcpFlags, Verdict,
};
use portico_observe::hubble::{ServerOptions, serve};
use tokio::net::TcpListener;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(120);

fn flow(code: u16, path: &str, verdict: Verdict) -> Flow {
    Flow {
        verdict,
        ip: Some(IpInfo {
            source: "192.0.2.10".parse().expect("ip"),
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
        // Portico's extension field on the wire: upstream-built clients
        // must skip it.
        gateway: Some(GatewayRef {
            namespace: "infra".into(),
            name: "gw".into(),
            listener: Some("http".into()),
        }),
        ..Flow::default()
    }
}

async fn python_has_grpc() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools.protoc"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "python3 lacks grpcio/grpcio-tools (python3 -m pip install grpcio grpcio-tools): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[tokio::test]
async fn python_grpcio_client_speaks_hubble() {
    if let Err(reason) = python_has_grpc().await {
        println!("SKIPPED python_grpcio_client_speaks_hubble: {reason}");
        return;
    }
    let ring = FlowRing::new(RingConfig {
        node_name: "py-node".into(),
        ..RingConfig::default()
    })
    .expect("ring");
    let sink = ring.sink();
    sink.emit(flow(200, "/", Verdict::Forwarded));
    sink.emit(flow(404, "/missing", Verdict::Forwarded));
    sink.emit(flow(503, "/api", Verdict::Error));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = serve(listener, ring.clone(), ServerOptions::default()).expect("serve");

    // Traffic for the client's follow check, until the client exits.
    let ticker_sink = sink.clone();
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(50));
        loop {
            every.tick().await;
            ticker_sink.emit(flow(200, "/tick", Verdict::Forwarded));
        }
    });

    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.join("tests/python/hubble_client.py");
    let protos = manifest.join("proto");
    let child = Command::new("python3")
        .arg(&script)
        .arg(server.local_addr().to_string())
        .arg(&protos)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn python3");
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("python client finished before the deadline")
        .expect("python client output");
    ticker.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "python client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.lines().any(|l| l == "OK"), "{stdout}");
    server.shutdown().await.expect("shutdown");
}
