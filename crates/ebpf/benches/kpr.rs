//! kube-proxy replacement benchmark: Portico's eBPF socket LB against
//! iptables DNAT chains shaped like kube-proxy's, for 10, 1,000 and 10,000
//! Services. Measures the time to program all Services and the cost of a
//! TCP_CRR-style transaction (connect, request, response, close) to the last
//! Service, and prints ratios. Root only; run with
//! `cargo bench -p portico-ebpf --bench kpr` (`-- --quick` for fewer rounds).
//!
//! Both sides use loopback only: the VIPs live in 127.201.0.0/16 and the
//! backend listens on 127.0.0.1. iptables rules go into a private network
//! namespace; the socket LB attaches to a private cgroup that this process
//! joins for the measurement and leaves afterwards.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portico_ebpf::{Agent, AgentConfig};
use portico_ir::{FrontendKind, L4Protocol, LbAlgorithm, ObjectRef, ServiceFrontend};

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn vip(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 201, (i / 250) as u8, (i % 250 + 1) as u8], 80))
}

/// A backend answering `ok\n` to one request line, then closing.
fn serve(listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 64];
            if let Ok(n @ 1..) = s.read(&mut buf)
                && buf[..n].contains(&b'\n')
            {
                let _ = s.write_all(b"ok\n");
            }
        }
    });
}

/// One TCP_CRR transaction.
fn transaction(to: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect(to)?;
    s.write_all(b"GET\n")?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    if out != b"ok\n" {
        return Err(std::io::Error::other("unexpected response"));
    }
    Ok(())
}

struct Latency {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

fn measure(to: SocketAddr, rounds: usize) -> Result<Latency, String> {
    for _ in 0..rounds / 10 {
        transaction(to).map_err(|e| format!("warm-up to {to}: {e}"))?;
    }
    let mut samples = Vec::with_capacity(rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        let t = Instant::now();
        transaction(to).map_err(|e| format!("transaction to {to}: {e}"))?;
        samples.push(t.elapsed());
    }
    let total = started.elapsed();
    samples.sort();
    Ok(Latency {
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
        per_sec: rounds as f64 / total.as_secs_f64(),
    })
}

fn frontends(n: usize, backend: SocketAddr) -> Vec<ServiceFrontend> {
    (0..n)
        .map(|i| ServiceFrontend {
            service: ObjectRef {
                kind: "Service".into(),
                namespace: "bench".into(),
                name: format!("svc-{i}"),
            },
            kind: FrontendKind::ClusterIp,
            address: vip(i).ip(),
            port: 80,
            protocol: L4Protocol::Tcp,
            lb: LbAlgorithm::Random,
            affinity_timeout_secs: None,
            // Only the measured (last) Service reaches the real backend.
            backends: vec![if i + 1 == n {
                backend
            } else {
                SocketAddr::from(([127, 0, 0, 1], 1 + (i % 1000) as u16))
            }],
            weights: Default::default(),
            terminating: Vec::new(),
        })
        .collect()
}

fn own_cgroup(root: &Path) -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .trim_start_matches('/');
    root.join(rel)
}

fn join(cgroup: &Path) -> Result<(), String> {
    std::fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string())
        .map_err(|e| format!("joining {}: {e}", cgroup.display()))
}

fn portico(n: usize, rounds: usize) -> Result<(Duration, Latency), String> {
    let root = portico_ebpf::sys::cgroup2_root().map_err(|e| e.to_string())?;
    let home = own_cgroup(&root);
    let cgroup = root.join(format!("portico-bench-{}", std::process::id()));
    let pin_dir = PathBuf::from(format!("/sys/fs/bpf/portico-bench-{}", std::process::id()));
    std::fs::create_dir_all(&cgroup).map_err(|e| e.to_string())?;
    let result = (|| {
        let mut agent = Agent::start(AgentConfig {
            cgroup: Some(cgroup.clone()),
            pin_dir: pin_dir.clone(),
            drain_grace: Duration::ZERO,
        })
        .map_err(|e| e.to_string())?;
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let backend = listener.local_addr().map_err(|e| e.to_string())?;
        serve(listener);
        let services = frontends(n, backend);
        let t = Instant::now();
        agent.sync(&services).map_err(|e| e.to_string())?;
        let program = t.elapsed();
        join(&cgroup)?;
        let latency = measure(vip(n - 1), rounds);
        join(&home)?;
        agent.shutdown();
        Ok((program, latency?))
    })();
    let _ = portico_ebpf::remove_pins(&pin_dir);
    let _ = std::fs::remove_dir(&cgroup);
    result
}

fn iptables_rules(n: usize, backend: SocketAddr) -> String {
    let mut r = String::from("*nat\n:KUBE-SERVICES - [0:0]\n");
    for i in 0..n {
        r.push_str(&format!(":KUBE-SVC-{i} - [0:0]\n:KUBE-SEP-{i} - [0:0]\n"));
    }
    r.push_str("-A OUTPUT -j KUBE-SERVICES\n");
    for i in 0..n {
        let v = vip(i);
        let to = if i + 1 == n {
            backend.to_string()
        } else {
            format!("127.0.0.1:{}", 1 + i % 1000)
        };
        r.push_str(&format!(
            "-A KUBE-SERVICES -d {}/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-{i}\n\
             -A KUBE-SVC-{i} -j KUBE-SEP-{i}\n\
             -A KUBE-SEP-{i} -p tcp -m tcp -j DNAT --to-destination {to}\n",
            v.ip()
        ));
    }
    r.push_str("COMMIT\n");
    r
}

fn iptables(n: usize, rounds: usize) -> Result<(Duration, Latency), String> {
    let ns = format!("portico-bench-{}", std::process::id());
    let ip = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .status()
            .map_err(|e| e.to_string())
            .and_then(|s| {
                s.success()
                    .then_some(())
                    .ok_or(format!("ip {args:?} failed"))
            })
    };
    ip(&["netns", "add", &ns])?;
    let result = (|| {
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        let path = Path::new("/var/run/netns").join(&ns);
        portico_ebpf::sys::in_netns(&path, || {
            let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let backend = listener.local_addr().map_err(|e| e.to_string())?;
            serve(listener);
            let rules = iptables_rules(n, backend);
            let t = Instant::now();
            let mut child = Command::new("ip")
                .args(["netns", "exec", &ns, "iptables-restore"])
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| format!("iptables-restore: {e}"))?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(rules.as_bytes())
                    .map_err(|e| e.to_string())?;
            }
            let status = child.wait().map_err(|e| e.to_string())?;
            let program = t.elapsed();
            if !status.success() {
                return Err("iptables-restore failed".to_string());
            }
            Ok((program, measure(vip(n - 1), rounds)?))
        })
        .map_err(|e| e.to_string())?
    })();
    let _ = ip(&["netns", "del", &ns]);
    result
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 500 } else { 3000 };
    if let Err(e) = portico_ebpf::sys::check_capabilities() {
        println!("kpr bench skipped: {e}");
        return;
    }
    println!("TCP_CRR to the last of N Services, {rounds} transactions each (loopback)\n");
    println!(
        "| Services | program: Portico | program: iptables | ratio | CRR p50: Portico | CRR p50: iptables | ratio | p99 Portico / iptables | txn/s Portico / iptables |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in SIZES {
        let p = portico(n, rounds);
        let i = iptables(n, rounds);
        match (p, i) {
            (Ok((pp, pl)), Ok((ip, il))) => println!(
                "| {n} | {:.1} ms | {:.1} ms | {:.2} | {:.1} µs | {:.1} µs | {:.2} | {:.1} / {:.1} µs | {:.0} / {:.0} |",
                pp.as_secs_f64() * 1e3,
                ip.as_secs_f64() * 1e3,
                pp.as_secs_f64() / ip.as_secs_f64(),
                us(pl.p50),
                us(il.p50),
                us(pl.p50) / us(il.p50),
                us(pl.p99),
                us(il.p99),
                pl.per_sec,
                il.per_sec,
            ),
            (p, i) => println!("| {n} | error: {:?} | {:?} |", p.err(), i.err()),
        }
    }
    println!(
        "\nratio < 1: Portico cheaper. Program time: Portico = map writes of one sync; iptables = one iptables-restore."
    );
}
