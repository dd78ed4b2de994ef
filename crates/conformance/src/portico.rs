//! The Portico process under test and its admin API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::error::{Context, Failure};

/// A running `portico run --config DIR`, killed on drop.
pub struct Portico {
    child: Child,
    pub admin: SocketAddr,
    client: Client<HttpConnector, Empty<Bytes>>,
    pub log_file: PathBuf,
}

/// Where the binary under test is: `PORTICO_BIN`, else `portico` next to
/// the test executable's `deps/` directory (cargo's layout).
pub fn binary() -> Result<PathBuf, Failure> {
    if let Some(bin) = std::env::var_os("PORTICO_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let mut dir = exe.parent();
    while let Some(d) = dir {
        let candidate = d.join("portico");
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = d.parent();
        if d.file_name().is_some_and(|n| n == "target") {
            break;
        }
    }
    Err(Failure::new(
        "portico binary not found: build it (cargo build -p portico) or set PORTICO_BIN",
    ))
}

impl Portico {
    pub async fn start(bin: &Path, config: &Path, work: &Path) -> Result<Portico, Failure> {
        let addr_file = work.join("admin.addr");
        let log_file = work.join("portico.log");
        let log = std::fs::File::create(&log_file).context("creating the log file")?;
        let log_err = log.try_clone().context("cloning the log file")?;
        let child = Command::new(bin)
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--admin")
            .arg("127.0.0.1:0")
            .arg("--admin-addr-file")
            .arg(&addr_file)
            .arg("--hubble-addr")
            .arg("127.0.0.1:0")
            .arg("--debounce")
            .arg("50ms")
            .arg("--drain-timeout")
            .arg("1s")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true)
            .spawn()
            .context(&format!("starting {}", bin.display()))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let admin = loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && let Ok(addr) = text.trim().parse::<SocketAddr>()
            {
                break addr;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Failure(format!(
                    "portico did not write its admin address; log:\n{}",
                    std::fs::read_to_string(&log_file).unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(Portico {
            child,
            admin,
            client,
            log_file,
        })
    }

    /// GET an admin path and parse JSON.
    pub async fn get_json(&self, path_and_query: &str) -> Result<Value, Failure> {
        let uri: http::Uri = format!("http://{}{}", self.admin, path_and_query)
            .parse()
            .context("admin uri")?;
        let response = self.client.get(uri).await.context("admin request")?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("admin body")?
            .to_bytes();
        if !status.is_success() {
            return Err(Failure(format!(
                "admin {path_and_query}: {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        serde_json::from_slice(&body).context("admin JSON")
    }

    /// Objects of a kind (optionally one namespace/name), with status.
    pub async fn objects(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Value>, Failure> {
        let mut q = format!("/api/objects?kind={kind}");
        if let Some(ns) = namespace {
            q.push_str(&format!("&namespace={ns}"));
        }
        if let Some(n) = name {
            q.push_str(&format!("&name={n}"));
        }
        let value = self.get_json(&q).await?;
        Ok(match value {
            Value::Array(items) => items,
            Value::Object(ref m) if m.contains_key("items") => value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Value::Object(_) => vec![value],
            _ => Vec::new(),
        })
    }

    /// One object, if it exists.
    pub async fn object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Value>, Failure> {
        let ns = (!namespace.is_empty()).then_some(namespace);
        Ok(self.objects(kind, ns, Some(name)).await?.into_iter().next())
    }

    /// The log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
