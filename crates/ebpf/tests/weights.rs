//! Backend weights and terminating backends through the socket load
//! balancer (root; each test in its own cgroup and pin directory).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::{Env, assert_binomial_shares, frontend, tcp_backend};
use portico_ebpf::LbMaps;
use portico_ebpf::maps::BACKEND_TERMINATING;
use portico_ir::{L4Protocol, LbAlgorithm};

#[test]
fn client_process() {
    if let Ok(action) = std::env::var(common::CHILD_ENV) {
        common::run_client(&action);
    }
}

fn vip(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 201, 0, 1], port))
}

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
fn connects_to_the_vip_reach_all_backends_in_proportion_to_weights() {
    let Some(env) = Env::new("weights") else {
        return;
    };
    let Some(mut agent) = env.agent() else { return };
    let weights = [("w1", 1), ("w2", 2), ("w4", 4)];
    let backends: Vec<SocketAddr> = weights.iter().map(|(n, _)| tcp_backend(n)).collect();
    let (random_vip, maglev_vip) = (vip(9001), vip(9002));
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
    let vip = vip(9003);
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
    held.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("signal client");
    let echoed = lines.recv_timeout(deadline).expect("client echoed");
    assert_eq!(echoed, "echo still-alive");
    assert!(held.wait().expect("client exit").success());
}
