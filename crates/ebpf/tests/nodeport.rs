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
const POD6_IPS: [&str; 2] = ["fd14:1::2", "fd14:1::3"];

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
        // IPv6 beside IPv4 (no duplicate address detection: usable at once).
        for (ns, dev, addr) in [
            (&c, "eth0", "fd14::2/64"),
            (&n, "ext0", "fd14::1/64"),
            (&n, "int0", "fd14:1::1/64"),
            (&p, "eth0", "fd14:1::2/64"),
            (&p, "eth0", "fd14:1::3/64"),
        ] {
            ip(&["-n", ns, "-6", "addr", "add", addr, "dev", dev, "nodad"])?;
        }
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
        ip(&[
            "-n",
            &c,
            "-6",
            "route",
            "add",
            "fd14:100::/64",
            "via",
            "fd14::1",
        ])?;
        // The pod networks too: traffic the node only forwards.
        for (family, net, via) in [
            ("-4", "10.214.1.0/24", "10.214.0.1"),
            ("-6", "fd14:1::/64", "fd14::1"),
        ] {
            ip(&["-n", &c, family, "route", "add", net, "via", via])?;
        }
        if pod_default_route {
            ip(&["-n", &p, "route", "add", "default", "via", "10.214.1.1"])?;
            ip(&[
                "-n",
                &p,
                "-6",
                "route",
                "add",
                "default",
                "via",
                "fd14:1::1",
            ])?;
        }
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &n,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ])
            .status()
            .map_err(|e| e.to_string())?;
        if !out.success() {
            return Err("sysctl ip_forward in the node namespace failed".into());
        }
        let v6 = POD6_IPS.iter().enumerate().flat_map(|(i, addr)| {
            [
                format!("serve [{addr}]:8080 pod{}", i + 1),
                format!("serve-udp [{addr}]:5353 pod{}", i + 1),
            ]
        });
        let servers = POD_IPS
            .iter()
            .enumerate()
            .flat_map(|(i, addr)| {
                [
                    format!("serve {addr}:8080 pod{}", i + 1),
                    format!("serve-udp {addr}:5353 pod{}", i + 1),
                ]
            })
            .chain(v6);
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

/// A test environment, the namespaces and an agent; `None` (printed) when
/// the host cannot run it.
fn setup(name: &str, pod_default_route: bool) -> Option<(Env, Topology, portico_ebpf::Agent)> {
    let env = Env::new(name)?;
    let topo = match Topology::create(pod_default_route) {
        Ok(t) => t,
        Err(e) if e.starts_with("SKIP") => {
            println!("{e}");
            return None;
        }
        Err(e) => panic!("topology: {e}"),
    };
    let agent = env.agent()?;
    Some((env, topo, agent))
}

/// Attaches the north-south programs in the node namespace; `None`
/// (printed) when the kernel refuses them.
fn attach(
    env: &Env,
    topo: &Topology,
    snat: Option<(&str, std::net::Ipv4Addr)>,
    mode: NorthSouthMode,
) -> Option<NodePort> {
    let node_ns = Path::new("/var/run/netns").join(&topo.node);
    let attached = portico_ebpf::sys::in_netns(&node_ns, || {
        NodePort::attach_mode(&env.pin_dir, "ext0", snat, mode)
    })
    .expect("enter node namespace");
    match attached {
        Ok(np) => Some(np),
        Err(e @ (portico_ebpf::Error::Load { .. } | portico_ebpf::Error::Program { .. })) => {
            println!("SKIP: kernel refused the {mode:?} programs: {e}");
            None
        }
        Err(e) => panic!("attach {mode:?}: {e}"),
    }
}

/// `n` TCP connections from the client to `vip`: hits per pod name, after
/// checking that the client saw the VIP and the pod saw `peer_ip`; the pod
/// peers' ports when `peer_ip` is the node's (SNAT).
fn tcp_from_client(
    topo: &Topology,
    vip: SocketAddr,
    n: usize,
    peer_ip: &str,
) -> BTreeMap<String, usize> {
    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("tcp {vip} {n}"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), n, "{lines:?}");
    let mut hits = BTreeMap::new();
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[0], "ok", "{l}");
        assert_eq!(f[2], vip.to_string(), "the client sees the VIP: {l}");
        let (name, peer) = f[1].split_once('@').expect("name@peer");
        let peer: SocketAddr = peer.parse().expect("peer");
        assert_eq!(peer.ip().to_string(), peer_ip, "the pod's peer: {l}");
        if peer_ip == "10.214.1.1" {
            assert!(
                (32768..61000).contains(&peer.port()),
                "SNAT port range: {l}"
            );
        }
        *hits.entry(name.to_string()).or_default() += 1;
    }
    hits
}

/// How the held pod leaves the Service.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Leave {
    /// Listed as terminating by the IR (EndpointSlice condition).
    Terminating,
    /// Gone from the IR: the agent keeps it terminating for the drain grace.
    Removed,
}

/// North-south with the ingress in tc or XDP: weighted Maglev shares over
/// the 5-tuple, one trace event per new flow, UDP with replies from the VIP,
/// and a pod that leaves the Service (terminating, or removed and drained)
/// keeping its established flow through conntrack but getting no new one.
fn north_south(mode: NorthSouthMode, leave: Leave, name: &str) {
    let Some((env, topo, mut agent)) = setup(name, true) else {
        return;
    };
    let vip: SocketAddr = "10.214.100.1:80".parse().expect("vip");
    let udp_vip: SocketAddr = "10.214.100.1:53".parse().expect("vip");
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
    let Some(mut np) = attach(&env, &topo, None, mode) else {
        return;
    };
    println!("{mode:?} attached, XDP mode {:?}", np.xdp_mode());
    assert_eq!(np.xdp_mode().is_some(), mode == NorthSouthMode::Xdp);
    let mut events = np.take_events().expect("event reader");

    // No SNAT: the pods see the client's own address.
    let n = 200;
    let hits = tcp_from_client(&topo, vip, n, "10.214.0.2");
    // Maglev over the 5-tuple: table shares within 1% of 1:3.
    common::assert_binomial_shares(&hits, &[("pod1", 1), ("pod2", 3)], 0.01);
    let records = events.drain(1000);
    assert_eq!(records.len(), n, "one event per new flow");
    let hook = match mode {
        NorthSouthMode::Tc => Hook::TcIngress,
        NorthSouthMode::Xdp => Hook::Xdp,
    };
    for r in &records {
        assert_eq!((r.hook, r.service), (hook, vip), "{r:?}");
        assert_eq!(
            r.source.map(|s| s.ip().to_string()).as_deref(),
            Some("10.214.0.2")
        );
        assert!(
            r.backend.is_some_and(|b| b == pod(0) || b == pod(1)),
            "{r:?}"
        );
    }

    // UDP: DNAT with the checksum kept right, replies from the VIP.
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
    let terminating = match leave {
        Leave::Terminating => vec![pod(held_pod)],
        Leave::Removed => Vec::new(),
    };
    agent
        .sync(&services(&[pod(other_pod), pod(2)], &terminating))
        .expect("sync");
    let listed = portico_ebpf::list_pinned(&env.pin_dir).expect("pinned maps");
    assert!(
        listed
            .iter()
            .flat_map(|s| &s.backends)
            .all(|b| b.address != pod(held_pod)),
        "no slot names the held pod: {listed:?}"
    );
    // The leaving pod keeps its established flow.
    common::release_hold(&mut held, &results, deadline);

    let after = tcp_from_client(&topo, vip, 40, "10.214.0.2");
    assert!(!after.contains_key(&held_name), "{after:?}");
    assert!(after.contains_key("pod3"), "{after:?}");
}

#[test]
fn nodeport_dnat_with_maglev_and_sticky_conntrack() {
    north_south(NorthSouthMode::Tc, Leave::Removed, "nodeport");
}

#[test]
fn tc_north_south_follows_weights_and_terminating() {
    north_south(NorthSouthMode::Tc, Leave::Terminating, "ns-tc");
}

#[test]
fn xdp_north_south_follows_weights_and_terminating() {
    north_south(NorthSouthMode::Xdp, Leave::Terminating, "ns-xdp");
}

/// SNAT: the pods have no route to the client network, so only the node's
/// translation (client → node address and port, and back) lets them answer.
fn snat_returns_through_the_node(mode: NorthSouthMode, name: &str) {
    let Some((env, topo, mut agent)) = setup(name, false) else {
        return;
    };
    let vip: SocketAddr = "10.214.100.2:8443".parse().expect("vip");
    let mut f = frontend(vip, L4Protocol::Tcp, &[pod(0), pod(1), pod(2)]);
    f.kind = FrontendKind::NodePort;
    agent.sync(&[f]).expect("sync");
    let snat = Some(("int0", [10, 214, 1, 1].into()));
    let Some(_np) = attach(&env, &topo, snat, mode) else {
        return;
    };
    let pods = tcp_from_client(&topo, vip, 30, "10.214.1.1");
    assert_eq!(pods.len(), 3, "{pods:?}");
}

#[test]
fn nodeport_snat_returns_through_the_node() {
    snat_returns_through_the_node(NorthSouthMode::Tc, "snat");
}

/// SNAT with the ingress in XDP (the SNAT itself is on tc, after routing).
#[test]
fn xdp_snat_returns_through_the_node() {
    snat_returns_through_the_node(NorthSouthMode::Xdp, "snat-xdp");
}

/// IPv6 north-south: DNAT of an IPv6 VIP to IPv6 pods (TCP and UDP),
/// replies from the VIP, the pods see the client; tc or XDP ingress.
fn north_south_ipv6(mode: NorthSouthMode, name: &str) {
    let Some((env, topo, mut agent)) = setup(name, true) else {
        return;
    };
    let vip: SocketAddr = "[fd14:100::1]:80".parse().expect("vip");
    let udp_vip: SocketAddr = "[fd14:100::1]:53".parse().expect("vip");
    let pods: Vec<SocketAddr> = POD6_IPS
        .iter()
        .map(|a| SocketAddr::new(a.parse().expect("pod"), 8080))
        .collect();
    let udp_pods: Vec<SocketAddr> = pods.iter().map(|p| SocketAddr::new(p.ip(), 5353)).collect();
    let mut tcp = frontend(vip, L4Protocol::Tcp, &pods);
    tcp.kind = FrontendKind::LoadBalancer;
    tcp.lb = LbAlgorithm::Maglev;
    let mut udp = frontend(udp_vip, L4Protocol::Udp, &udp_pods);
    udp.kind = FrontendKind::LoadBalancer;
    agent.sync(&[tcp, udp]).expect("sync");
    let Some(mut np) = attach(&env, &topo, None, mode) else {
        return;
    };
    let mut events = np.take_events().expect("event reader");

    let hits = tcp_from_client(&topo, vip, 30, "fd14::2");
    assert_eq!(hits.len(), 2, "both IPv6 pods: {hits:?}");
    let records = events.drain(100);
    assert_eq!(records.len(), 30);
    assert!(
        records
            .iter()
            .all(|r| r.service == vip && r.backend.is_some_and(|b| pods.contains(&b))),
        "{records:?}"
    );

    let lines = common::collect(spawn_in_netns(
        &topo.client,
        &format!("udp {udp_vip} 5"),
        Stdio::null(),
    ));
    assert_eq!(lines.len(), 5, "{lines:?}");
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert!(
            f[1].starts_with("pod1:ping") || f[1].starts_with("pod2:ping"),
            "{l}"
        );
        assert_eq!(f[2], udp_vip.to_string(), "reply from the VIP: {l}");
    }
}

#[test]
fn tc_north_south_ipv6() {
    north_south_ipv6(NorthSouthMode::Tc, "ns6-tc");
}

#[test]
fn xdp_north_south_ipv6() {
    north_south_ipv6(NorthSouthMode::Xdp, "ns6-xdp");
}

/// One's complement sum of `bytes` (big-endian 16-bit words), folded.
fn ones_sum(mut acc: u32, bytes: &[u8]) -> u32 {
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        acc += u32::from(word);
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

fn checksum(acc: u32, bytes: &[u8]) -> u16 {
    !(ones_sum(acc, bytes) as u16)
}

/// The transport pseudo-header sum of an IPv4 or IPv6 packet.
fn pseudo_sum(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    let mut acc = ones_sum(ones_sum(0, src), dst);
    acc = ones_sum(acc, &[0, proto]);
    ones_sum(acc, &(len as u32).to_be_bytes())
}

/// An Ethernet frame from `client` to `vip` carrying a TCP SYN (or a UDP
/// datagram) with a payload, every checksum complete.
fn frame(client: SocketAddr, vip: SocketAddr, proto: u8) -> Vec<u8> {
    let payload = b"checksum probe";
    let mut l4 = Vec::new();
    l4.extend_from_slice(&client.port().to_be_bytes());
    l4.extend_from_slice(&vip.port().to_be_bytes());
    if proto == 6 {
        l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.extend_from_slice(payload);
    let (src, dst, ethertype) = match (client.ip(), vip.ip()) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
            (s.octets().to_vec(), d.octets().to_vec(), 0x0800u16)
        }
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => {
            (s.octets().to_vec(), d.octets().to_vec(), 0x86dd)
        }
        _ => panic!("one family"),
    };
    let csum_at = if proto == 6 { 16 } else { 6 };
    let c = checksum(pseudo_sum(&src, &dst, proto, l4.len()), &l4);
    l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    if ethertype == 0x0800 {
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let c = checksum(0, &ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
    } else {
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        f.extend_from_slice(&[proto, 64]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
    }
    f.extend_from_slice(&l4);
    f
}

/// Destination and whether the IP and L4 checksums of `f` verify.
fn inspect(f: &[u8], proto: u8) -> (SocketAddr, bool, bool) {
    let v4 = u16::from_be_bytes([f[12], f[13]]) == 0x0800;
    let (ip_ok, src, dst, l4) = if v4 {
        let ip = &f[14..34];
        (
            ones_sum(0, ip) == 0xffff,
            &ip[12..16],
            &ip[16..20],
            &f[34..],
        )
    } else {
        let ip = &f[14..54];
        (true, &ip[8..24], &ip[24..40], &f[54..])
    };
    let l4_ok = ones_sum(pseudo_sum(src, dst, proto, l4.len()), l4) == 0xffff;
    let ip: std::net::IpAddr = if v4 {
        <[u8; 4]>::try_from(dst).expect("v4").into()
    } else {
        <[u8; 16]>::try_from(dst).expect("v6").into()
    };
    (
        SocketAddr::new(ip, u16::from_be_bytes([l4[2], l4[3]])),
        ip_ok,
        l4_ok,
    )
}

/// The DNAT rewrite leaves valid IP and TCP/UDP checksums, IPv4 and IPv6,
/// in tc and in XDP (run over crafted frames: between veth peers the
/// kernel never verifies checksums, so traffic alone would not tell).
fn rewrites_keep_checksums_valid(mode: NorthSouthMode, name: &str) {
    let Some((env, topo, mut agent)) = setup(name, true) else {
        return;
    };
    let cases: Vec<(SocketAddr, SocketAddr, L4Protocol, u8)> = vec![
        ("10.214.100.4:80", "10.214.1.2:8080", L4Protocol::Tcp, 6),
        ("10.214.100.4:53", "10.214.1.2:5353", L4Protocol::Udp, 17),
        ("[fd14:100::4]:80", "[fd14:1::2]:8080", L4Protocol::Tcp, 6),
        ("[fd14:100::4]:53", "[fd14:1::2]:5353", L4Protocol::Udp, 17),
    ]
    .into_iter()
    .map(|(v, b, p, n)| (v.parse().expect("vip"), b.parse().expect("backend"), p, n))
    .collect();
    let services: Vec<_> = cases
        .iter()
        .map(|(vip, backend, proto, _)| frontend(*vip, *proto, &[*backend]))
        .collect();
    agent.sync(&services).expect("sync");
    let Some(np) = attach(&env, &topo, None, mode) else {
        return;
    };
    let pass = match mode {
        NorthSouthMode::Tc => 0,  // TC_ACT_OK
        NorthSouthMode::Xdp => 2, // XDP_PASS
    };
    for (vip, backend, _, proto) in cases {
        let client = SocketAddr::new(
            if vip.is_ipv4() {
                "10.214.0.2".parse().expect("client")
            } else {
                "fd14::2".parse().expect("client")
            },
            40123,
        );
        let input = frame(client, vip, proto);
        assert_eq!(inspect(&input, proto), (vip, true, true), "probe is valid");
        let (rc, out) = np.test_run_ingress(&input).expect("test run");
        assert_eq!(rc, pass, "{vip}");
        assert_eq!(out.len(), input.len());
        assert_eq!(
            inspect(&out, proto),
            (backend, true, true),
            "{mode:?} {vip}"
        );
    }
}

#[test]
fn tc_rewrites_keep_checksums_valid() {
    rewrites_keep_checksums_valid(NorthSouthMode::Tc, "csum-tc");
}

#[test]
fn xdp_rewrites_keep_checksums_valid() {
    rewrites_keep_checksums_valid(NorthSouthMode::Xdp, "csum-xdp");
}

/// A NodePort (the unspecified address in the IR and the maps) answers on
/// the node's own addresses, IPv4 and IPv6, and leaves traffic the node
/// only forwards alone (same port, a pod's address: refused by the pod).
fn nodeport_on_the_node_addresses(mode: NorthSouthMode, name: &str) {
    let Some((env, topo, mut agent)) = setup(name, true) else {
        return;
    };
    let any4: SocketAddr = "0.0.0.0:30080".parse().expect("nodeport");
    let any6: SocketAddr = "[::]:30080".parse().expect("nodeport");
    let pod6: SocketAddr = "[fd14:1::2]:8080".parse().expect("pod");
    let mut v4 = frontend(any4, L4Protocol::Tcp, &[pod(0), pod(1)]);
    v4.kind = FrontendKind::NodePort;
    let mut v6 = frontend(any6, L4Protocol::Tcp, &[pod6]);
    v6.kind = FrontendKind::NodePort;
    agent.sync(&[v4, v6]).expect("sync");
    let Some(_np) = attach(&env, &topo, None, mode) else {
        return;
    };
    let node4: SocketAddr = "10.214.0.1:30080".parse().expect("node");
    let hits = tcp_from_client(&topo, node4, 20, "10.214.0.2");
    assert_eq!(hits.values().sum::<usize>(), 20, "{hits:?}");
    let node6: SocketAddr = "[fd14::1]:30080".parse().expect("node");
    let hits = tcp_from_client(&topo, node6, 5, "fd14::2");
    assert_eq!(hits.get("pod1"), Some(&5), "{hits:?}");

    for forwarded in ["10.214.1.2:30080", "[fd14:1::2]:30080"] {
        let lines = common::collect(spawn_in_netns(
            &topo.client,
            &format!("tcp {forwarded} 1"),
            Stdio::null(),
        ));
        assert_eq!(
            lines,
            vec!["err ConnectionRefused".to_string()],
            "{forwarded}"
        );
    }
}

#[test]
fn tc_nodeport_on_the_node_addresses() {
    nodeport_on_the_node_addresses(NorthSouthMode::Tc, "np-tc");
}

#[test]
fn xdp_nodeport_on_the_node_addresses() {
    nodeport_on_the_node_addresses(NorthSouthMode::Xdp, "np-xdp");
}
