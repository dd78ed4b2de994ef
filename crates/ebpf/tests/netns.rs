//! The socket load balancer with backend "pods" in network namespaces that
//! the test creates (veth pairs, private 10.213.<n>.0/24 subnets) and removes.
//! The client runs on the host side in the test's cgroup and dials the VIP.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Env, frontend};
use portico_ir::L4Protocol;

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

/// A network namespace with a veth to the host, and a backend in it.
struct Pod {
    netns: String,
    host_if: String,
    address: SocketAddr,
    server: Option<Child>,
}

impl Pod {
    fn create(index: u8, name: &str) -> Result<Pod, String> {
        let tag = format!("{}{index}", std::process::id() % 100_000);
        let netns = format!("ptest{tag}");
        let host_if = format!("pth{tag}");
        let pod = Pod {
            netns: netns.clone(),
            host_if: host_if.clone(),
            address: SocketAddr::from(([10, 213, index, 2], 8080)),
            server: None,
        };
        ip(&["netns", "add", &netns]).map_err(|e| format!("SKIP: {e}"))?;
        let host_addr = format!("10.213.{index}.1/24");
        let pod_addr = format!("10.213.{index}.2/24");
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", "eth0", "netns", &netns,
        ])?;
        ip(&["addr", "add", &host_addr, "dev", &host_if])?;
        ip(&["link", "set", &host_if, "up"])?;
        ip(&["-n", &netns, "addr", "add", &pod_addr, "dev", "eth0"])?;
        ip(&["-n", &netns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        let mut pod = pod;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &netns])
            .arg(exe)
            .args([
                "--exact",
                "client_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(common::CHILD_ENV, format!("serve {} {name}", pod.address))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        let ready = common::result_lines(child.stdout.take().ok_or("no stdout")?);
        pod.server = Some(child);
        match ready.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line == "listening" => Ok(pod),
            other => Err(format!("backend in {netns} did not start: {other:?}")),
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting the host end removes the pair at once (namespace teardown
        // would too, but asynchronously).
        let _ = ip(&["link", "del", &self.host_if]);
        if let Err(e) = ip(&["netns", "del", &self.netns]) {
            eprintln!("cleanup: {e}");
        }
    }
}

#[test]
fn vip_reaches_backends_in_pod_namespaces() {
    let Some(env) = Env::new("netns") else { return };
    let mut pods = Vec::new();
    for (i, name) in [(1u8, "pod-a"), (2, "pod-b")] {
        match Pod::create(i, name) {
            Ok(p) => pods.push(p),
            // Only a kernel/tool refusal to make namespaces is a skip.
            Err(e) if e.starts_with("SKIP") => {
                println!("{e}");
                return;
            }
            Err(e) => panic!("pod {name}: {e}"),
        }
    }
    let Some(mut agent) = env.agent() else { return };
    let vip = SocketAddr::from(([127, 200, 9, 1], 80));
    let addrs: Vec<SocketAddr> = pods.iter().map(|p| p.address).collect();
    agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &addrs)])
        .expect("sync");

    let lines = env.client(&format!("tcp {vip} 40"));
    assert_eq!(lines.len(), 40);
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[0], "ok", "{l}");
        assert_eq!(f[2], vip.to_string(), "getpeername shows the VIP: {l}");
        // The pod saw a connection from the host end of its veth: real
        // traffic through the namespace, no NAT on the way.
        let (pod, peer) = f[1].split_once('@').expect("name@peer");
        let peer: SocketAddr = peer.parse().expect("peer address");
        let expected_host = match pod {
            "pod-a" => [10, 213, 1, 1],
            "pod-b" => [10, 213, 2, 1],
            other => panic!("unknown pod {other}"),
        };
        assert_eq!(peer.ip(), std::net::IpAddr::from(expected_host));
        *hits.entry(pod.to_string()).or_default() += 1;
    }
    assert_eq!(hits.len(), 2, "{hits:?}");

    // Take pod-a out: new connections go to pod-b only.
    agent
        .sync(&[frontend(vip, L4Protocol::Tcp, &addrs[1..])])
        .expect("sync");
    let lines = env.client(&format!("tcp {vip} 15"));
    assert!(lines.iter().all(|l| l.contains(" pod-b@")), "{lines:?}");
}
