//! `portico agent --config DIR`: the eBPF service load balancer on its own
//! (kube-proxy replacement): Services and EndpointSlices of a watched
//! directory become socket-LB entries in the kernel, optionally with the
//! north-south programs (`--north-south-interface`, tc or XDP, IPv4 and
//! IPv6) and, with `--hubble-addr`, a Hubble observer API of its own fed by
//! the programs' flow events (as every Cilium agent runs its own Hubble
//! server).
//!
//! [`KubeProxyReplacementArgs`] and [`ServiceLoadBalancer`] are the same
//! thing for `portico run --kube-proxy-replacement`: flatten the args, start
//! it once, and hand it `ir.services` after every translation.

mod flows;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use portico_ebpf::{Agent, AgentConfig, DEFAULT_PIN_DIR, EventReader, NorthSouthMode};
use portico_ir::ServiceFrontend;
use portico_observe::flow::FlowSink;
use portico_translate::Options;
use tokio::signal::unix::{SignalKind, signal};

use flows::{AgentFlows, FlowForwarder};

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
    /// Flow events into a flow ring, once [`ServiceLoadBalancer::forward_flows`].
    flows: Option<FlowForwarder>,
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
            return ServiceLoadBalancer {
                agent: None,
                flows: None,
            };
        }
        match ServiceLoadBalancer::try_start(&args.bpf) {
            Ok(lb) => lb,
            Err(e) => {
                tracing::error!(error = %e, "eBPF service load balancing is off");
                ServiceLoadBalancer {
                    agent: None,
                    flows: None,
                }
            }
        }
    }

    /// Starts the agent or says why it cannot run.
    pub fn try_start(args: &BpfArgs) -> Result<ServiceLoadBalancer, portico_ebpf::Error> {
        Agent::start(args.agent_config()).map(|agent| ServiceLoadBalancer {
            agent: Some(agent),
            flows: None,
        })
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
        if let Some(flows) = &self.flows {
            flows.set_services(services);
        }
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

    /// Sends the programs' flow events (socket LB now, north-south readers
    /// given to [`ServiceLoadBalancer::add_flow_reader`]) to `sink`, named
    /// after the Services of the last sync. For `portico agent
    /// --hubble-addr`; `portico run` can hand it its own ring's sink.
    pub fn forward_flows(&mut self, sink: FlowSink) -> anyhow::Result<()> {
        let mut flows = FlowForwarder::new(sink);
        if let Some(reader) = self.agent.as_mut().and_then(Agent::take_events) {
            flows.add_reader(reader)?;
        }
        self.flows = Some(flows);
        Ok(())
    }

    /// Another program's events (e.g. a [`portico_ebpf::NodePort`]'s) into
    /// the sink of [`ServiceLoadBalancer::forward_flows`]; dropped without it.
    pub fn add_flow_reader(&mut self, reader: EventReader) -> anyhow::Result<()> {
        match self.flows.as_mut() {
            Some(flows) => flows.add_reader(reader),
            None => Ok(()),
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
    /// Where the north-south ingress runs: `tc`, or `xdp` (native where the
    /// driver supports it, generic otherwise; replies and SNAT stay on tc,
    /// XDP has no egress hook).
    #[arg(long = "north-south", value_name = "tc|xdp", default_value = "tc")]
    pub north_south: NorthSouthMode,
    /// Serve the Hubble observer API on ADDR (`portico observe
    /// --hubble-addr ADDR`) with the flows of this agent's programs.
    #[arg(long = "hubble-addr", value_name = "ADDR")]
    pub hubble_addr: Option<SocketAddr>,
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
    let hubble = match args.hubble_addr {
        Some(addr) => {
            let hubble = AgentFlows::start(addr).await?;
            tracing::info!(address = %hubble.local_addr(), "Hubble observer API listening");
            lb.forward_flows(hubble.sink())?;
            Some(hubble)
        }
        None => None,
    };
    let mut north_south = Vec::new();
    for iface in &args.interfaces {
        let pin_dir = &args.bpf.bpf_pin_dir;
        let snat = args.snat.as_ref().map(|(i, a)| (i.as_str(), *a));
        let mut np = portico_ebpf::NodePort::attach_mode(pin_dir, iface, snat, args.north_south)
            .with_context(|| format!("attaching the north-south load balancer to {iface}"))?;
        if let Some(mode) = np.xdp_mode() {
            tracing::info!(interface = %iface, ?mode, "north-south ingress in XDP");
        }
        if let Some(reader) = np.take_events() {
            lb.add_flow_reader(reader)?;
        }
        north_south.push(np);
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
    if let Some(hubble) = hubble {
        hubble.shutdown().await;
    }
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
    use std::collections::BTreeMap;

    use clap::Parser;
    use portico_ir::{L4Protocol, ObjectRef};
    use portico_observe::flow::EventType;

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

    #[derive(Parser, Debug)]
    struct AgentCli {
        #[command(flatten)]
        agent: Args,
    }

    #[test]
    fn north_south_mode_and_hubble_flags() {
        let cli = AgentCli::parse_from(["portico", "--config", "/tmp"]);
        assert_eq!(cli.agent.north_south, NorthSouthMode::Tc);
        assert_eq!(cli.agent.hubble_addr, None);
        let cli = AgentCli::parse_from([
            "portico",
            "--config",
            "/tmp",
            "--north-south",
            "xdp",
            "--hubble-addr",
            "127.0.0.1:0",
        ]);
        assert_eq!(cli.agent.north_south, NorthSouthMode::Xdp);
        assert_eq!(cli.agent.hubble_addr, Some("127.0.0.1:0".parse().unwrap()));
        assert!(
            AgentCli::try_parse_from(["portico", "--config", "/tmp", "--north-south", "ebpf"])
                .is_err()
        );
    }

    /// Removes the test's cgroup and pins, also on panic.
    struct Cleanup {
        cgroup: PathBuf,
        pin_dir: PathBuf,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = portico_ebpf::remove_pins(&self.pin_dir);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::fs::remove_dir(&self.cgroup).is_err() && std::time::Instant::now() < deadline
            {
                std::thread::yield_now();
            }
        }
    }

    /// Root: a connect() through the socket LB becomes a flow on the agent's
    /// own Hubble API (kernel ring buffer → epoll → flow ring → gRPC).
    #[tokio::test]
    async fn agent_flows_reach_the_hubble_api() {
        use portico_observe::hubble::ObserverClient;
        use portico_observe::hubble::proto::flow::Verdict as PbVerdict;
        use portico_observe::hubble::proto::observer::GetFlowsRequest;
        use portico_observe::hubble::proto::observer::get_flows_response::ResponseTypes;

        if !portico_ebpf::compiled() {
            println!(
                "SKIP: eBPF programs not compiled ({})",
                portico_ebpf::BUILD_STATUS
            );
            return;
        }
        if let Err(e) = portico_ebpf::sys::check_capabilities() {
            println!("SKIP: {e}");
            return;
        }
        let Ok(root) = portico_ebpf::sys::cgroup2_root() else {
            println!("SKIP: no cgroup v2");
            return;
        };
        let id = format!("portico-agent-hubble-{}", std::process::id());
        let cleanup = Cleanup {
            cgroup: root.join(&id),
            pin_dir: PathBuf::from("/sys/fs/bpf").join(&id),
        };
        std::fs::create_dir(&cleanup.cgroup).expect("test cgroup");
        let args = BpfArgs {
            bpf_pin_dir: cleanup.pin_dir.clone(),
            bpf_cgroup: Some(cleanup.cgroup.clone()),
            bpf_drain_grace: Duration::from_secs(30),
        };
        let mut lb = match ServiceLoadBalancer::try_start(&args) {
            Ok(lb) => lb,
            Err(e) => {
                println!("SKIP: the kernel refused the socket LB: {e}");
                return;
            }
        };
        let backend = std::net::TcpListener::bind("127.0.0.1:0").expect("backend");
        let backend_addr = backend.local_addr().expect("backend address");
        let vip: SocketAddr = "127.202.0.1:9100".parse().unwrap();
        let frontend = ServiceFrontend {
            service: ObjectRef {
                kind: "Service".into(),
                namespace: "shop".into(),
                name: "web".into(),
            },
            kind: portico_ir::FrontendKind::ClusterIp,
            address: vip.ip(),
            port: vip.port(),
            protocol: L4Protocol::Tcp,
            lb: portico_ir::LbAlgorithm::Random,
            affinity_timeout_secs: None,
            backends: vec![backend_addr],
            weights: BTreeMap::new(),
            terminating: Vec::new(),
        };
        let flows = AgentFlows::start("127.0.0.1:0".parse().unwrap())
            .await
            .expect("hubble");
        lb.forward_flows(flows.sink()).expect("forward flows");
        lb.sync(std::slice::from_ref(&frontend));

        // A client process inside the cgroup connects to the VIP.
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec 3<>/dev/tcp/{}/{}",
            cleanup.cgroup.display(),
            vip.ip(),
            vip.port()
        );
        match tokio::process::Command::new("bash")
            .args(["-c", &script])
            .status()
            .await
        {
            Ok(status) => assert!(status.success(), "client connect through the VIP failed"),
            Err(e) => {
                println!("SKIP: bash: {e}");
                return;
            }
        }

        let deadline = Duration::from_secs(10);
        let mut client = tokio::time::timeout(
            deadline,
            ObserverClient::connect(format!("http://{}", flows.local_addr())),
        )
        .await
        .expect("connect in time")
        .expect("connect");
        let mut stream = client
            .get_flows(GetFlowsRequest {
                number: 10,
                follow: true,
                ..GetFlowsRequest::default()
            })
            .await
            .expect("GetFlows")
            .into_inner();
        let flow = loop {
            let msg = tokio::time::timeout(deadline, stream.message())
                .await
                .expect("a flow before the deadline")
                .expect("stream")
                .expect("open stream");
            if let Some(ResponseTypes::Flow(f)) = msg.response_types {
                break f;
            }
        };
        assert_eq!(flow.verdict, PbVerdict::Translated as i32);
        let svc = flow.destination_service.expect("destination service");
        assert_eq!((svc.namespace.as_str(), svc.name.as_str()), ("shop", "web"));
        assert_eq!(
            flow.ip.expect("ip").destination,
            backend_addr.ip().to_string()
        );
        assert_eq!(
            flow.event_type.expect("event type").r#type,
            EventType::TRACE_SOCK
        );
        drop(stream);
        flows.shutdown().await;
        lb.shutdown();
        drop(backend);
        drop(cleanup);
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
