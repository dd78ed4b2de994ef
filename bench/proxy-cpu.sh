#!/usr/bin/env bash
# Proxy CPU per request: Portico against nginx (and HAProxy), HTTP/1.1 only.
#
#   bench/proxy-cpu.sh                       # 3 interleaved rounds of 10 s
#   ROUNDS=1 DURATION=5 bench/proxy-cpu.sh   # quick look
#   TARGETS="portico nginx" PORTICO_BIN=target/release/portico bench/proxy-cpu.sh
#
# The focused loop for data-plane work (bench/run.sh is the full suite). Same
# method as the peer figures (shared bench-method.md): a 1-worker nginx
# backend answering 200 "ok\n"; each proxy with one worker/thread and pooled
# keep-alive upstreams; wrk and backend on CPU0, proxy on CPU1, nice -10;
# loopback only. Proxy CPU us/request = utime+stime delta of the proxy's
# threads / requests. A benchmark, not a test. Bounded: each round is
# DURATION seconds and every wait has a deadline.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
TARGETS=${TARGETS:-"portico nginx haproxy"}
IDLE_CONNS=${IDLE_CONNS:-5000}   # idle-connection memory probe (0 skips it)
BACKEND_PORT=${BACKEND_PORT:-18280}
declare -A PORT=([nginx]=18281 [haproxy]=18282 [portico]=18286)
ADMIN_PORT=${ADMIN_PORT:-19886}
export PATH="$PATH:/usr/sbin"
ulimit -n 65536 2>/dev/null || true

work=$(mktemp -d /tmp/portico-proxy-cpu.XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
log() { printf '==> %s\n' "$*" >&2; }

for t in wrk nginx curl; do command -v $t >/dev/null || { echo "needs $t (apt-get install -y nginx wrk curl)" >&2; exit 1; }; done
if [[ -z ${PORTICO_BIN:-} ]]; then
  log "cargo build --release -p portico"
  (cd "$repo" && cargo build --release -q -p portico)
  PORTICO_BIN=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/portico
fi
for p in $BACKEND_PORT "${PORT[@]}" $ADMIN_PORT; do
  if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is busy" >&2; exit 1; fi
done

hz=$(getconf CLK_TCK)
tree_pids() { # pid and its descendants (nginx workers)
  local c
  echo "$1"
  for c in $(pgrep -P "$1" || true); do tree_pids "$c"; done
}
cpu_ticks() { # pid: utime+stime of the process tree, all threads, in ticks
  local total=0 p f
  for p in $(tree_pids "$1"); do
    f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a a <<<"$f"
    total=$((total + a[11] + a[12]))
  done
  echo "$total"
}
pinned() { # cpu cmd...
  local cpu=$1
  shift
  nice -n -10 taskset -c "$cpu" "$@" >>"$work/proc.log" 2>&1 &
  PINNED_PID=$!
  pids+=("$PINNED_PID")
}
wait_http() { # url
  local deadline=$((SECONDS + 30))
  until curl -fs -o /dev/null --max-time 1 "$1"; do
    ((SECONDS < deadline)) || { echo "no 200 from $1 (see $work/proc.log)" >&2; return 1; }
    sleep 0.1
  done
}
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) { sub(/us$/,"",v); printf "%.3f", v/1000 }
  else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.3f", v } else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.3f", v*1000 } else printf "nan" }'; }

# ---- configs ----------------------------------------------------------------
cat >"$work/backend.conf" <<EOF
worker_processes 1;
pid $work/backend.pid;
error_log $work/backend-error.log;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$BACKEND_PORT backlog=4096;
    location / { default_type text/plain; return 200 "ok\n"; } } }
EOF
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  upstream be { server 127.0.0.1:$BACKEND_PORT; keepalive 256; keepalive_requests 10000000; keepalive_timeout 300s; }
  server { listen 127.0.0.1:${PORT[nginx]} backlog=4096;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
EOF
cat >"$work/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:${PORT[haproxy]}
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT maxconn 4000
EOF
mkdir -p "$work/portico"
cat >"$work/portico/bench.yaml" <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench, namespace: default}
spec:
  gatewayClassName: portico
  listeners: [{name: http, protocol: HTTP, port: ${PORT[portico]}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench, namespace: default}
spec:
  parentRefs: [{name: bench}]
  rules: [{backendRefs: [{name: backend, port: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: default}
spec: {ports: [{name: http, port: 80, targetPort: $BACKEND_PORT, protocol: TCP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: backend-local
  namespace: default
  labels: {kubernetes.io/service-name: backend}
addressType: IPv4
ports: [{name: http, port: $BACKEND_PORT, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
EOF

# ---- run ----------------------------------------------------------------------
pinned 0 nginx -c "$work/backend.conf" -g 'daemon off;'
wait_http "http://127.0.0.1:$BACKEND_PORT/"

declare -A PID HOST
for t in $TARGETS; do
  case $t in
  nginx) pinned 1 nginx -c "$work/nginx.conf" -g 'daemon off;' ;;
  haproxy)
    command -v haproxy >/dev/null || { log "haproxy missing: skipped"; continue; }
    pinned 1 haproxy -db -f "$work/haproxy.cfg"
    ;;
  portico)
    pinned 1 env TOKIO_WORKER_THREADS=1 PORTICO_WORKER_THREADS=1 RUST_LOG=warn "$PORTICO_BIN" run \
      --config "$work/portico" --admin "127.0.0.1:$ADMIN_PORT"
    ;;
  *) echo "unknown target $t" >&2; exit 1 ;;
  esac
  PID[$t]=$PINNED_PID
  HOST[$t]=127.0.0.1
  if [[ $t == portico ]]; then # the Gateway's address comes from the loopback pool
    deadline=$((SECONDS + 30))
    HOST[$t]=""
    while ((SECONDS < deadline)) && [[ -z ${HOST[$t]} ]]; do
      row=$("$PORTICO_BIN" get gateway bench -n default --admin "127.0.0.1:$ADMIN_PORT" 2>/dev/null | awk 'NR==2' || true)
      [[ $(awk '{print $4}' <<<"$row") == True ]] && HOST[$t]=$(awk '{print $3}' <<<"$row")
      [[ -n ${HOST[$t]} ]] || sleep 0.2
    done
    [[ -n ${HOST[$t]} ]] || { echo "Gateway not programmed (see $work/proc.log)" >&2; exit 1; }
  fi
  wait_http "http://${HOST[$t]}:${PORT[$t]}/"
  nice -n -10 taskset -c 0 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://${HOST[$t]}:${PORT[$t]}/" >/dev/null
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$work/results"
for ((r = 1; r <= ROUNDS; r++)); do
  for t in $TARGETS; do
    [[ -n ${PID[$t]:-} ]] || continue
    t0=$(cpu_ticks "${PID[$t]}")
    out=$(nice -n -10 taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://${HOST[$t]}:${PORT[$t]}/")
    t1=$(cpu_ticks "${PID[$t]}")
    echo "$out" >>"$work/wrk.log"
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
    rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
    errs=$(awk '/Non-2xx/{n+=$NF} /Socket errors/{gsub(/,/,""); n+=$4+$6+$8+$10} END{print n+0}' <<<"$out")
    us=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN{ if (n>0) printf "%.2f", d/hz*1e6/n; else print "nan" }')
    echo "$t $us $rps $p50 $p99 $errs" >>"$work/results"
    log "round $r $t: $us us/req, $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $errs"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# Memory per idle keep-alive downstream connection (bench/idleconns.py).
declare -A IDLE
if ((IDLE_CONNS > 0)); then
  for t in $TARGETS; do
    [[ -n ${PID[$t]:-} ]] || continue
    IDLE[$t]=$(python3 "$here/idleconns.py" --addr "${HOST[$t]}:${PORT[$t]}" --conns "$IDLE_CONNS" \
      --pids "$(tree_pids "${PID[$t]}" | paste -sd,)" 2>>"$work/idle.log" | sed -n "s/.*kb_per_conn=//p") || true
    log "$t idle: ${IDLE[$t]:-?} KB/conn"
  done
fi

# Median per target, ratios against nginx.
echo
echo "proxy CPU per request (median of $ROUNDS x ${DURATION}s, wrk -t1 -c$CONNS; load avg before: $load_before, after: $load_after)"
awk -v targets="$TARGETS" '
  { us[$1] = us[$1] " " $2; rps[$1] = rps[$1] " " $3; p50[$1] = p50[$1] " " $4; p99[$1] = p99[$1] " " $5; err[$1] += $6 }
  function med(s,   a, n, i, j, t) { n = split(s, a, " ");
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n ? a[int((n + 1) / 2)] : "nan" }
  END {
    base = (us["nginx"] != "") ? med(us["nginx"]) : 0
    printf "%-8s %9s %10s %9s %9s %7s %9s\n", "target", "us/req", "req/s", "p50 ms", "p99 ms", "errors", "vs nginx"
    n = split(targets, ts, " ")
    for (i = 1; i <= n; i++) { t = ts[i]; if (us[t] == "") continue
      m = med(us[t]); printf "%-8s %9s %10s %9s %9s %7d %9s\n", t, m, med(rps[t]), med(p50[t]), med(p99[t]), err[t],
        (base > 0) ? sprintf("%.2fx", m / base) : "-" }
  }' "$work/results"
for t in $TARGETS; do [[ -n ${IDLE[$t]:-} ]] && echo "$t: ${IDLE[$t]} KB per idle downstream connection ($IDLE_CONNS connections)"; done
echo "(logs in $work; the machine is shared: compare only runs with similar load)"
