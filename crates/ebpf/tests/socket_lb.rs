//! Root tests of the cgroup socket load balancer against loopback backends,
//! including backend weights and terminating backends.
//! Each test makes its own cgroup and pin directory; they skip (printing why)
//! when the kernel or the privileges refuse.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::{
    Env, assert_binomial_shares, frontend, hits, tcp_backend, tcp_backend_on, udp_backend,
    udp_backend_on,
};
use portico_ebpf::LbMaps;
use portico_ebpf::Verdict;
use portico_ebpf::events::DropReason;
use portico_ebpf::maps::BACKEND_TERMINATING;
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

    common::release_hold(&mut child, &lines, deadline);
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

/// The weight and termination tests use their own VIP range.
fn weighted_vip(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 201, 0, 1], port))
}

#[test]
fn connects_to_the_vip_reach_all_backends_in_proportion_to_weights() {
    let Some(env) = Env::new("weights") else {
        return;
    };
    let Some(mut agent) = env.agent() else { return };
    let weights = [("w1", 1), ("w2", 2), ("w4", 4)];
    let backends: Vec<SocketAddr> = weights.iter().map(|(n, _)| tcp_backend(n)).collect();
    let (random_vip, maglev_vip) = (weighted_vip(9001), weighted_vip(9002));
    let weighted = |vip: SocketAddr, lb: LbAlgorithm| {
        let mut f = frontend(vip, L4Protocol::Tcp, &backends);
        f.lb = lb;
        for (b, (_, w)) in backends.iter().zip(weights) {
            f.weights.insert(*b, w);
        }
        f
    };
    agent
        .sync(&[
            weighted(random_vip, LbAlgorithm::Random),
            weighted(maglev_vip, LbAlgorithm::Maglev),
        ])
        .expect("sync");
    let listed = agent.list_services().expect("list");
    for b in &listed[0].backends {
        let i = backends.iter().position(|a| *a == b.address).expect("ours");
        assert_eq!(u32::from(b.weight), weights[i].1, "{b:?}");
    }

    // Random slot choice: exact shares 1/7, 2/7, 4/7.
    let n = 700;
    let random = hits(&env.client(&format!("tcp {random_vip} {n}")), random_vip);
    assert_eq!(random.values().sum::<usize>(), n);
    assert_binomial_shares(&random, &weights, 0.0);
    // Maglev over socket cookies: table shares within 1% of the weights.
    let maglev = hits(&env.client(&format!("tcp {maglev_vip} {n}")), maglev_vip);
    assert_binomial_shares(&maglev, &weights, 0.01);

    // Weight 0 (maintenance): no new connections at all.
    let mut drained = weighted(random_vip, LbAlgorithm::Random);
    drained.weights.insert(backends[2], 0);
    agent.sync(&[drained]).expect("sync");
    let after = hits(&env.client(&format!("tcp {random_vip} 60")), random_vip);
    assert!(!after.contains_key("w4"), "{after:?}");
    assert_binomial_shares(&after, &weights[..2], 0.0);
}

#[test]
fn a_backend_set_to_terminating_receives_no_new_connections() {
    let Some(env) = Env::new("terminating") else {
        return;
    };
    let Some(mut agent) = env.agent() else { return };
    let (keep, other, drain) = (
        tcp_backend("keep"),
        tcp_backend("other"),
        tcp_backend("drain"),
    );
    let vip = weighted_vip(9003);
    // The held connection lands on `drain` (the only backend at first).
    agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &[drain])])
        .expect("sync");
    let mut held = env.spawn_client(&format!("hold {vip}"), Stdio::piped());
    let lines = common::result_lines(held.stdout.take().expect("stdout"));
    let deadline = Duration::from_secs(20);
    let connected = lines.recv_timeout(deadline).expect("client connected");
    assert_eq!(connected, "connected drain");

    // The endpoint turns terminating: out of the slots, still in the
    // backend map (terminating) with the same id.
    let before = LbMaps::open_pinned(&env.pin_dir)
        .and_then(|m| m.read_state())
        .expect("read maps");
    let drain_id = before
        .backends
        .iter()
        .find(|(_, b)| b.addr == drain)
        .map(|(id, _)| *id)
        .expect("drain backend");
    let mut f = frontend(vip, L4Protocol::Tcp, &[keep, other]);
    f.terminating = vec![drain];
    agent.sync(&[f]).expect("sync");
    let state = LbMaps::open_pinned(&env.pin_dir)
        .and_then(|m| m.read_state())
        .expect("read maps");
    assert_eq!(state.backends[&drain_id].addr, drain, "same id");
    assert_eq!(state.backends[&drain_id].state, BACKEND_TERMINATING);
    let listed = agent.list_services().expect("list");
    assert!(listed[0].backends.iter().all(|b| b.address != drain));

    let fresh = hits(&env.client(&format!("tcp {vip} 60")), vip);
    assert!(!fresh.contains_key("drain"), "{fresh:?}");
    assert_eq!(fresh.len(), 2, "{fresh:?}");

    // The established connection keeps working.
    common::release_hold(&mut held, &lines, deadline);
}
