//! North-south (tc) load balancing through a "node" network namespace:
//!
//! ```text
//!  client ns                node ns (ip_forward)               pods ns
//!  10.214.0.2 ── veth ── ext0 10.214.0.1 | int0 10.214.1.1 ── veth ── 10.214.1.2, .3, .4
//!  route 10.214.100.0/24 via 10.214.0.1                       default via 10.214.1.1
//! ```
//!
//! The tc (or XDP) programs on `ext0` DNAT the VIP 10.214.100.1:80 to a pod
//! and reverse-translate the replies; the pods see the client's own address.
//! Everything lives in namespaces the test creates and removes.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Env, frontend, result_lines, spawn_in_netns};
use portico_ebpf::events::Hook;
use portico_ebpf::{NodePort, NorthSouthMode};
use portico_ir::{FrontendKind, L4Protocol, LbAlgorithm};

#[test]
fn client_process() {
    if let Ok(action) = std::env::var(common::CHILD_ENV) {
        common::run_client(&action);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

struct Topology {
    client: String,
    node: String,
    pods: String,
    servers: Vec<Child>,
}

impl Drop for Topology {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        for ns in [&self.client, &self.node, &self.pods] {
            let _ = ip(&["-n", ns, "link", "del", "eth0"]);
            let _ = ip(&["-n", ns, "link", "del", "ext0"]);
            let _ = ip(&["-n", ns, "link", "del", "int0"]);
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

const POD_IPS: [&str; 3] = ["10.214.1.2", "10.214.1.3", "10.214.1.4"];

impl Topology {
    /// `pod_default_route`: whether the pods can route back to clients
    /// (through the node); without it only SNAT gets replies back.
    fn create(pod_default_route: bool) -> Result<Topology, String> {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{}x{seq}", std::process::id() % 100_000);
        let mut t = Topology {
            client: format!("ptnc{tag}"),
            node: format!("ptnn{tag}"),
            pods: format!("ptnp{tag}"),
            servers: Vec::new(),
        };
        ip(&["netns", "add", &t.client]).map_err(|e| format!("SKIP: {e}"))?;
        ip(&["netns", "add", &t.node])?;
        ip(&["netns", "add", &t.pods])?;
        let (c, n, p) = (t.client.clone(), t.node.clone(), t.pods.clone());
        ip(&[
            "link", "add", "ext0", "netns", &n, "type", "veth", "peer", "name", "eth0", "netns", &c,
        ])?;
        ip(&[
            "link", "add", "int0", "netns", &n, "type", "veth", "peer", "name", "eth0", "netns", &p,
        ])?;
        for (ns, dev, addr) in [
            (&c, "eth0", "10.214.0.2/24"),
            (&n, "ext0", "10.214.0.1/24"),
            (&n, "int0", "10.214.1.1/24"),
            (&p, "eth0", "10.214.1.2/24"),
            (&p, "eth0", "10.214.1.3/24"),
            (&p, "eth0", "10.214.1.4/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
        }
        for (ns, dev) in [
            (&c, "eth0"),
            (&c, "lo"),
            (&n, "ext0"),
            (&n, "int0"),
            (&n, "lo"),
            (&p, "eth0"),
            (&p, "lo"),
        ] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        ip(&[
            "-n",
            &c,
            "route",
            "add",
            "10.214.100.0/24",
            "via",
            "10.214.0.1",
        ])?;
        if pod_default_route {
            ip(&["-n", &p, "route", "add", "default", "via", "10.214.1.1"])?;
        }
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &n,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .status()
            .map_err(|e| e.to_string())?;
        if !out.success() {
            return Err("sysctl ip_forward in the node namespace failed".into());
        }
        let servers = POD_IPS.iter().enumerate().flat_map(|(i, addr)| {
            [
                format!("serve {addr}:8080 pod{}", i + 1),
                format!("serve-udp {addr}:5353 pod{}", i + 1),
            ]
        });
        for action in servers {
            let addr = action.clone();
            let mut child = spawn_in_netns(&p, &action, Stdio::null());
            let stdout = child.stdout.take();
            t.servers.push(child);
            let ready = result_lines(stdout.ok_or("no stdout")?);
            match ready.recv_timeout(Duration::from_secs(20)) {
                Ok(l) if l == "listening" => {}
                other => return Err(format!("pod server {addr}: {other:?}")),
            }
        }
        Ok(t)
    }
}

fn pod(i: usize) -> SocketAddr {
    format!("{}:8080", POD_IPS[i]).parse().expect("pod address")
}

#[test]
fn nodeport_dnat_with_maglev_and_sticky_conntrack() {
    let Some(env) = Env::new("nodeport") else {
        return;
    };
    let topo = match Topology::create(true) {
        Ok(t) => t,
        Err(e) if e.starts_with("SKIP") => {
            println!("{e}");
            return;
        }
        Err(e) => panic!("topology: {e}"),
    };
    let Some(mut agent) = env.agent() else { return };
    let vip: SocketAddr = "10.214.100.1:80".parse().unwrap();
    let service = |backends: &[SocketAddr]| {
        let mut f = frontend(vip, L4Protocol::Tcp, backends);
        f.kind = FrontendKind::LoadBalancer;
        f.lb = LbAlgorithm::Maglev;
        f
    };
    agent.sync(&[service(&[pod(0), pod(1)])]).expect("sync");
    let node_ns = Path::new("/var/run/netns").join(&topo.node);
    let attached = portico_ebpf::sys::in_netns(&node_ns, || NodePort::attach(&env.pin_dir, "ext0"))
        .expect("enter node namespace");
    let mut tc = match attached {
        Ok(tc) => tc,
        Err(e @ (portico_ebpf::Error::Load { .. } | portico_ebpf::Error::Program { .. })) => {
            println!("SKIP: kernel refused the tc programs: {e}");
            return;
        }
        Err(e) => panic!("attach tc: {e}"),
    };

    let mut events = tc.take_events().expect("event reader");
    // Many flows spread over both pods; the pods see the client's address.
    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("tcp {vip} 40"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), 40, "{lines:?}");
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[0], "ok", "{l}");
        assert_eq!(f[2], vip.to_string(), "{l}");
        let (name, peer) = f[1].split_once('@').expect("name@peer");
        assert!(
            peer.starts_with("10.214.0.2:"),
            "no SNAT: the pod sees the client: {l}"
        );
        *hits.entry(name.to_string()).or_default() += 1;
    }
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(!hits.contains_key("pod3"));
    // One flow record per new flow, with the client's 5-tuple.
    let records = events.drain(1000);
    assert_eq!(records.len(), 40, "{records:?}");
    for r in &records {
        assert_eq!(r.hook, portico_ebpf::events::Hook::TcIngress);
        assert_eq!(r.service, vip);
        assert_eq!(
            r.source.map(|s| s.ip().to_string()).as_deref(),
            Some("10.214.0.2")
        );
        assert!(
            r.backend.is_some_and(|b| b == pod(0) || b == pod(1)),
            "{r:?}"
        );
    }

    // UDP through the same node: DNAT with the UDP checksum kept right,
    // replies from the VIP.
    let udp_vip: SocketAddr = "10.214.100.1:53".parse().unwrap();
    let udp_pod = |i: usize| SocketAddr::new(pod(i).ip(), 5353);
    let mut udp = frontend(udp_vip, L4Protocol::Udp, &[udp_pod(0), udp_pod(1)]);
    udp.kind = FrontendKind::LoadBalancer;
    agent
        .sync(&[service(&[pod(0), pod(1)]), udp])
        .expect("sync");
    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("udp {udp_vip} 10"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), 10, "{lines:?}");
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert!(
            f[1].starts_with("pod1:ping") || f[1].starts_with("pod2:ping"),
            "{l}"
        );
        assert_eq!(f[2], udp_vip.to_string(), "reply from the VIP: {l}");
    }
    let _ = events.drain(100);

    // An established flow keeps its pod while the backend set changes
    // (a new Maglev table), through conntrack.
    let mut held = spawn_in_netns(&topo.client, &format!("hold {vip}"), Stdio::piped());
    let results = result_lines(held.stdout.take().expect("stdout"));
    let deadline = Duration::from_secs(20);
    let connected = results.recv_timeout(deadline).expect("connected");
    let name = connected
        .strip_prefix("connected ")
        .and_then(|s| s.split_once('@'))
        .map(|(n, _)| n.to_string())
        .expect("connected line");
    // The held pod leaves the Service (terminating): its established flow
    // drains through conntrack while new flows avoid it.
    let (held_pod, other_pod) = if name == "pod1" { (0, 1) } else { (1, 0) };
    agent
        .sync(&[service(&[pod(other_pod), pod(2)])])
        .expect("sync");
    let listed = portico_ebpf::list_pinned(&env.pin_dir).expect("pinned maps");
    assert!(
        listed[0]
            .backends
            .iter()
            .all(|b| b.address != pod(held_pod)),
        "{listed:?}"
    );
    held.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("signal");
    let echoed = results.recv_timeout(deadline).expect("echo after change");
    assert_eq!(echoed, "echo still-alive");
    assert!(held.wait().expect("exit").success());

    // New flows use the new set only: never the terminating pod.
    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("tcp {vip} 30"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), 30);
    let gone = format!(" pod{}@", held_pod + 1);
    assert!(lines.iter().all(|l| !l.contains(&gone)), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains(" pod3@")), "{lines:?}");
}

/// SNAT: the pods have no route to the client network, so only the node's
/// translation (client → node address and port, and back) lets them answer.
#[test]
fn nodeport_snat_returns_through_the_node() {
    snat_returns_through_the_node(NorthSouthMode::Tc, "snat");
}

/// SNAT with the ingress in XDP (the SNAT itself is on tc, after routing).
#[test]
fn xdp_snat_returns_through_the_node() {
    snat_returns_through_the_node(NorthSouthMode::Xdp, "snat-xdp");
}

fn snat_returns_through_the_node(mode: NorthSouthMode, name: &str) {
    let Some(env) = Env::new(name) else { return };
    let topo = match Topology::create(false) {
        Ok(t) => t,
        Err(e) if e.starts_with("SKIP") => {
            println!("{e}");
            return;
        }
        Err(e) => panic!("topology: {e}"),
    };
    let Some(mut agent) = env.agent() else { return };
    let vip: SocketAddr = "10.214.100.2:8443".parse().expect("vip");
    let mut f = frontend(vip, L4Protocol::Tcp, &[pod(0), pod(1), pod(2)]);
    f.kind = FrontendKind::NodePort;
    agent.sync(&[f]).expect("sync");
    let node_ns = Path::new("/var/run/netns").join(&topo.node);
    let attached = portico_ebpf::sys::in_netns(&node_ns, || {
        NodePort::attach_mode(
            &env.pin_dir,
            "ext0",
            Some(("int0", [10, 214, 1, 1].into())),
            mode,
        )
    })
    .expect("enter node namespace");
    let _tc = match attached {
        Ok(tc) => tc,
        Err(e @ (portico_ebpf::Error::Load { .. } | portico_ebpf::Error::Program { .. })) => {
            println!("SKIP: kernel refused the tc programs: {e}");
            return;
        }
        Err(e) => panic!("attach tc: {e}"),
    };

    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("tcp {vip} 30"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), 30, "{lines:?}");
    let mut pods = BTreeMap::<String, usize>::new();
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[0], "ok", "{l}");
        assert_eq!(f[2], vip.to_string(), "the client sees the VIP: {l}");
        let (name, peer) = f[1].split_once('@').expect("name@peer");
        let peer: SocketAddr = peer.parse().expect("peer");
        assert_eq!(
            peer.ip().to_string(),
            "10.214.1.1",
            "the pod sees the node: {l}"
        );
        assert!((32768..61000).contains(&peer.port()), "{l}");
        *pods.entry(name.to_string()).or_default() += 1;
    }
    assert_eq!(pods.len(), 3, "{pods:?}");
}

/// The same north-south path with the ingress in tc or XDP: weighted
/// Maglev shares, UDP, and a pod set to terminating that keeps its
/// established flow but gets no new one.
fn north_south_weights_and_terminating(mode: NorthSouthMode, name: &str) {
    let Some(env) = Env::new(name) else { return };
    let topo = match Topology::create(true) {
        Ok(t) => t,
        Err(e) if e.starts_with("SKIP") => {
            println!("{e}");
            return;
        }
        Err(e) => panic!("topology: {e}"),
    };
    let Some(mut agent) = env.agent() else { return };
    let vip: SocketAddr = "10.214.100.3:80".parse().expect("vip");
    let udp_vip: SocketAddr = "10.214.100.3:53".parse().expect("vip");
    let udp_pod = |i: usize| SocketAddr::new(pod(i).ip(), 5353);
    let services = |tcp: &[SocketAddr], terminating: &[SocketAddr]| {
        let mut f = frontend(vip, L4Protocol::Tcp, tcp);
        f.kind = FrontendKind::LoadBalancer;
        f.lb = LbAlgorithm::Maglev;
        f.weights.insert(pod(1), 3);
        f.terminating = terminating.to_vec();
        let mut udp = frontend(udp_vip, L4Protocol::Udp, &[udp_pod(0), udp_pod(1)]);
        udp.kind = FrontendKind::LoadBalancer;
        vec![f, udp]
    };
    agent.sync(&services(&[pod(0), pod(1)], &[])).expect("sync");
    let node_ns = Path::new("/var/run/netns").join(&topo.node);
    let attached = portico_ebpf::sys::in_netns(&node_ns, || {
        NodePort::attach_mode(&env.pin_dir, "ext0", None, mode)
    })
    .expect("enter node namespace");
    let mut np = match attached {
        Ok(np) => np,
        Err(e @ (portico_ebpf::Error::Load { .. } | portico_ebpf::Error::Program { .. })) => {
            println!("SKIP: kernel refused the {mode:?} programs: {e}");
            return;
        }
        Err(e) => panic!("attach {mode:?}: {e}"),
    };
    println!("{mode:?} attached, XDP mode {:?}", np.xdp_mode());
    assert_eq!(np.xdp_mode().is_some(), mode == NorthSouthMode::Xdp);
    let mut events = np.take_events().expect("event reader");

    let n = 200;
    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("tcp {vip} {n}"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), n, "{lines:?}");
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[0], "ok", "{l}");
        assert_eq!(f[2], vip.to_string(), "the client sees the VIP: {l}");
        let (pod_name, peer) = f[1].split_once('@').expect("name@peer");
        assert!(peer.starts_with("10.214.0.2:"), "{l}");
        *hits.entry(pod_name.to_string()).or_default() += 1;
    }
    // Maglev over the 5-tuple: table shares within 1% of 1:3.
    common::assert_binomial_shares(&hits, &[("pod1", 1), ("pod2", 3)], 0.01);
    let records = events.drain(1000);
    assert_eq!(records.len(), n);
    let hook = match mode {
        NorthSouthMode::Tc => Hook::TcIngress,
        NorthSouthMode::Xdp => Hook::Xdp,
    };
    assert!(records.iter().all(|r| r.hook == hook && r.service == vip));

    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("udp {udp_vip} 10"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), 10, "{lines:?}");
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert!(
            f[1].starts_with("pod1:ping") || f[1].starts_with("pod2:ping"),
            "{l}"
        );
        assert_eq!(f[2], udp_vip.to_string(), "reply from the VIP: {l}");
    }

    let mut held = spawn_in_netns(&topo.client, &format!("hold {vip}"), Stdio::piped());
    let results = result_lines(held.stdout.take().expect("stdout"));
    let deadline = Duration::from_secs(20);
    let connected = results.recv_timeout(deadline).expect("connected");
    let held_name = connected
        .strip_prefix("connected ")
        .and_then(|s| s.split_once('@'))
        .map(|(n, _)| n.to_string())
        .expect("connected line");
    let (held_pod, other_pod) = if held_name == "pod1" { (0, 1) } else { (1, 0) };
    agent
        .sync(&services(&[pod(other_pod), pod(2)], &[pod(held_pod)]))
        .expect("sync");
    held.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("signal");
    let echoed = results.recv_timeout(deadline).expect("echo after change");
    assert_eq!(
        echoed, "echo still-alive",
        "the terminating pod keeps its flow"
    );
    assert!(held.wait().expect("exit").success());

    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("tcp {vip} 40"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), 40);
    let gone = format!(" pod{}@", held_pod + 1);
    assert!(lines.iter().all(|l| !l.contains(&gone)), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains(" pod3@")), "{lines:?}");
}

#[test]
fn tc_north_south_follows_weights_and_terminating() {
    north_south_weights_and_terminating(NorthSouthMode::Tc, "ns-tc");
}

#[test]
fn xdp_north_south_follows_weights_and_terminating() {
    north_south_weights_and_terminating(NorthSouthMode::Xdp, "ns-xdp");
}
