//! Test topology for the socket load balancer: a dedicated cgroup v2 group the
//! agent attaches to, a private pin directory, loopback backends, and client
//! processes (this test binary re-executed) moved into the cgroup.
//!
//! Traffic only goes to loopback: the VIPs live in 127.200.0.0/16 and are
//! rewritten to 127.0.0.1 backends at connect(), before any packet exists.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portico_ebpf::{Agent, AgentConfig, Error};
use portico_ir::{FrontendKind, L4Protocol, LbAlgorithm, ObjectRef, ServiceFrontend};

pub const CHILD_ENV: &str = "PORTICO_EBPF_TEST_CHILD";
pub const CGROUP_ENV: &str = "PORTICO_EBPF_TEST_CGROUP";

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A per-test cgroup and pin directory, removed on drop (also on panic).
pub struct Env {
    pub cgroup: PathBuf,
    pub pin_dir: PathBuf,
}

impl Env {
    /// `None` (with a printed reason) when this host cannot run the test.
    pub fn new(name: &str) -> Option<Env> {
        if !portico_ebpf::compiled() {
            println!(
                "SKIP {name}: eBPF programs not compiled ({})",
                portico_ebpf::BUILD_STATUS
            );
            return None;
        }
        if let Err(e) = portico_ebpf::sys::check_capabilities() {
            println!("SKIP {name}: {e}");
            return None;
        }
        let root = match portico_ebpf::sys::cgroup2_root() {
            Ok(r) => r,
            Err(e) => {
                println!("SKIP {name}: no cgroup v2: {e}");
                return None;
            }
        };
        let id = format!(
            "portico-test-{}-{}-{name}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let cgroup = root.join(&id);
        if let Err(e) = std::fs::create_dir(&cgroup) {
            println!(
                "SKIP {name}: cannot create cgroup {}: {e}",
                cgroup.display()
            );
            return None;
        }
        let pin_dir = PathBuf::from("/sys/fs/bpf").join(&id);
        Some(Env { cgroup, pin_dir })
    }

    pub fn config(&self) -> AgentConfig {
        AgentConfig {
            cgroup: Some(self.cgroup.clone()),
            pin_dir: self.pin_dir.clone(),
            drain_grace: std::time::Duration::from_secs(30),
        }
    }

    /// Starts an agent; `None` (printed) when the kernel refuses.
    pub fn agent(&self) -> Option<Agent> {
        match Agent::start(self.config()) {
            Ok(a) => Some(a),
            Err(e @ (Error::Load { .. } | Error::Program { .. } | Error::Mount { .. })) => {
                println!("SKIP: kernel refused the socket LB: {e}");
                None
            }
            Err(e) => panic!("agent start: {e}"),
        }
    }

    /// Runs the client `action` in a child process inside the cgroup and
    /// returns its `RESULT` lines.
    pub fn client(&self, action: &str) -> Vec<String> {
        let child = self.spawn_client(action, Stdio::null());
        collect(child)
    }

    pub fn spawn_client(&self, action: &str, stdin: Stdio) -> Child {
        let exe = std::env::current_exe().expect("test binary path");
        Command::new(exe)
            .args([
                "--exact",
                "client_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, action)
            .env(CGROUP_ENV, &self.cgroup)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn client")
    }
}

/// Runs this test binary's `client_process` with `action` inside the network
/// namespace `netns` (outside the test cgroup).
pub fn spawn_in_netns(netns: &str, action: &str, stdin: Stdio) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(exe)
        .args([
            "--exact",
            "client_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, action)
        .env_remove(CGROUP_ENV)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn in netns")
}

pub fn collect(child: Child) -> Vec<String> {
    let out = child.wait_with_output().expect("client output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed: {text}");
    text.lines().filter_map(result_line).collect()
}

/// The payload of a `RESULT` line. The test harness prints `test name ... `
/// without a newline before the child's first line, so look anywhere.
pub fn result_line(line: &str) -> Option<String> {
    line.split_once("RESULT ").map(|(_, r)| r.to_string())
}

/// Reads a child's stdout on a thread so the test can wait with a deadline.
pub fn result_lines(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(r) = result_line(&line)
                && tx.send(r).is_err()
            {
                return;
            }
        }
    });
    rx
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Err(e) = portico_ebpf::remove_pins(&self.pin_dir) {
            eprintln!("cleanup {}: {e}", self.pin_dir.display());
        }
        // The client processes have exited; the group is empty.
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Err(e) = std::fs::remove_dir(&self.cgroup) {
            if Instant::now() > deadline || e.kind() == std::io::ErrorKind::NotFound {
                eprintln!("cleanup {}: {e}", self.cgroup.display());
                break;
            }
            std::thread::yield_now();
        }
    }
}

pub fn frontend(vip: SocketAddr, proto: L4Protocol, backends: &[SocketAddr]) -> ServiceFrontend {
    ServiceFrontend {
        service: ObjectRef {
            kind: "Service".into(),
            namespace: "test".into(),
            name: format!("svc-{}", vip.port()),
        },
        kind: FrontendKind::ClusterIp,
        address: vip.ip(),
        port: vip.port(),
        protocol: proto,
        lb: LbAlgorithm::Random,
        affinity_timeout_secs: None,
        backends: backends.to_vec(),
        weights: Default::default(),
        terminating: Vec::new(),
    }
}

/// A TCP backend on 127.0.0.1:0: greets each connection with `name\n`, then
/// echoes lines until EOF.
pub fn tcp_backend(name: &str) -> SocketAddr {
    tcp_backend_on("127.0.0.1:0", name)
}

/// [`tcp_backend`] on another loopback address (e.g. `[::1]:0`).
pub fn tcp_backend_on(bind: &str, name: &str) -> SocketAddr {
    let listener = TcpListener::bind(bind).expect("bind backend");
    let addr = listener.local_addr().expect("backend addr");
    let name = name.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let name = name.clone();
            std::thread::spawn(move || {
                if writeln!(stream, "{name}").is_err() {
                    return;
                }
                let mut buf = [0u8; 256];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// A UDP backend on 127.0.0.1:0 answering `name:<request>`.
pub fn udp_backend(name: &str) -> SocketAddr {
    udp_backend_on("127.0.0.1:0", name)
}

/// [`udp_backend`] on another loopback address (e.g. `[::1]:0`).
pub fn udp_backend_on(bind: &str, name: &str) -> SocketAddr {
    let socket = UdpSocket::bind(bind).expect("bind udp backend");
    let addr = socket.local_addr().expect("udp addr");
    let name = name.to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let reply = format!("{name}:{}", String::from_utf8_lossy(&buf[..n]));
            let _ = socket.send_to(reply.as_bytes(), from);
        }
    });
    addr
}

/// Client side, run inside the child process. Actions:
/// `tcp VIP N`, `udp VIP N`, `hold VIP` (connect, report, wait for a line on
/// stdin, then echo a ping through the same connection).
pub fn run_client(action: &str) {
    println!();
    let parts: Vec<&str> = action.split_whitespace().collect();
    if parts[0] == "serve-udp" {
        // A UDP backend "pod": answers `name:<request>`.
        let socket = UdpSocket::bind(parts[1]).expect("bind pod address");
        println!("RESULT listening");
        std::io::stdout().flush().expect("flush");
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let reply = format!("{}:{}", parts[2], String::from_utf8_lossy(&buf[..n]));
            let _ = socket.send_to(reply.as_bytes(), from);
        }
        return;
    }
    if parts[0] == "serve" {
        // A backend "pod" (run inside a network namespace): greet with its
        // name and the peer address it sees.
        let listener = TcpListener::bind(parts[1]).expect("bind pod address");
        println!("RESULT listening");
        std::io::stdout().flush().expect("flush");
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let name = parts[2].to_string();
            std::thread::spawn(move || {
                let peer = stream
                    .peer_addr()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                if writeln!(stream, "{name}@{peer}").is_err() {
                    return;
                }
                let mut buf = [0u8; 256];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
        return;
    }
    // Clients of the socket LB join the test's cgroup; north-south clients
    // (in their own network namespace) do not.
    if let Ok(cgroup) = std::env::var(CGROUP_ENV) {
        std::fs::write(
            PathBuf::from(&cgroup).join("cgroup.procs"),
            std::process::id().to_string(),
        )
        .expect("join cgroup");
    }
    let vip: SocketAddr = parts[1].parse().expect("vip");
    let timeout = Some(Duration::from_secs(5));
    match parts[0] {
        "tcp" => {
            let n: usize = parts[2].parse().expect("count");
            for _ in 0..n {
                match std::net::TcpStream::connect_timeout(&vip, Duration::from_secs(5)) {
                    Ok(stream) => {
                        stream.set_read_timeout(timeout).expect("timeout");
                        let peer = stream.peer_addr().expect("peer");
                        let mut line = String::new();
                        BufReader::new(&stream)
                            .read_line(&mut line)
                            .expect("greeting");
                        println!("RESULT ok {} {peer}", line.trim());
                    }
                    Err(e) => println!("RESULT err {:?}", e.kind()),
                }
            }
        }
        "udp" => {
            let n: usize = parts[2].parse().expect("count");
            let local = if vip.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let socket = UdpSocket::bind(local).expect("bind client");
            socket.set_read_timeout(timeout).expect("timeout");
            for i in 0..n {
                socket
                    .send_to(format!("ping{i}").as_bytes(), vip)
                    .expect("send");
                let mut buf = [0u8; 512];
                let (len, from) = socket.recv_from(&mut buf).expect("reply");
                println!("RESULT ok {} {from}", String::from_utf8_lossy(&buf[..len]));
            }
        }
        "hold" => {
            let stream = std::net::TcpStream::connect_timeout(&vip, Duration::from_secs(5))
                .expect("connect");
            stream.set_read_timeout(timeout).expect("timeout");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("greeting");
            println!("RESULT connected {}", line.trim());
            std::io::stdout().flush().expect("flush");
            let mut go = String::new();
            std::io::stdin()
                .read_line(&mut go)
                .expect("wait for parent");
            let mut w = &stream;
            w.write_all(b"still-alive\n").expect("write after restart");
            line.clear();
            reader.read_line(&mut line).expect("echo after restart");
            println!("RESULT echo {}", line.trim());
        }
        other => panic!("unknown client action {other}"),
    }
    std::io::stdout().flush().expect("flush");
}

/// `ok <backend> <peer>` lines → hits per backend; asserts every peer is `vip`.
pub fn hits(lines: &[String], vip: SocketAddr) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f[0], "ok", "client line {l}");
        assert_eq!(f[2], vip.to_string(), "peer address must be the VIP: {l}");
        *out.entry(f[1].to_string()).or_default() += 1;
    }
    out
}

/// Asserts that `hits` (connections per backend name) follow `weights`
/// (name → weight) for `n` independent choices: each count lies within 5
/// standard deviations of its binomial mean n·p (p = weight / total), i.e.
/// a correct balancer fails this with probability below 1e-6 per backend.
/// `slack` widens p's interval for tables that only approximate the
/// weights (Maglev shares are within 1% of them).
pub fn assert_binomial_shares(
    hits: &std::collections::BTreeMap<String, usize>,
    weights: &[(&str, u32)],
    slack: f64,
) {
    let n: usize = hits.values().sum();
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    for (name, w) in weights {
        let p = f64::from(*w) / f64::from(total);
        let got = hits.get(*name).copied().unwrap_or(0) as f64;
        let mean = n as f64 * p;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        let bound = 5.0 * sd + slack * n as f64;
        assert!(
            (got - mean).abs() <= bound,
            "{name}: {got} hits of {n}, expected {mean:.1} ± {bound:.1} (weight {w}/{total}): {hits:?}"
        );
    }
    for name in hits.keys() {
        assert!(
            weights.iter().any(|(w, _)| w == name),
            "{name} is not a weighted backend: {hits:?}"
        );
    }
}

/// Lets a `hold` client go on and asserts that its held connection still
/// echoes (within `deadline`), then that the client exits cleanly.
pub fn release_hold(
    child: &mut Child,
    lines: &std::sync::mpsc::Receiver<String>,
    deadline: Duration,
) {
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("signal client");
    let echoed = lines.recv_timeout(deadline).expect("client echoed");
    assert_eq!(
        echoed, "echo still-alive",
        "the held connection keeps working"
    );
    assert!(child.wait().expect("client exit").success());
}
