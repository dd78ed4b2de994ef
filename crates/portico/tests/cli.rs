//! End-to-end tests of the `portico` binary: `portico run` on a temporary
//! directory (admin API on port 0, address written to a file), `portico get`
//! against it, real HTTP through the gateway to an echo backend, and
//! `portico check`. Deadlines, never fixed sleeps.

mod common;

use common::http_get;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use portico_testkit::{EchoBackend, Identity, eventually, manifests};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const DEADLINE: Duration = Duration::from_secs(20);

/// A running `portico run`, killed on drop.
struct Instance {
    child: Child,
    admin: SocketAddr,
    hubble: SocketAddr,
    dir: tempfile::TempDir,
}

impl Instance {
    async fn start(dir: tempfile::TempDir) -> Instance {
        // A port just released by the kernel (the Hubble API has no address file).
        let hubble = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let (child, admin) =
            common::spawn_run(dir.path(), &hubble.to_string(), &[], DEADLINE).await;
        Instance {
            child,
            admin,
            hubble,
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `portico ARGS --admin ADDR`; returns (exit code, stdout, stderr).
    async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .args(["--admin", &self.admin.to_string()])
            .output()
            .await
            .expect("run portico");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `portico get ARGS -o json`, parsed.
    async fn get_json(&self, args: &[&str]) -> Result<Value, String> {
        let mut all = vec!["get"];
        all.extend(args);
        all.extend(["-o", "json"]);
        let (code, stdout, stderr) = self.cli(&all).await;
        if code != 0 {
            return Err(format!("exit {code}: {stderr}"));
        }
        serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))
    }

    async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, "admin", path)
            .await
            .expect("admin request")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A port free on the gateway's loopback address right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.10.0.1:0")
        .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

fn gateway_yaml(port: u16, extra_listener: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: portico
spec:
  controllerName: portico.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: portico
  listeners:
  - name: http
    protocol: HTTP
    port: {port}
{extra_listener}"#
    )
}

const ROUTE: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: echo
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    backendRefs:
    - name: echo
      port: 8080
"#;

fn write(path: &Path, text: &str) {
    // Write then rename, as editors do, so the watcher never reads half a file.
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn condition<'a>(conditions: &'a Value, type_: &str) -> Option<&'a Value> {
    conditions.as_array()?.iter().find(|c| c["type"] == type_)
}

fn condition_status(conditions: &Value, type_: &str) -> String {
    condition(conditions, type_)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("<none>")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_get_traffic_and_file_edits() {
    let backend = EchoBackend::http(Identity::new("default", "echo"))
        .await
        .expect("echo backend");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("gateway.yaml"), &gateway_yaml(port, ""));
    write(&dir.path().join("route.yaml"), ROUTE);
    write(
        &dir.path().join("backend.yaml"),
        &manifests::service("default", "echo", 8080, "TCP", None, &[(&backend).into()]),
    );
    let gw = Instance::start(dir).await;

    // The Gateway is accepted and programmed, with an address.
    let gateway = eventually(DEADLINE, || async {
        let v = gw.get_json(&["gateways", "gw"]).await?;
        let conditions = &v["status"]["conditions"];
        if condition_status(conditions, "Accepted") == "True"
            && condition_status(conditions, "Programmed") == "True"
        {
            Ok(v)
        } else {
            Err(format!("not ready yet: {}", v["status"]))
        }
    })
    .await
    .expect("gateway programmed");
    assert_eq!(gateway["kind"], "Gateway");
    assert_eq!(gateway["metadata"]["namespace"], "default");
    let address = gateway["status"]["addresses"][0]["value"]
        .as_str()
        .expect("gateway address")
        .to_string();
    let class_time = |v: &Value| {
        condition(&v["status"]["conditions"], "Accepted").map(|c| c["lastTransitionTime"].clone())
    };
    let class = gw.get_json(&["gc", "portico"]).await.expect("gatewayclass");
    let class_accepted_at = class_time(&class);
    assert!(
        class_accepted_at.as_ref().is_some_and(Value::is_string),
        "{class}"
    );

    // Readiness and metrics.
    assert_eq!(gw.admin_get("/readyz").await.0, 200);
    let (_, metrics) = gw.admin_get("/metrics").await;
    assert!(
        metrics.contains("portico_config_reloads_total{result=\"success\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portico_objects{kind=\"HTTPRoute\"} 1"),
        "{metrics}"
    );

    // Real traffic through the gateway to the echo backend.
    let gateway_addr: SocketAddr = format!("{address}:{port}").parse().expect("gateway addr");
    let (status, body) = eventually(DEADLINE, || async {
        match http_get(gateway_addr, "example.com", "/hello?x=1").await {
            Ok((200, body)) => Ok((200, body)),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .expect("request through the gateway");
    assert_eq!(status, 200);
    let echoed: Value = serde_json::from_str(&body).expect("echo JSON");
    assert_eq!(echoed["path"], "/hello?x=1");
    assert_eq!(echoed["service"], "echo");

    // The request is a flow in the Hubble observer API.
    let out = Command::new(BIN)
        .args([
            "observe",
            "--last",
            "50",
            "--hubble-addr",
            &gw.hubble.to_string(),
        ])
        .output()
        .await
        .expect("portico observe");
    let flows = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{flows}");
    assert!(flows.contains("/hello?x=1"), "{flows}");

    // jsonpath and name output, as scripts use them.
    let (code, out, _) = gw
        .cli(&[
            "get",
            "gateway",
            "gw",
            "-o",
            "jsonpath={.status.addresses[0].value}",
        ])
        .await;
    assert_eq!((code, out.as_str()), (0, address.as_str()));
    let (_, out, _) = gw.cli(&["get", "svc", "-o", "name"]).await;
    assert_eq!(out, "service/echo\n");

    // Several kinds at once, like kubectl.
    let (code, out, _) = gw.cli(&["get", "gtw,svc"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("gateway.gateway.networking.k8s.io/gw"),
        "{out}"
    );
    assert!(out.contains("service/echo"), "{out}");
    let both = gw.get_json(&["gateways,services"]).await.expect("list");
    assert_eq!(both["items"].as_array().map(Vec::len), Some(2), "{both}");

    // The table form lists the gateway with its address.
    let (code, table, _) = gw.cli(&["get", "gateways"]).await;
    assert_eq!(code, 0);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains(&address) && table.contains("portico"),
        "{table}"
    );

    // Add an invalid listener: its status changes, the Gateway keeps serving.
    write(
        &gw.path("gateway.yaml"),
        &gateway_yaml(port, "  - name: bad\n    protocol: INVALID\n    port: 1\n"),
    );
    let gateway = eventually(DEADLINE, || async {
        let v = gw.get_json(&["gtw", "gw"]).await?;
        let bad = v["status"]["listeners"]
            .as_array()
            .and_then(|ls| ls.iter().find(|l| l["name"] == "bad"))
            .cloned();
        match bad {
            Some(l) if condition_status(&l["conditions"], "Accepted") == "False" => Ok(v),
            _ => Err(format!("listener 'bad' not rejected yet: {}", v["status"])),
        }
    })
    .await
    .expect("invalid listener reported");
    assert_eq!(
        gateway["metadata"]["generation"], 2,
        "{}",
        gateway["metadata"]
    );
    let (status, _) = http_get(gateway_addr, "example.com", "/still")
        .await
        .expect("request after edit");
    assert_eq!(status, 200);
    // Unchanged conditions keep their transition time.
    let class = gw
        .get_json(&["gatewayclasses", "portico"])
        .await
        .expect("gc");
    assert_eq!(class_time(&class), class_accepted_at);

    // Problems list the failing listener.
    let (_, problems) = gw.admin_get("/api/problems").await;
    assert!(problems.contains("listener bad"), "{problems}");

    // Deleting a file deletes its objects.
    std::fs::remove_file(gw.path("route.yaml")).expect("remove route");
    eventually(DEADLINE, || async {
        let v = gw.get_json(&["httproutes"]).await?;
        match v["items"].as_array() {
            Some(items) if items.is_empty() => Ok(()),
            _ => Err(format!("route still listed: {v}")),
        }
    })
    .await
    .expect("route gone");
    let (code, _, stderr) = gw.cli(&["get", "httproute", "echo"]).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("NotFound"), "{stderr}");
    let (status, _) = eventually(DEADLINE, || async {
        match http_get(gateway_addr, "example.com", "/gone").await {
            Ok((404, body)) => Ok((404, body)),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .expect("no route: 404");
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_file_keeps_the_last_good_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("gateway.yaml"),
        &gateway_yaml(free_port(), ""),
    );
    let gw = Instance::start(dir).await;
    eventually(DEADLINE, || async {
        let v = gw.get_json(&["gateways"]).await?;
        match v["items"].as_array().map(Vec::len) {
            Some(1) => Ok(()),
            n => Err(format!("{n:?} gateways")),
        }
    })
    .await
    .expect("gateway loaded");

    write(
        &gw.path("gateway.yaml"),
        "kind: Gateway\nmetadata: [unclosed\n",
    );
    let problems = eventually(DEADLINE, || async {
        let (status, body) = gw.admin_get("/api/problems").await;
        let problems: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let located = problems.as_array().into_iter().flatten().find(|p| {
            p["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("gateway.yaml"))
                && p["line"] == 2
                && p["severity"] == "error"
        });
        match located {
            Some(p) if status == 200 => Ok(p.clone()),
            _ => Err(body),
        }
    })
    .await
    .expect("syntax error reported");
    assert!(problems["column"].as_u64().is_some(), "{problems}");
    // The objects of the last valid version are still served.
    let v = gw.get_json(&["gateways", "-A"]).await.expect("get");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1), "{v}");
    let (_, metrics) = gw.admin_get("/metrics").await;
    assert!(
        metrics.contains("portico_config_load_errors 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("portico_config_reloads_total{result=\"error\"} 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn get_rejects_unknown_kinds_and_explains_a_missing_server() {
    let out = Command::new(BIN)
        .args(["get", "pods"])
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("resource type \"pods\""));

    // Nothing listens on a port that was just released.
    let port = free_port();
    let out = Command::new(BIN)
        .args(["get", "gateways", "--admin", &format!("127.0.0.1:{port}")])
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the Portico admin API"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn check_reports_a_broken_file_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("a-gateway.yaml"), &gateway_yaml(8080, ""));
    write(
        &dir.path().join("b-broken.yaml"),
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\nspec:\n  parentRefs: 42\n",
    );
    let stdout = check_fails(dir.path()).await;
    let line = stdout
        .lines()
        .find(|l| l.contains("b-broken.yaml:"))
        .unwrap_or_else(|| panic!("no location in {stdout}"));
    // file:line:column: Kind namespace/name: message
    let after = line.split("b-broken.yaml:").nth(1).unwrap_or_default();
    let mut parts = after.splitn(3, ':');
    assert!(
        parts.next().is_some_and(|l| l.parse::<usize>().is_ok()),
        "{line}"
    );
    assert!(
        parts.next().is_some_and(|c| c.parse::<usize>().is_ok()),
        "{line}"
    );
    assert!(line.contains("HTTPRoute"), "{line}");

    // A single file can be checked too.
    let stdout = check_fails(dir.path().join("b-broken.yaml")).await;
    assert!(stdout.contains("b-broken.yaml:6:"), "{stdout}");
}

/// `portico check PATH`, which must exit 1; its stdout.
async fn check_fails(path: impl AsRef<Path>) -> String {
    let out = Command::new(BIN)
        .arg("check")
        .arg(path.as_ref())
        .output()
        .await
        .expect("run check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    stdout
}

#[tokio::test]
async fn check_passes_on_the_quickstart_example() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let out = Command::new(BIN)
        .arg("check")
        .arg(&example)
        .output()
        .await
        .expect("run check");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn check_flags_failing_conditions() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("gateway.yaml"),
        &gateway_yaml(8080, "  - name: bad\n    protocol: INVALID\n    port: 1\n"),
    );
    let stdout = check_fails(dir.path()).await;
    assert!(
        stdout.lines().any(|l| l.contains("gateway.yaml:")
            && l.contains(
                "Gateway default/gw: listener bad: condition Accepted=False UnsupportedProtocol"
            )),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_run_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("gateway.yaml"),
        &gateway_yaml(free_port(), ""),
    );
    let mut gw = Instance::start(dir).await;
    eventually(DEADLINE, || async {
        match gw.admin_get("/readyz").await.0 {
            200 => Ok(()),
            other => Err(other),
        }
    })
    .await
    .expect("ready");
    let pid = gw.child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(DEADLINE, gw.child.wait())
        .await
        .expect("exits before the deadline")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_dump_redacts_private_keys() {
    let cert = portico_testkit::self_signed(&["tls.example.com"]).expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: portico
spec:
  controllerName: portico.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: tls
spec:
  gatewayClassName: portico
  listeners:
  - name: https
    protocol: HTTPS
    port: {}
    tls:
      mode: Terminate
      certificateRefs:
      - name: cert
"#,
        free_port()
    );
    write(&dir.path().join("gateway.yaml"), &gateway);
    write(
        &dir.path().join("secret.yaml"),
        &manifests::tls_secret("default", "cert", &cert),
    );
    let gw = Instance::start(dir).await;
    let dump = eventually(DEADLINE, || async {
        let (status, body) = gw.admin_get("/config_dump").await;
        if status == 200 && body.contains("BEGIN CERTIFICATE") {
            Ok(body)
        } else {
            Err(body)
        }
    })
    .await
    .expect("certificate in the IR");
    let key_line = cert
        .key_pem
        .lines()
        .nth(1)
        .expect("a base64 line in the key");
    assert!(!dump.contains(key_line), "private key leaked: {dump}");
    assert!(!dump.contains("PRIVATE KEY"), "private key leaked");
    assert!(dump.contains("<redacted>"), "{dump}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_serves_http_and_tcp_and_stops_on_sigterm() {
    // Ports just released by the kernel; `portico echo` binds them at once.
    let free = |addr: &str| {
        std::net::TcpListener::bind(addr)
            .and_then(|l| l.local_addr())
            .expect("free port")
    };
    let http = free("127.0.0.1:0");
    let tcp = free("127.0.0.1:0");
    let mut echo = Command::new(BIN)
        .args([
            "echo",
            "--quiet",
            "--service",
            "svc-a",
            "--namespace",
            "ns-a",
        ])
        .args(["--http", &http.to_string(), "--tcp", &tcp.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn portico echo");
    let (status, body) = eventually(DEADLINE, || async {
        http_get(http, "echo.test", "/x")
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .expect("http echo");
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["service"].as_str(), v["namespace"].as_str()),
        (Some("svc-a"), Some("ns-a"))
    );
    assert!(
        v["pod"].as_str().is_some_and(|p| p.starts_with("svc-a-")),
        "{v}"
    );

    let mut stream = tokio::net::TcpStream::connect(tcp).await.expect("tcp echo");
    stream.write_all(b"PING\n").await.expect("write");
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("PONG") {
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed before PONG: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }

    let pid = echo.id().expect("pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill")
            .success()
    );
    let status = tokio::time::timeout(DEADLINE, echo.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

/// A reader that goes away (`portico crds | head -1`) ends the command
/// quietly instead of a "failed printing to stdout" panic.
#[tokio::test]
async fn closed_stdout_pipe_is_not_a_panic() {
    let mut child = Command::new(BIN)
        .arg("crds")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("portico crds");
    // Close the read end before the command writes its ~5 KB.
    drop(child.stdout.take());
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits")
        .expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?} {stderr}", out.status);
}

/// A listener whose certificate has expired is InvalidCertificateRef (the
/// other listener stays fine), and `check` says so.
#[tokio::test]
async fn check_reports_an_expired_listener_certificate() {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["old.example.com".to_string()]).expect("params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let pem = params.self_signed(&key).expect("cert").pem();
    let expired = portico_testkit::CertifiedPem {
        cert_pem: pem.clone(),
        chain_pem: pem,
        key_pem: key.serialize_pem(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let https = "  - name: https\n    protocol: HTTPS\n    port: 8443\n    tls:\n      certificateRefs:\n      - name: old\n";
    write(&dir.path().join("gateway.yaml"), &gateway_yaml(8080, https));
    write(
        &dir.path().join("secret.yaml"),
        &manifests::tls_secret("default", "old", &expired),
    );
    let stdout = check_fails(dir.path()).await;
    let line = stdout
        .lines()
        .find(|l| l.contains("InvalidCertificateRef"))
        .unwrap_or_else(|| panic!("no InvalidCertificateRef in {stdout}"));
    assert!(line.contains("expired at 2021-01-01T00:00:00Z"), "{line}");
}
