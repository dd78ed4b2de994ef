# Helpers shared by the bench scripts (sourced, not run):
#
#   here=$(cd "$(dirname "$0")" && pwd); source "$here/lib.sh"
#   bench_init portico-foo          # scratch dir $work, pids[], cleanup trap
#
# The method behind them is shared/reference/bench-method.md: processes
# pinned with taskset at nice -10, proxy CPU = utime+stime of the whole
# process tree from /proc, every wait bounded by a deadline.
# shellcheck shell=bash

bench_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$PATH:/usr/sbin"
hz=$(getconf CLK_TCK)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }

# Scratch directory and process bookkeeping: every process started with
# `pinned` is killed on exit; the directory (configs, raw tool output) is kept.
bench_init() { # name
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT INT TERM
}
bench_cleanup() {
  trap - EXIT INT TERM
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  log "work files kept in $work"
}

# Installs the Debian packages named after each `command=package` pair whose
# command is missing (apt-get, as root). Debian starts packaged daemons on
# install; they are stopped again (they are not ours).
ensure_apt() { # command=package...
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  systemctl stop nginx haproxy >/dev/null 2>&1 || true
}

# PORTICO_BIN, or a release build of the workspace (honours CARGO_TARGET_DIR).
# Returns 1 when the build fails.
portico_bin() {
  if [[ -n ${PORTICO_BIN:-} ]]; then
    [[ -x $PORTICO_BIN ]] || { echo "PORTICO_BIN=$PORTICO_BIN is not executable" >&2; return 1; }
    return 0
  fi
  log "cargo build --release -p portico"
  (cd "$bench_repo" && cargo build --release --quiet -p portico) || return 1
  PORTICO_BIN=$(cd "$bench_repo" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/portico
}

# PID and all its descendants (nginx workers, wrappers such as env/taskset).
tree_pids() {
  local c
  echo "$1"
  for c in $(pgrep -P "$1" 2>/dev/null || true); do tree_pids "$c"; done
}

# utime+stime in clock ticks, summed over the process tree (threads included).
cpu_ticks() {
  local total=0 p f a
  for p in $(tree_pids "$1"); do
    # Field 2 (comm) may contain spaces: cut after the last ')'.
    f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a a <<<"$f"
    total=$((total + a[11] + a[12]))
  done
  echo "$total"
}

# CPU microseconds per unit: ticks delta / count (prints nan when count is 0).
us_per() { # ticks count [decimals]
  awk -v d="$1" -v hz="$hz" -v n="${2:-0}" -v p="${3:-1}" \
    'BEGIN{ if (n > 0) printf "%.*f", p, d / hz * 1e6 / n; else print "nan" }'
}

rss_kb() {
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

# Exits when any of the ports is taken.
require_free_ports() {
  local p
  for p in "$@"; do
    [[ -z $p ]] && continue
    port_free "$p" || { echo "port $p is in use; stop whatever holds it (ss -ltnp 'sport = :$p')" >&2; exit 1; }
  done
}

wait_http() { # url [deadline seconds] [extra curl args...]
  local url=$1 deadline=$((SECONDS + ${2:-30}))
  shift 2 2>/dev/null || shift
  until curl -fs -o /dev/null --max-time 1 "$@" "$url"; do
    ((SECONDS < deadline)) || { warn "no 200 from $url (see $work/proc.log)"; return 1; }
    sleep 0.1
  done
}

wait_tcp() { # host port [deadline seconds]
  local deadline=$((SECONDS + ${3:-30}))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    ((SECONDS < deadline)) || { warn "nothing listens on $1:$2 (see $work/proc.log)"; return 1; }
    sleep 0.1
  done
}

# Runs cmd in the background on one CPU at nice -10; sets PINNED_PID.
pinned() { # cpu cmd...
  local cpu=$1
  shift
  nice -n -10 taskset -c "$cpu" "$@" >>"$work/proc.log" 2>&1 &
  PINNED_PID=$!
  pids+=("$PINNED_PID")
}

# Starts `portico run` with one worker thread on a CPU and waits until the
# Gateway is Programmed; sets PINNED_PID and GATEWAY_HOST (the address the
# loopback pool gave it). Extra arguments go to `portico run`.
start_portico() { # cpu config_dir admin_addr gateway_name [run args...]
  local cpu=$1 dir=$2 admin=$3 gw=$4 deadline row
  shift 4
  pinned "$cpu" env TOKIO_WORKER_THREADS=1 PORTICO_WORKER_THREADS=1 RUST_LOG=warn \
    "$PORTICO_BIN" run --config "$dir" --admin "$admin" "$@"
  GATEWAY_HOST=""
  deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    row=$("$PORTICO_BIN" get gateway "$gw" -n default --admin "$admin" 2>/dev/null | awk 'NR==2' || true)
    if [[ $(awk '{print $4}' <<<"$row") == True ]]; then
      GATEWAY_HOST=$(awk '{print $3}' <<<"$row")
      return 0
    fi
    kill -0 "$PINNED_PID" 2>/dev/null || break
    sleep 0.2
  done
  warn "Gateway $gw not programmed within 30 s (see $work/proc.log)"
  return 1
}

# The 1-worker nginx backend of bench-method.md: 200 "ok\n" on 127.0.0.1:PORT.
write_backend_conf() { # file port name
  cat >"$1" <<EOF
worker_processes 1;
pid $work/$3.pid;
error_log $work/$3-error.log;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$2 backlog=4096;
    location / { default_type text/plain; return 200 "ok\n"; } } }
EOF
}

# A Service plus an EndpointSlice pointing at 127.0.0.1:PORT (Portico's
# standalone contract), as YAML on stdout.
service_yaml() { # name port [protocol]
  cat <<EOF
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: default}
spec: {ports: [{name: p, port: 80, targetPort: $2, protocol: ${3:-TCP}}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $1-local
  namespace: default
  labels: {kubernetes.io/service-name: $1}
addressType: IPv4
ports: [{name: p, port: $2, protocol: ${3:-TCP}}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
EOF
}

gatewayclass_yaml() {
  cat <<EOF
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}
EOF
}

# A route `bench` of KIND (HTTPRoute, TCPRoute, TLSRoute...) with one rule
# sending everything to Service BACKEND port 80.
route_yaml() { # kind parent_refs backend [hostnames]
  cat <<EOF
---
apiVersion: gateway.networking.k8s.io/v1
kind: $1
metadata: {name: bench, namespace: default}
spec:
  parentRefs: [$2]
EOF
  [[ -z ${4:-} ]] || echo "  hostnames: [$4]"
  echo "  rules: [{backendRefs: [{name: $3, port: 80}]}]"
}

# The whole standalone configuration of the HTTP benchmarks: GatewayClass
# `portico`, Gateway `bench` with one HTTP listener, an HTTPRoute sending
# everything to Service `backend` at 127.0.0.1:BACKEND_PORT.
http_bench_yaml() { # listener_port backend_port
  gatewayclass_yaml
  gateway_head_yaml
  echo "  - {name: http, protocol: HTTP, port: $1}"
  route_yaml HTTPRoute "{name: bench}" backend
  service_yaml backend "$2"
}

# One `wrk -t1 -c$CONNS -d${DURATION}s` run on CPU $LOADGEN_CPU with the CPU
# of PID's process tree over it: prints "req/s cpu_us_per_req errors
# requests"; wrk's output is appended to $work/wrk.log.
wrk_cpu_round() { # url pid [decimals]
  local t0 t1 out reqs errs rps
  t0=$(cpu_ticks "$2")
  out=$(nice -n -10 taskset -c "$LOADGEN_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$1")
  t1=$(cpu_ticks "$2")
  echo "$out" >>"$work/wrk.log"
  read -r reqs errs < <(wrk_counts <<<"$out")
  rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  echo "${rps:-0} $(us_per $((t1 - t0)) "$reqs" "${3:-1}") $errs $reqs"
}

# nginx (http context): upstream `be` pooling keep-alive connections to
# 127.0.0.1:PORT, and the location that proxies to it.
nginx_upstream_be() { # port
  echo "upstream be { server 127.0.0.1:$1; keepalive 256; keepalive_requests 10000000; keepalive_timeout 300s; }"
}
NGINX_PROXY_LOCATION='location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }'

# The head of a 1-worker nginx proxy configuration (pid and error log in
# $work/NAME.pid, NAME-error.log) up to the inside of the http block, with
# upstream `be`; the caller adds the servers and the closing brace.
nginx_proxy_head() { # name backend_port
  cat <<EOF
worker_processes 1;
worker_rlimit_nofile 16384;
pid $work/$1.pid;
error_log $work/$1-error.log;
events { worker_connections 16384; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  $(nginx_upstream_be "$2")
EOF
}

# HAProxy's global section (one thread) and the timeouts of its defaults
# section; the caller continues the defaults section and adds the proxies.
haproxy_head() {
  cat <<EOF
global
    nbthread 1
    maxconn 9000
    pidfile $work/haproxy.pid
defaults
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
EOF
}

# The head of a Gateway `bench` of class `portico` in namespace default, up
# to `listeners:`; the caller prints the listener items.
gateway_head_yaml() {
  cat <<EOF
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench, namespace: default}
spec:
  gatewayClassName: portico
  listeners:
EOF
}

to_ms() { # "845.00us" | "1.71ms" | "2.00s" -> ms
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "nan" }'
}

# Median of the numbers on stdin (one per line).
median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "nan"; else print a[int((NR+1)/2)] }'; }

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

# Warns when the 1-minute load is above 2 (figures will be noisy).
warn_if_busy() {
  local load1
  read -r load1 _ </proc/loadavg
  if awk -v l="$load1" 'BEGIN{exit !(l > 2)}'; then
    warn "load average $load1 > 2: figures will be noisy (see uptime)"
  fi
}

# wrk's totals: "requests errors" from its output on stdin (errors = non-2xx
# answers plus socket errors).
wrk_counts() {
  awk '/requests in/{r=$1} /Non-2xx/{n+=$NF} /Socket errors/{gsub(/,/,""); n+=$4+$6+$8+$10}
    END{print r+0, n+0}'
}
