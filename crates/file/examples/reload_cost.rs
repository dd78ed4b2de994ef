//! Prints how long loading and reloading a directory of N HTTPRoutes takes:
//! `cargo run --release -p portico-file --example reload_cost -- 10000`.

use std::time::Instant;

use portico_file::DirSource;

fn route(i: usize) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route-{i}
  namespace: ns-{ns}
spec:
  parentRefs:
  - name: gw
    namespace: infra
  hostnames: [\"host-{i}.example.com\"]
  rules:
  - matches:
    - path: {{type: PathPrefix, value: /api/{i}}}
      headers:
      - {{name: x-tenant, value: t{i}}}
    backendRefs:
    - {{name: svc-{i}, port: 8080}}
---
",
        ns = i % 10
    )
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tempdir: {e}");
            std::process::exit(1);
        }
    };
    let per_file = 100;
    for f in 0..n.div_ceil(per_file) {
        let text: String = (f * per_file..((f + 1) * per_file).min(n))
            .map(route)
            .collect();
        if let Err(e) = std::fs::write(dir.path().join(format!("routes-{f:04}.yaml")), text) {
            eprintln!("write: {e}");
            std::process::exit(1);
        }
    }
    let mut source = DirSource::new(dir.path());
    let t = Instant::now();
    let state = source.reload();
    println!(
        "initial load: {} objects, {} errors in {:?}",
        state.objects.len(),
        state.errors.len(),
        t.elapsed()
    );
    let t = Instant::now();
    source.reload();
    println!("reload, nothing changed: {:?}", t.elapsed());
    let changed = route(0).replace("/api/0", "/api/zero");
    if let Err(e) = std::fs::write(dir.path().join("routes-0000.yaml"), changed) {
        eprintln!("write: {e}");
        std::process::exit(1);
    }
    let t = Instant::now();
    let state = source.reload();
    println!(
        "reload, one file changed: revision {} in {:?}",
        state.revision,
        t.elapsed()
    );
}
