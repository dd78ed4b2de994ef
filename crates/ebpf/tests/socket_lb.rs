//! Root tests of the cgroup socket load balancer against loopback backends.
//! Each test makes its own cgroup and pin directory; they skip (printing why)
//! when the kernel or the privileges refuse.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::{Env, frontend, tcp_backend, tcp_backend_on, udp_backend, udp_backend_on};
use portico_ebpf::Verdict;
use portico_ebpf::events::DropReason;
use portico_ir::{L4Protocol, LbAlgorithm};

/// Entry point of the re-executed client process; a no-op otherwise.
#[test]
fn client_process() {
    if let Ok(action) = std::env::var(common::CHILD_ENV) {
        common::run_client(&action);
    }
}

fn vip(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 200, 0, 1], port))
}

/// `ok <backend> <peer>` lines → hits per backend; asserts every peer is `vip`.
fn hits(lines: &[String], vip: SocketAddr) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[0], "ok", "client line {l}");
        assert_eq!(f[2], vip.to_string(), "peer address must be the VIP: {l}");
        *out.entry(f[1].to_string()).or_default() += 1;
    }
    out
}

#[test]
fn tcp_connects_reach_every_backend_and_peer_is_the_vip() {
    let Some(env) = Env::new("tcp") else { return };
    let Some(mut agent) = env.agent() else { return };
    let backends = [tcp_backend("a"), tcp_backend("b"), tcp_backend("c")];
    let vip = vip(8001);
    let report = agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &backends)])
        .expect("sync");
    assert_eq!((report.services, report.backends), (1, 3));

    let mut events = agent.take_events().expect("event reader");
    let lines = env.client(&format!("tcp {vip} 90"));
    assert_eq!(lines.len(), 90);
    let hits = hits(&lines, vip);
    assert_eq!(hits.len(), 3, "all backends reached: {hits:?}");
    // Uniform random choice: each share is 30 on average; 8 is > 4 sigma away.
    assert!(hits.values().all(|&n| n >= 8), "{hits:?}");

    // One trace event per connect, naming the VIP and the chosen backend.
    let records = events.drain(1000);
    assert_eq!(records.len(), 90, "{records:?}");
    for r in &records {
        assert_eq!(r.verdict, Verdict::Translated);
        assert_eq!(r.service, vip);
        assert!(backends.contains(&r.backend.expect("backend")));
        assert_eq!(r.protocol, "TCP");
    }
    assert_eq!(events.malformed(), 0);
}

#[test]
fn udp_replies_come_back_from_the_vip() {
    let Some(env) = Env::new("udp") else { return };
    let Some(mut agent) = env.agent() else { return };
    let backends = [udp_backend("u1"), udp_backend("u2")];
    let vip = vip(5353);
    agent
        .sync(&[frontend(vip, L4Protocol::Udp, &backends)])
        .expect("sync");
    let lines = env.client(&format!("udp {vip} 20"));
    assert_eq!(lines.len(), 20);
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert!(
            f[1].starts_with("u1:ping") || f[1].starts_with("u2:ping"),
            "{l}"
        );
        assert_eq!(f[2], vip.to_string(), "reply source reverse-mapped: {l}");
    }
}

#[test]
fn removed_backend_gets_no_new_connections() {
    let Some(env) = Env::new("removal") else {
        return;
    };
    let Some(mut agent) = env.agent() else { return };
    let (a, b) = (tcp_backend("keep"), tcp_backend("gone"));
    let vip = vip(8002);
    agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &[a, b])])
        .expect("sync");
    let before = hits(&env.client(&format!("tcp {vip} 40")), vip);
    assert_eq!(before.len(), 2, "{before:?}");

    agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &[a])])
        .expect("sync");
    let after = hits(&env.client(&format!("tcp {vip} 30")), vip);
    assert_eq!(after, BTreeMap::from([("keep".to_string(), 30)]));

    // The kernel maps agree.
    let listed = agent.list_services().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].backends.len(), 1);
    assert_eq!(listed[0].backends[0].address, a);
}

#[test]
fn service_without_backends_refuses_and_removed_service_is_plain_traffic() {
    let Some(env) = Env::new("empty") else { return };
    let Some(mut agent) = env.agent() else { return };
    let vip = vip(8003);
    agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &[])])
        .expect("sync");
    let mut events = agent.take_events().expect("event reader");
    let lines = env.client(&format!("tcp {vip} 1"));
    assert_eq!(lines, vec!["err PermissionDenied".to_string()]);
    let records = events.drain(10);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].verdict, Verdict::Dropped);
    assert_eq!(records[0].drop_reason, Some(DropReason::NoBackends));

    agent.sync(&[]).expect("sync");
    assert!(agent.list_services().expect("list").is_empty());
    // Nothing listens on the VIP itself: the kernel refuses normally.
    let lines = env.client(&format!("tcp {vip} 1"));
    assert_eq!(lines, vec!["err ConnectionRefused".to_string()]);
}

#[test]
fn maglev_service_spreads_and_affinity_sticks() {
    let Some(env) = Env::new("maglev") else {
        return;
    };
    let Some(mut agent) = env.agent() else { return };
    let backends = [tcp_backend("m1"), tcp_backend("m2"), tcp_backend("m3")];
    let spread = vip(8004);
    let sticky = vip(8005);
    let mut maglev = frontend(spread, L4Protocol::Tcp, &backends);
    maglev.lb = LbAlgorithm::Maglev;
    let mut affinity = frontend(sticky, L4Protocol::Tcp, &backends);
    affinity.affinity_timeout_secs = Some(600);
    agent.sync(&[maglev, affinity]).expect("sync");

    let listed = agent.list_services().expect("list");
    assert_eq!(listed.iter().filter(|s| s.algorithm == "maglev").count(), 1);
    assert_eq!(
        listed
            .iter()
            .find(|s| s.frontend == sticky)
            .and_then(|s| s.affinity_timeout),
        Some(600)
    );

    let spread_hits = hits(&env.client(&format!("tcp {spread} 60")), spread);
    assert_eq!(
        spread_hits.len(),
        3,
        "maglev over socket cookies: {spread_hits:?}"
    );

    // Every client process shares the test's network namespace: one backend.
    let first = hits(&env.client(&format!("tcp {sticky} 20")), sticky);
    let second = hits(&env.client(&format!("tcp {sticky} 20")), sticky);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
}

#[test]
fn agent_restart_keeps_connections_and_pinned_services() {
    let Some(env) = Env::new("restart") else {
        return;
    };
    let Some(mut agent) = env.agent() else { return };
    let backends = [tcp_backend("r1"), tcp_backend("r2")];
    let vip = vip(8006);
    agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &backends)])
        .expect("sync");

    let mut child = env.spawn_client(&format!("hold {vip}"), Stdio::piped());
    let lines = common::result_lines(child.stdout.take().expect("stdout"));
    let deadline = Duration::from_secs(20);
    let connected = lines.recv_timeout(deadline).expect("client connected");
    let connected = connected
        .strip_prefix("connected ")
        .expect("connected line");
    assert!(connected == "r1" || connected == "r2", "{connected}");

    agent.shutdown();
    // A new agent finds the pinned maps and serves them before any sync.
    let agent = env.agent().expect("restart");
    let listed = portico_ebpf::list_pinned(&env.pin_dir).expect("pinned maps");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].backends.len(), 2);
    assert_eq!(agent.list_services().expect("list"), listed);
    let fresh = hits(&env.client(&format!("tcp {vip} 10")), vip);
    assert_eq!(fresh.values().sum::<usize>(), 10);

    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("signal client");
    let echoed = lines.recv_timeout(deadline).expect("client echoed");
    assert_eq!(echoed, "echo still-alive");
    assert!(child.wait().expect("client exit").success());
}

/// IPv6: the VIP is `::1` on a port nothing listens on, so without the
/// rewrite the kernel would refuse; backends listen on other `::1` ports.
#[test]
fn ipv6_tcp_and_udp_through_the_vip() {
    let Some(env) = Env::new("ipv6") else { return };
    let Some(mut agent) = env.agent() else { return };
    let tcp = [
        tcp_backend_on("[::1]:0", "t6a"),
        tcp_backend_on("[::1]:0", "t6b"),
    ];
    let udp = [udp_backend_on("[::1]:0", "u6")];
    let tcp_vip: SocketAddr = "[::1]:8107".parse().unwrap();
    let udp_vip: SocketAddr = "[::1]:8108".parse().unwrap();
    agent
        .sync(&[
            frontend(tcp_vip, L4Protocol::Tcp, &tcp),
            frontend(udp_vip, L4Protocol::Udp, &udp),
        ])
        .expect("sync");
    let listed = agent.list_services().expect("list");
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|s| s.frontend == tcp_vip && s.backends.len() == 2)
    );

    let mut events = agent.take_events().expect("event reader");
    let tcp_hits = hits(&env.client(&format!("tcp {tcp_vip} 40")), tcp_vip);
    assert_eq!(tcp_hits.len(), 2, "{tcp_hits:?}");
    let records = events.drain(100);
    assert_eq!(records.len(), 40);
    assert!(
        records
            .iter()
            .all(|r| r.service == tcp_vip && r.backend.is_some_and(|b| tcp.contains(&b)))
    );

    let lines = env.client(&format!("udp {udp_vip} 5"));
    assert_eq!(lines.len(), 5);
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert!(f[1].starts_with("u6:ping"), "{l}");
        assert_eq!(
            f[2],
            udp_vip.to_string(),
            "reply source reverse-mapped: {l}"
        );
    }
}

/// A map pinned by an older build with another layout is replaced, not
/// reused with the wrong sizes.
#[test]
fn stale_pinned_map_of_another_layout_is_recreated() {
    let Some(env) = Env::new("stale") else { return };
    // Can this kernel run the agent at all? (Skips otherwise.)
    let Some(probe) = env.agent() else { return };
    probe.shutdown();
    portico_ebpf::remove_pins(&env.pin_dir).expect("clean pins");
    std::fs::create_dir_all(&env.pin_dir).expect("pin dir");
    let stale = env.pin_dir.join("portico_lb4_services");
    let made = std::process::Command::new("bpftool")
        .args(["map", "create"])
        .arg(&stale)
        .args([
            "type", "hash", "key", "4", "value", "4", "entries", "1", "name", "stale",
        ])
        .status();
    match made {
        Ok(s) if s.success() => {}
        other => {
            println!("SKIP stale_pinned_map_of_another_layout_is_recreated: bpftool: {other:?}");
            return;
        }
    }
    let mut agent =
        portico_ebpf::Agent::start(env.config()).expect("agent starts over a stale pin");
    let backend = tcp_backend("fresh");
    let vip = vip(8009);
    agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &[backend])])
        .expect("sync into the recreated map");
    let info = aya::maps::MapInfo::from_pin(&stale).expect("pinned again");
    assert_eq!((info.key_size(), info.value_size()), (12, 16));
    let seen = hits(&env.client(&format!("tcp {vip} 3")), vip);
    assert_eq!(seen.get("fresh"), Some(&3));
}
