//! The web UI in real headless Chromium: `portico run` on a temp directory
//! with a Gateway, an HTTPRoute and an echo backend; traffic through the
//! Gateway (200, 404, 500); chromedriver's W3C WebDriver API checks that
//! the service map shows the gateway, route and service nodes and that the
//! flow table lists the requests with their status codes, updating as more
//! traffic flows. Saves a screenshot to docs/ui.png.
//!
//! Skips (with the reason printed) only when Chromium or chromedriver is
//! missing and cannot be installed, or cannot start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use portico_testkit::{EchoBackend, Identity, eventually, manifests};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_portico");
const DEADLINE: Duration = Duration::from_secs(20);

const GATEWAY: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: portico
spec:
  controllerName: portico.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web-gw
spec:
  gatewayClassName: portico
  listeners:
  - name: http
    protocol: HTTP
    port: PORT
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: shop
spec:
  parentRefs:
  - name: web-gw
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /shop
    backendRefs:
    - name: echo
      port: 8080
  - matches:
    - path:
        type: PathPrefix
        value: /broken
    backendRefs:
    - name: missing
      port: 8080
"#;

/// Finds chromium and chromedriver, installing them with apt-get when
/// missing and running as root. `Err` is the reason to skip.
fn browser_binaries() -> Result<(PathBuf, PathBuf), String> {
    fn find() -> Option<(PathBuf, PathBuf)> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())?;
        let driver = PathBuf::from("/usr/bin/chromedriver");
        driver.exists().then_some((chromium, driver))
    }
    if let Some(found) = find() {
        return Ok(found);
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        return Err("chromium/chromedriver missing and not root to apt-get install them".into());
    }
    for args in [
        vec!["update"],
        vec!["install", "-y", "chromium", "chromium-driver"],
    ] {
        let status = std::process::Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("apt-get: {e}"))?;
        if !status.success() {
            return Err(format!("apt-get {} failed: {status}", args.join(" ")));
        }
    }
    find().ok_or_else(|| "chromium still missing after apt-get install".into())
}

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .or_else(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if body.is_some() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!(
        "Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    ));
    stream.write_all(request.as_bytes()).await?;
    // chromedriver may keep the connection open: read by Content-Length
    // (or chunks), not to the end of the stream.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = stream.read(&mut buf).await?;
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let lower = head.to_ascii_lowercase();
            let length = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let complete = match length {
                Some(len) => rest.len() >= len,
                None if lower.contains("transfer-encoding: chunked") => rest.ends_with("0\r\n\r\n"),
                None => n == 0,
            };
            if complete || n == 0 {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
                let body = if length.is_none() && lower.contains("transfer-encoding: chunked") {
                    dechunk(rest)
                } else {
                    rest.to_owned()
                };
                return Ok((status, body));
            }
        }
        if n == 0 {
            return Err(std::io::Error::other(format!(
                "connection closed: {text:?}"
            )));
        }
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            n |= d << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

/// A running process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

/// A WebDriver session on chromedriver.
struct Browser {
    driver: SocketAddr,
    session: String,
}

impl Browser {
    async fn command(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("/session/{}{path}", self.session);
        let (status, text) = http(self.driver, method, &url, body.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if status != 200 {
            return Err(format!("{method} {path}: {status} {}", v["value"]));
        }
        Ok(v["value"].clone())
    }

    /// The text of every element matching `css`.
    async fn texts(&self, css: &str) -> Result<Vec<String>, String> {
        let found = self
            .command(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        let mut out = Vec::new();
        for element in found.as_array().cloned().unwrap_or_default() {
            let id = element
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(Value::as_str)
                .ok_or_else(|| format!("odd element {element}"))?
                .to_owned();
            let text = self
                .command("GET", &format!("/element/{id}/text"), None)
                .await?;
            out.push(text.as_str().unwrap_or("").to_owned());
        }
        Ok(out)
    }

    /// The flow table's cells, row by row (newest first).
    async fn rows(&self) -> Result<Vec<Vec<String>>, String> {
        let v = self
            .script(
                "return Array.from(document.querySelectorAll('#flows tbody tr'))\
                 .map(tr => Array.from(tr.cells).map(td => td.textContent));",
            )
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// A script's return value.
    async fn script(&self, script: &str) -> Result<Value, String> {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }
}

async fn start_browser(
    chromium: &Path,
    driver_bin: &Path,
) -> Result<(Killed, Browser, tempfile::TempDir), String> {
    let port = free_port("127.0.0.1");
    let driver = SocketAddr::from(([127, 0, 0, 1], port));
    let child = Command::new(driver_bin)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting chromedriver: {e}"))?;
    let child = Killed(child);
    eventually(DEADLINE, || async {
        match http(driver, "GET", "/status", None).await {
            Ok((200, body)) if body.contains("\"ready\":true") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .map_err(|e| format!("chromedriver not ready: {e:?}"))?;
    let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.to_string_lossy(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1440,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    }}});
    let (status, body) =
        tokio::time::timeout(DEADLINE, http(driver, "POST", "/session", Some(&caps)))
            .await
            .map_err(|_| "creating a session timed out".to_string())?
            .map_err(|e| format!("creating a session: {e}"))?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let session = v["value"]["sessionId"]
        .as_str()
        .filter(|_| status == 200)
        .ok_or_else(|| format!("chromium did not start: {status} {}", v["value"]["message"]))?
        .to_owned();
    Ok((child, Browser { driver, session }, profile))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_shows_the_map_and_live_flows_in_chromium() {
    let (chromium, driver_bin) = match browser_binaries() {
        Ok(found) => found,
        Err(reason) => {
            println!("SKIPPED the_ui_shows_the_map_and_live_flows_in_chromium: {reason}");
            return;
        }
    };

    // portico run with a Gateway, a route and an echo backend.
    let backend = EchoBackend::http(Identity::new("default", "echo"))
        .await
        .expect("echo backend");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port("127.10.0.1");
    write(
        &dir.path().join("gateway.yaml"),
        &GATEWAY.replace("PORT", &port.to_string()),
    );
    write(
        &dir.path().join("backend.yaml"),
        &manifests::service("default", "echo", 8080, "TCP", None, &[(&backend).into()]),
    );
    let addr_file = dir.path().join(".admin-addr");
    let access_log = dir.path().join("access.log");
    let hubble = free_port("127.0.0.1");
    let _portico = Killed(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.path())
            .args(["--admin", "127.0.0.1:0", "--admin-addr-file"])
            .arg(&addr_file)
            .args(["--hubble-addr", &format!("127.0.0.1:{hubble}")])
            .arg("--access-log")
            .arg(&access_log)
            .args([
                "--access-log-fields",
                "time,client,route,path,status,verdict",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn portico run"),
    );
    let admin: SocketAddr = eventually(DEADLINE, || async {
        let text = tokio::fs::read_to_string(&addr_file).await?;
        text.trim()
            .parse::<SocketAddr>()
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .await
    .expect("admin address file");

    // The Gateway's address, once programmed.
    let address = eventually(DEADLINE, || async {
        let (_, body) = http(admin, "GET", "/api/objects?kind=Gateway", None)
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        v["items"][0]["status"]["addresses"][0]["value"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no address yet: {body}"))
    })
    .await
    .expect("gateway address");
    let gateway: SocketAddr = format!("{address}:{port}").parse().expect("gateway addr");
    let send =
        |path: &'static str| async move { http(gateway, "GET", path, None).await.map(|(s, _)| s) };
    eventually(DEADLINE, || async {
        match send("/shop/ready").await {
            Ok(200) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .expect("traffic flows through the gateway");
    assert_eq!(send("/shop/cart").await.expect("request"), 200);
    assert_eq!(send("/nowhere").await.expect("request"), 404);
    assert_eq!(send("/broken/checkout").await.expect("request"), 500);

    let (_driver, browser, _profile) = match start_browser(&chromium, &driver_bin).await {
        Ok(b) => b,
        Err(reason) => {
            println!("SKIPPED the_ui_shows_the_map_and_live_flows_in_chromium: {reason}");
            return;
        }
    };
    browser
        .command(
            "POST",
            "/url",
            Some(json!({"url": format!("http://{admin}/ui/")})),
        )
        .await
        .expect("navigate");

    // The map: gateway, route and service nodes.
    let labels = eventually(DEADLINE, || async {
        let labels = browser.texts("#service-map .node .label").await?;
        let want = ["default/web-gw", "HTTPRoute default/shop", "default/echo"];
        if want.iter().all(|w| labels.iter().any(|l| l == w)) {
            Ok(labels)
        } else {
            Err(format!("map labels so far: {labels:?}"))
        }
    })
    .await
    .expect("map shows gateway, route and service");
    assert!(
        labels.iter().any(|l| l.starts_with("127.")),
        "client node: {labels:?}"
    );
    let kinds = browser
        .script(
            "return Array.from(document.querySelectorAll('#service-map .node'))\
             .map(n => n.getAttribute('data-id'));",
        )
        .await
        .expect("node ids");
    let kinds = kinds.to_string();
    assert!(kinds.contains("gateway:default/web-gw"), "{kinds}");
    assert!(kinds.contains("service:default/echo"), "{kinds}");

    // The table: each request with its status code.
    let has = |rows: &[Vec<String>], path: &str, status: &str| {
        rows.iter()
            .any(|r| r.get(7).is_some_and(|p| p == path) && r.get(8).is_some_and(|s| s == status))
    };
    eventually(DEADLINE, || async {
        let rows = browser.rows().await?;
        if has(&rows, "/shop/cart", "200")
            && has(&rows, "/nowhere", "404")
            && has(&rows, "/broken/checkout", "500")
        {
            Ok(())
        } else {
            Err(format!("rows so far: {rows:?}"))
        }
    })
    .await
    .expect("flow table shows 200, 404 and 500");

    // More traffic: the open page picks it up without a reload.
    assert_eq!(send("/shop/more-traffic").await.expect("request"), 200);
    assert_eq!(send("/broken/again").await.expect("request"), 500);
    eventually(DEADLINE, || async {
        let rows = browser.rows().await?;
        if has(&rows, "/shop/more-traffic", "200") && has(&rows, "/broken/again", "500") {
            Ok(())
        } else {
            Err(format!("rows so far: {rows:?}"))
        }
    })
    .await
    .expect("flow table updates live");
    // The edge to the failing path is coloured as an error.
    let bad_edges = browser
        .script("return document.querySelectorAll('#service-map path.edge.bad').length;")
        .await
        .expect("edges");
    assert!(bad_edges.as_u64().unwrap_or(0) >= 1, "{bad_edges}");

    // A filter typed into the form narrows the table.
    browser
        .script(
            "document.querySelector('[name=\"http-status\"]').value = '5+';\
             document.querySelector('#filters button[type=submit]').click(); return true;",
        )
        .await
        .expect("filter");
    eventually(DEADLINE, || async {
        let rows = browser.rows().await?;
        if !rows.is_empty() && rows.iter().all(|r| r.get(8).is_some_and(|s| s == "500")) {
            Ok(())
        } else {
            Err(format!("rows so far: {rows:?}"))
        }
    })
    .await
    .expect("filtered table shows only 5xx");
    browser
        .script(
            "document.querySelector('[name=\"http-status\"]').value = '';\
             document.querySelector('#filters button[type=submit]').click(); return true;",
        )
        .await
        .expect("clear filter");
    eventually(DEADLINE, || async {
        let rows = browser.rows().await?;
        if has(&rows, "/shop/cart", "200") {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await
    .expect("unfiltered again");

    // Screenshot for the docs.
    let png = browser
        .command("GET", "/screenshot", None)
        .await
        .expect("screenshot");
    let png = base64_decode(png.as_str().unwrap_or(""));
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ui.png");
    std::fs::write(&docs, &png).expect("write docs/ui.png");
    let _ = browser.command("DELETE", "", None).await;

    // The access log saw the same requests.
    let log = eventually(DEADLINE, || async {
        let text = tokio::fs::read_to_string(&access_log)
            .await
            .map_err(|e| e.to_string())?;
        if text.contains("/broken/again") {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await
    .expect("access log lines");
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["path"] == "/shop/cart")
        .expect("a line for /shop/cart");
    assert_eq!(line["status"], 200);
    assert_eq!(line["route"], "HTTPRoute default/shop");
    assert_eq!(line["verdict"], "FORWARDED");
    assert_eq!(line.as_object().map(|o| o.len()), Some(6), "{line}");
}
