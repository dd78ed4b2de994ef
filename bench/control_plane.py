#!/usr/bin/env python3
"""Control-plane benchmark for Portico's standalone mode (shaped like the
public gateway-api-bench):

1. routes added one at a time: time from writing the file to the first 200
   for that route (p50/p99/max);
2. one live route edited repeatedly while a client keeps requesting it:
   the count of non-2xx answers and connection errors (target: zero);
3. matching cost and memory: CPU microseconds per request and RSS with few
   routes versus many (wrk against the last route added).

Standard library only; started by bench/control_plane.sh (which builds
Portico and starts the backend). Not a test: it prints figures.
"""
import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def header(backend_port, listener_port):
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: portico
spec:
  controllerName: portico.dev/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: cp
  namespace: default
spec:
  gatewayClassName: portico
  listeners:
  - name: http
    protocol: HTTP
    port: {listener_port}
---
apiVersion: v1
kind: Service
metadata:
  name: backend
  namespace: default
spec:
  ports:
  - name: http
    port: 80
    protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend-local
  namespace: default
  labels:
    kubernetes.io/service-name: backend
addressType: IPv4
ports:
- name: http
  port: {backend_port}
  protocol: TCP
endpoints:
- addresses: ["127.0.0.1"]
  conditions:
    ready: true
"""


def route(name, path, header_value=None):
    filters = ""
    if header_value is not None:
        filters = f"""    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set:
        - name: x-bench-edit
          value: "{header_value}"
"""
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: default
spec:
  parentRefs:
  - name: cp
  rules:
  - matches:
    - path:
        type: Exact
        value: {path}
{filters}    backendRefs:
    - name: backend
      port: 80
"""


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get_status(conn_box, host, port, path):
    """One GET over a kept-alive connection (reopened on error)."""
    try:
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection(host, port, timeout=2)
        c = conn_box[0]
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        if conn_box[0] is not None:
            conn_box[0].close()
        conn_box[0] = None
        return None


def gateway_address(portico, admin, deadline):
    while time.monotonic() < deadline:
        out = subprocess.run([portico, "get", "gateway", "cp", "-n", "default", "--admin", admin],
                             capture_output=True, text=True)
        rows = out.stdout.strip().splitlines()
        if len(rows) >= 2:
            cols = rows[1].split()
            if len(cols) >= 4 and cols[3] == "True":
                return cols[2]
        time.sleep(0.2)
    return None


def wait_for(conn_box, host, port, path, want, deadline):
    while time.monotonic() < deadline:
        if get_status(conn_box, host, port, path) == want:
            return True
        time.sleep(0.002)
    return False


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def wrk_cpu(pid, host, port, path, seconds, cpu):
    t0 = cpu_ticks(pid)
    out = subprocess.run(["taskset", "-c", cpu, "wrk", "-t1", "-c16", f"-d{seconds}s",
                          f"http://{host}:{port}{path}"], capture_output=True, text=True).stdout
    t1 = cpu_ticks(pid)
    m = re.search(r"(\d+) requests in", out)
    n = int(m.group(1)) if m else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    us = (t1 - t0) / CLK_TCK * 1e6 / n if n else float("nan")
    return us, float(rps.group(1)) if rps else float("nan"), int(non2xx.group(1)) if non2xx else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--portico", required=True)
    ap.add_argument("--backend-port", type=int, required=True)
    ap.add_argument("--listener-port", type=int, default=18186)
    ap.add_argument("--admin", default="127.0.0.1:19877")
    ap.add_argument("--routes", type=int, default=3000, help="routes added one at a time")
    ap.add_argument("--edits", type=int, default=100, help="edits of the live route")
    ap.add_argument("--match-routes", type=int, default=5000, help="routes for the matching-cost run")
    ap.add_argument("--seconds", type=int, default=5, help="wrk seconds per matching-cost run")
    ap.add_argument("--proxy-cpu", default="1")
    ap.add_argument("--loadgen-cpu", default="0")
    args = ap.parse_args()

    cfg = tempfile.mkdtemp(prefix="portico-cp.")
    write_atomically(os.path.join(cfg, "base.yaml"), header(args.backend_port, args.listener_port))
    write_atomically(os.path.join(cfg, "live.yaml"), route("live", "/live"))
    env = dict(os.environ, TOKIO_WORKER_THREADS="1", RUST_LOG="warn")
    log = open(os.path.join(cfg, "..", os.path.basename(cfg) + ".log"), "w")
    proc = subprocess.Popen(["taskset", "-c", args.proxy_cpu, args.portico, "run", "--config", cfg,
                             "--admin", args.admin], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        host = gateway_address(args.portico, args.admin, time.monotonic() + 30)
        if host is None:
            print("the Gateway was not programmed within 30 s", file=sys.stderr)
            return 1
        port = args.listener_port
        box = [None]
        if not wait_for(box, host, port, "/live", 200, time.monotonic() + 30):
            print("the live route never answered 200", file=sys.stderr)
            return 1

        # 0. Matching cost with 10 routes (the live one and 9 others).
        for i in range(9):
            write_atomically(os.path.join(cfg, f"f{i}.yaml"), route(f"f{i}", f"/f{i}"))
        wait_for(box, host, port, "/f8", 200, time.monotonic() + 30)
        pid = proc.pid
        few_us, few_rps, _ = wrk_cpu(pid, host, port, "/f8", args.seconds, args.loadgen_cpu)
        few_rss = rss_kb(pid)

        # 1. Routes added one at a time.
        lat = []
        timeouts = 0
        t_start = time.monotonic()
        for i in range(args.routes):
            path = f"/r{i}"
            t0 = time.monotonic()
            write_atomically(os.path.join(cfg, f"r{i}.yaml"), route(f"r{i}", path))
            if wait_for(box, host, port, path, 200, t0 + 10):
                lat.append((time.monotonic() - t0) * 1000)
            else:
                timeouts += 1
            if (i + 1) % 100 == 0:
                print(f"  {i + 1} routes, last {lat[-1] if lat else float('nan'):.0f} ms", file=sys.stderr)
        added = time.monotonic() - t_start
        print(f"routes added one at a time: {args.routes} in {added:.1f} s; time to first 200: "
              f"p50 {pct(lat, 50):.0f} ms, p99 {pct(lat, 99):.0f} ms, max {max(lat) if lat else float('nan'):.0f} ms, "
              f"timeouts (>10 s) {timeouts}")

        # 2. Live route edited under steady load.
        stop = threading.Event()
        counts = {"ok": 0, "bad": 0, "err": 0}

        def load():
            b = [None]
            while not stop.is_set():
                s = get_status(b, host, port, "/live")
                if s is None:
                    counts["err"] += 1
                elif 200 <= s < 300:
                    counts["ok"] += 1
                else:
                    counts["bad"] += 1

        th = threading.Thread(target=load, daemon=True)
        th.start()
        for e in range(args.edits):
            write_atomically(os.path.join(cfg, "live.yaml"), route("live", "/live", header_value=str(e)))
            time.sleep(0.1)  # pacing of the edits, not a synchronisation wait
        time.sleep(1.0)
        stop.set()
        th.join(5)
        print(f"live route edited {args.edits} times under load: {counts['ok']} ok, "
              f"{counts['bad']} non-2xx, {counts['err']} connection errors (target: 0 and 0)")

        # 3. Matching cost with many routes.
        have = args.routes
        for i in range(have, args.match_routes):
            write_atomically(os.path.join(cfg, f"r{i}.yaml"), route(f"r{i}", f"/r{i}"))
        last = f"/r{max(args.match_routes, have) - 1}"
        wait_for(box, host, port, last, 200, time.monotonic() + 120)
        many_us, many_rps, bad = wrk_cpu(pid, host, port, last, args.seconds, args.loadgen_cpu)
        total = max(args.match_routes, have) + 10
        print(f"matching cost: {few_us:.1f} us/req ({few_rps:.0f} req/s, RSS {few_rss / 1024:.1f} MB) with 10 routes; "
              f"{many_us:.1f} us/req ({many_rps:.0f} req/s, non-2xx {bad}) with {total} routes; "
              f"proxy RSS {rss_kb(pid) / 1024:.1f} MB (target < 40 MB)")
        return 0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(cfg, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
