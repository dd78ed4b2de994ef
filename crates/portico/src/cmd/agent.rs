//! `portico agent --config DIR`: the eBPF service load balancer on its own
//! (kube-proxy replacement): Services and EndpointSlices of a watched
//! directory become socket-LB entries in the kernel.
//!
//! [`KubeProxyReplacementArgs`] and [`ServiceLoadBalancer`] are the same
//! thing for `portico run --kube-proxy-replacement`: flatten the args, start
//! it once, and hand it `ir.services` after every translation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use portico_ebpf::{Agent, AgentConfig, DEFAULT_PIN_DIR};
use portico_ir::ServiceFrontend;
use portico_translate::Options;
use tokio::signal::unix::{SignalKind, signal};

/// Where the eBPF maps are pinned and which cgroup the programs attach to.
#[derive(clap::Args, Debug, Clone)]
pub struct BpfArgs {
    /// bpffs directory of the pinned service maps.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PIN_DIR)]
    pub bpf_pin_dir: PathBuf,
    /// cgroup v2 directory to attach to (default: the cgroup v2 root, i.e.
    /// every process of the host).
    #[arg(long, value_name = "DIR")]
    pub bpf_cgroup: Option<PathBuf>,
    /// How long a removed backend keeps serving established flows
    /// (terminating: no new connections).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub bpf_drain_grace: Duration,
}

impl BpfArgs {
    fn agent_config(&self) -> AgentConfig {
        AgentConfig {
            cgroup: self.bpf_cgroup.clone(),
            pin_dir: self.bpf_pin_dir.clone(),
            drain_grace: self.bpf_drain_grace,
        }
    }
}

/// Flags for `portico run`.
#[derive(clap::Args, Debug, Clone)]
pub struct KubeProxyReplacementArgs {
    /// Load-balance the Services of the store in the kernel (eBPF socket LB;
    /// root only). Without privileges Portico keeps running with it off.
    #[arg(long)]
    pub kube_proxy_replacement: bool,
    #[command(flatten)]
    pub bpf: BpfArgs,
}

/// The eBPF agent when it could start, nothing otherwise (already logged).
pub struct ServiceLoadBalancer {
    agent: Option<Agent>,
}

impl ServiceLoadBalancer {
    /// Starts the agent if `--kube-proxy-replacement` is set. A refusal
    /// (no root, kernel without the program types, programs not compiled)
    /// is logged with its reason and leaves eBPF off.
    #[allow(
        dead_code,
        reason = "for `portico run --kube-proxy-replacement` (run.rs)"
    )]
    pub fn start(args: &KubeProxyReplacementArgs) -> ServiceLoadBalancer {
        if !args.kube_proxy_replacement {
            return ServiceLoadBalancer { agent: None };
        }
        match ServiceLoadBalancer::try_start(&args.bpf) {
            Ok(lb) => lb,
            Err(e) => {
                tracing::error!(error = %e, "eBPF service load balancing is off");
                ServiceLoadBalancer { agent: None }
            }
        }
    }

    /// Starts the agent or says why it cannot run.
    pub fn try_start(args: &BpfArgs) -> Result<ServiceLoadBalancer, portico_ebpf::Error> {
        Agent::start(args.agent_config()).map(|agent| ServiceLoadBalancer { agent: Some(agent) })
    }

    #[allow(
        dead_code,
        reason = "for `portico run --kube-proxy-replacement` (run.rs)"
    )]
    pub fn is_on(&self) -> bool {
        self.agent.is_some()
    }

    /// Brings the kernel maps to `services`; failures are logged.
    pub fn sync(&mut self, services: &[ServiceFrontend]) {
        let Some(agent) = self.agent.as_mut() else {
            return;
        };
        match agent.sync(services) {
            Ok(report) => tracing::info!(
                services = report.services,
                backends = report.backends,
                operations = report.operations,
                "eBPF service maps synced"
            ),
            Err(e) => tracing::error!(error = %e, "eBPF service map sync failed"),
        }
    }

    /// When a draining backend is next due for deletion.
    pub fn next_drain_deadline(&self) -> Option<std::time::Instant> {
        self.agent.as_ref().and_then(Agent::next_drain_deadline)
    }

    /// Deletes backends whose grace period ended; failures are logged.
    pub fn expire(&mut self) {
        let Some(agent) = self.agent.as_mut() else {
            return;
        };
        match agent.expire() {
            Ok(report) => tracing::info!(
                backends = report.backends,
                operations = report.operations,
                "drained eBPF backends removed"
            ),
            Err(e) => tracing::error!(error = %e, "eBPF backend expiry failed"),
        }
    }

    /// Detaches the programs (the pinned maps stay for the next start).
    pub fn shutdown(self) {
        if let Some(agent) = self.agent {
            agent.shutdown();
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory of YAML files (Services, EndpointSlices, ...; watched).
    #[arg(short = 'c', long, value_name = "DIR")]
    pub config: PathBuf,
    #[command(flatten)]
    pub bpf: BpfArgs,
    /// Also load-balance north-south traffic arriving on IFACE (tc ingress +
    /// egress: DNAT to a backend with Maglev and conntrack). Repeatable.
    #[arg(long = "north-south-interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,
    /// SNAT north-south flows to ADDR (an address of IFACE, the interface
    /// towards the backends), so backends need no route to clients.
    #[arg(long = "north-south-snat", value_name = "IFACE=ADDR", value_parser = parse_snat)]
    pub snat: Option<(String, std::net::Ipv4Addr)>,
    /// Quiet time after a file change before re-syncing.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub debounce: Duration,
}

pub async fn main(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.config.is_dir(),
        "--config {}: not a directory",
        args.config.display()
    );
    // Unlike `run`, the agent is the whole point here: refusing is an error.
    let mut lb = ServiceLoadBalancer::try_start(&args.bpf).context("starting the eBPF agent")?;
    let mut north_south = Vec::new();
    for iface in &args.interfaces {
        let pin_dir = &args.bpf.bpf_pin_dir;
        let tc = match &args.snat {
            Some((internal, addr)) => {
                portico_ebpf::NodePort::attach_with_snat(pin_dir, iface, internal, *addr)
            }
            None => portico_ebpf::NodePort::attach(pin_dir, iface),
        }
        .with_context(|| format!("attaching the north-south load balancer to {iface}"))?;
        north_south.push(tc);
    }
    let mut states = portico_file::watch(&args.config, args.debounce)
        .await
        .with_context(|| format!("watching {}", args.config.display()))?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let options = Options::default();
    let mut state = states.borrow_and_update().clone();
    let mut translate = true;
    loop {
        if translate {
            let translated = crate::pipeline::translate(&state, &options);
            lb.sync(&translated.output.ir.services);
            translate = false;
        }
        let drain_deadline = lb.next_drain_deadline();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
            _ = sleep_until(drain_deadline) => lb.expire(),
            changed = states.changed() => {
                if changed.is_err() {
                    tracing::error!("the configuration watch stopped; keeping the last services");
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = sigterm.recv() => {}
                    }
                    break;
                }
                state = states.borrow_and_update().clone();
                translate = true;
            }
        }
    }
    drop(north_south);
    lb.shutdown();
    Ok(ExitCode::SUCCESS)
}

fn parse_snat(s: &str) -> Result<(String, std::net::Ipv4Addr), String> {
    let (iface, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s}: expected IFACE=ADDR"))?;
    let addr = addr
        .parse()
        .map_err(|e| format!("{addr}: not an IPv4 address ({e})"))?;
    if iface.is_empty() {
        return Err(format!("{s}: empty interface name"));
    }
    Ok((iface.to_string(), addr))
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        kpr: KubeProxyReplacementArgs,
    }

    #[test]
    fn off_by_default_and_off_means_no_agent() {
        let cli = Cli::parse_from(["portico"]);
        assert!(!cli.kpr.kube_proxy_replacement);
        assert_eq!(cli.kpr.bpf.bpf_pin_dir, PathBuf::from(DEFAULT_PIN_DIR));
        assert_eq!(
            cli.kpr.bpf.agent_config().drain_grace,
            portico_ebpf::DEFAULT_DRAIN_GRACE
        );
        let lb = ServiceLoadBalancer::start(&cli.kpr);
        assert!(!lb.is_on());
    }

    #[test]
    fn snat_flag_parses() {
        assert_eq!(
            parse_snat("int0=10.0.0.1"),
            Ok(("int0".to_string(), std::net::Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert!(parse_snat("int0").is_err());
        assert!(parse_snat("=10.0.0.1").is_err());
        assert!(parse_snat("int0=fd00::1").is_err());
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::parse_from([
            "portico",
            "--kube-proxy-replacement",
            "--bpf-pin-dir",
            "/sys/fs/bpf/x",
            "--bpf-cgroup",
            "/sys/fs/cgroup/unified/x",
        ]);
        assert!(cli.kpr.kube_proxy_replacement);
        let config = cli.kpr.bpf.agent_config();
        assert_eq!(config.pin_dir, PathBuf::from("/sys/fs/bpf/x"));
        assert_eq!(
            config.cgroup,
            Some(PathBuf::from("/sys/fs/cgroup/unified/x"))
        );
    }
}
