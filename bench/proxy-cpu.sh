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
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
TARGETS=${TARGETS:-"portico nginx haproxy"}
IDLE_CONNS=${IDLE_CONNS:-5000}   # idle-connection memory probe (0 skips it)
BACKEND_PORT=${BACKEND_PORT:-18280}
declare -A PORT=([nginx]=18281 [haproxy]=18282 [portico]=18286)
ADMIN_PORT=${ADMIN_PORT:-19886}
ulimit -n 65536 2>/dev/null || true

bench_init portico-proxy-cpu
for t in wrk nginx curl; do command -v $t >/dev/null || { echo "needs $t (apt-get install -y nginx wrk curl)" >&2; exit 1; }; done
if [[ " $TARGETS " == *" portico "* ]]; then portico_bin || exit 1; fi
require_free_ports $BACKEND_PORT "${PORT[@]}" $ADMIN_PORT

# ---- configs ----------------------------------------------------------------
write_backend_conf "$work/backend.conf" $BACKEND_PORT backend
{
  nginx_proxy_head nginx $BACKEND_PORT
  cat <<EOF
  server { listen 127.0.0.1:${PORT[nginx]} backlog=4096;
    $NGINX_PROXY_LOCATION } }
EOF
} >"$work/nginx.conf"
{
  haproxy_head
  cat <<EOF
    mode http
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:${PORT[haproxy]}
    default_backend be
backend be
    server s1 127.0.0.1:$BACKEND_PORT maxconn 4000
EOF
} >"$work/haproxy.cfg"
mkdir -p "$work/portico"
http_bench_yaml ${PORT[portico]} $BACKEND_PORT >"$work/portico/bench.yaml"

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
  portico) ;;
  *) echo "unknown target $t" >&2; exit 1 ;;
  esac
  HOST[$t]=127.0.0.1
  if [[ $t == portico ]]; then # the Gateway's address comes from the loopback pool
    start_portico 1 "$work/portico" "127.0.0.1:$ADMIN_PORT" bench || exit 1
    HOST[$t]=$GATEWAY_HOST
  fi
  PID[$t]=$PINNED_PID
  wait_http "http://${HOST[$t]}:${PORT[$t]}/"
  nice -n -10 taskset -c 0 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://${HOST[$t]}:${PORT[$t]}/" >/dev/null
done

load_before=$(load_avg)
: >"$work/results"
for ((r = 1; r <= ROUNDS; r++)); do
  for t in $TARGETS; do
    [[ -n ${PID[$t]:-} ]] || continue
    t0=$(cpu_ticks "${PID[$t]}")
    out=$(nice -n -10 taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://${HOST[$t]}:${PORT[$t]}/")
    t1=$(cpu_ticks "${PID[$t]}")
    echo "$out" >>"$work/wrk.log"
    read -r reqs errs < <(wrk_counts <<<"$out")
    rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
    us=$(us_per $((t1 - t0)) "$reqs" 2)
    echo "$t $us $rps $p50 $p99 $errs" >>"$work/results"
    log "round $r $t: $us us/req, $rps req/s, p50 $p50 ms, p99 $p99 ms, errors $errs"
  done
done
load_after=$(load_avg)

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
