//! One test environment: a config directory, echo backends, a Portico process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::backends::Backends;
use crate::certs::Certs;
use crate::error::{Context, Failure};
use crate::manifests::{self, kind};
use crate::portico::{self, Portico};
use crate::status;

/// What every environment shares.
#[derive(Clone)]
pub struct EnvConfig {
    pub portico_bin: PathBuf,
    pub certs: Arc<Certs>,
    /// How long an expectation may take to become consistently true.
    pub max_time_to_consistency: Duration,
    /// Consecutive successes that make a request expectation pass.
    pub required_consecutive_successes: u32,
}

impl EnvConfig {
    pub fn from_environment() -> Result<EnvConfig, Failure> {
        Ok(EnvConfig {
            portico_bin: portico::binary()?,
            certs: Arc::new(Certs::generate()?),
            max_time_to_consistency: Duration::from_secs(15),
            required_consecutive_successes: 3,
        })
    }
}

/// A running environment for one test.
pub struct Env {
    pub config: EnvConfig,
    dir: tempfile::TempDir,
    docs: Vec<Value>,
    backends: Option<Backends>,
    portico: Option<Portico>,
}

impl Env {
    /// Loads base + `manifests` (paths relative to the conformance dir),
    /// starts backends and Portico.
    pub async fn start(
        config: &EnvConfig,
        manifests: &[&str],
        substitutions: &[(&str, &str)],
    ) -> Result<Env, Failure> {
        let dir = tempfile::tempdir().context("tempdir")?;
        let config_dir = dir.path().join("config");
        std::fs::create_dir_all(&config_dir).context("config dir")?;
        let mut docs = Vec::new();
        let mut files = vec!["base/manifests.yaml".to_string()];
        files.extend(manifests.iter().map(|m| m.to_string()));
        for (i, rel) in files.iter().enumerate() {
            let path = manifests::conformance_file(rel)?;
            let text = std::fs::read_to_string(&path).context(&path.display().to_string())?;
            let text = manifests::substitute(&text, substitutions);
            docs.extend(manifests::documents(&text)?);
            let file_name = format!("{i:02}-{}", rel.replace('/', "_"));
            std::fs::write(config_dir.join(file_name), text).context("writing a manifest")?;
        }
        std::fs::write(
            config_dir.join("00-gatewayclass.yaml"),
            manifests::gateway_class_yaml(),
        )
        .context("writing the GatewayClass")?;
        std::fs::write(config_dir.join("00-certs.yaml"), &config.certs.yaml)
            .context("writing certificates")?;
        let backends = Backends::start(&docs, &config.certs.secrets).await?;
        std::fs::write(
            config_dir.join("00-endpointslices.yaml"),
            backends.endpoint_slices(&docs),
        )
        .context("writing EndpointSlices")?;
        let portico = Portico::start(&config.portico_bin, &config_dir, dir.path()).await?;
        Ok(Env {
            config: config.clone(),
            dir,
            docs,
            backends: Some(backends),
            portico: Some(portico),
        })
    }

    pub fn portico(&self) -> Result<&Portico, Failure> {
        self.portico
            .as_ref()
            .ok_or_else(|| Failure::new("portico is stopped"))
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Documents loaded for this test (after substitution).
    pub fn documents(&self) -> &[Value] {
        &self.docs
    }

    /// Writes (or replaces) a config file with `yaml`; live within a second.
    pub fn write_file(&self, name: &str, yaml: &str) -> Result<(), Failure> {
        let path = self.config_dir().join(name);
        std::fs::write(&path, yaml).context(&path.display().to_string())
    }

    /// Replaces one object (matched by kind/namespace/name) in the config
    /// with `replacement`, by writing an overriding file and removing the
    /// object from the file it came from.
    pub fn replace_object(
        &self,
        kind_: &str,
        namespace: &str,
        name: &str,
        replacement: &Value,
    ) -> Result<(), Failure> {
        self.edit_objects(kind_, namespace, name, Some(replacement))
    }

    /// Deletes one object from the config.
    pub fn delete_object(&self, kind_: &str, namespace: &str, name: &str) -> Result<(), Failure> {
        self.edit_objects(kind_, namespace, name, None)
    }

    fn edit_objects(
        &self,
        kind_: &str,
        namespace: &str,
        name: &str,
        replacement: Option<&Value>,
    ) -> Result<(), Failure> {
        let mut found = false;
        for entry in std::fs::read_dir(self.config_dir()).context("read_dir")? {
            let path = entry.context("dir entry")?.path();
            let text = std::fs::read_to_string(&path).context("read")?;
            let docs = manifests::documents(&text)?;
            let keep: Vec<&Value> = docs
                .iter()
                .filter(|d| {
                    !(kind(d) == kind_
                        && manifests::namespace(d) == namespace
                        && manifests::name(d) == name)
                })
                .collect();
            if keep.len() != docs.len() {
                found = true;
                let mut out = String::new();
                for d in keep {
                    out.push_str("---\n");
                    out.push_str(&d.to_string());
                    out.push('\n');
                }
                if let Some(r) = replacement {
                    out.push_str("---\n");
                    out.push_str(&r.to_string());
                    out.push('\n');
                }
                write_atomically(&path, &out)?;
            }
        }
        if !found {
            return Err(Failure(format!(
                "{kind_} {namespace}/{name} is not in the config"
            )));
        }
        Ok(())
    }

    /// Every request the backends echo from now on.
    pub fn echo_records(&self) -> Result<broadcast::Receiver<portico_echo::EchoRecord>, Failure> {
        self.backends
            .as_ref()
            .map(Backends::subscribe)
            .ok_or_else(|| Failure::new("backends are stopped"))
    }

    /// Waits until the Gateway is Accepted and Programmed with an address and
    /// returns `address:port` of its first listener.
    pub async fn gateway_address(&self, namespace: &str, name: &str) -> Result<String, Failure> {
        let gw = status::gateway_ready(self, namespace, name).await?;
        let port = gw
            .pointer("/spec/listeners/0/port")
            .and_then(Value::as_u64)
            .unwrap_or(80);
        let address = gw
            .pointer("/status/addresses/0/value")
            .and_then(Value::as_str)
            .ok_or_else(|| Failure::new("gateway has no address"))?;
        Ok(format!("{address}:{port}"))
    }

    /// The log of Portico so far.
    pub fn portico_log(&self) -> String {
        self.portico.as_ref().map(Portico::log).unwrap_or_default()
    }

    pub async fn stop(mut self) {
        if let Some(p) = self.portico.take() {
            p.stop().await;
        }
        if let Some(b) = self.backends.take() {
            b.shutdown().await;
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn write_atomically(path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).context("write")?;
    std::fs::rename(&tmp, path).context("rename")
}
