#!/usr/bin/env bash
# Cost of flow recording (issue 7): Portico's CPU per request with flows off,
# on, on with one `portico observe --follow` subscriber, and on with an access
# log, in one command:
#
#   bench/flows.sh                          # 5 interleaved rounds of 10 s
#   ROUNDS=3 DURATION=5 bench/flows.sh      # quicker
#   VARIANTS="off on" PORTICO_BIN=target/release/portico bench/flows.sh
#
# One `portico run` per variant, all alive at once on CPU1 (one worker thread
# each) with their own Gateway port, admin and Hubble address; the same
# 1-worker nginx backend and wrk on CPU0 (bench-method.md). Rounds interleave
# the variants so a change in machine load hits them alike. Figure: proxy
# CPU us/request (utime+stime of the process / requests), median of rounds;
# overhead = (variant - off) / off. The follower runs on CPU0 (its own CPU is
# not counted; the server side of the stream is). Not a test: no assertions.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
VARIANTS=${VARIANTS:-"off on follow accesslog"}
if [[ -n ${QUICK:-} ]]; then
  ROUNDS=2 DURATION=3 WARMUP=1
fi
LOADGEN_CPU=0
PROXY_CPU=1
BACKEND_PORT=18400
declare -A IDX=([off]=1 [on]=2 [follow]=3 [accesslog]=4)
# Variant i: Gateway port 18400+i, admin 19840+i, Hubble API 19850+i.

bench_init portico-flows-bench
results=$work/results
: >"$results"
ulimit -n 65536 2>/dev/null || true

ensure_apt nginx=nginx wrk=wrk curl=curl
portico_bin || { echo "portico did not build" >&2; exit 1; }
"$PORTICO_BIN" run --help | grep -q -- '--flows' ||
  { echo "$PORTICO_BIN has no --flows switch (build a newer one)" >&2; exit 1; }
ports=($BACKEND_PORT)
for v in $VARIANTS; do
  [[ -n ${IDX[$v]:-} ]] || { echo "unknown variant $v (off on follow accesslog)" >&2; exit 1; }
  ports+=($((18400 + IDX[$v])) $((19840 + IDX[$v])) $((19850 + IDX[$v])))
done
require_free_ports "${ports[@]}"
warn_if_busy

write_backend_conf "$work/backend.conf" $BACKEND_PORT backend
pinned $LOADGEN_CPU nginx -c "$work/backend.conf" -g 'daemon off;' -e "$work/backend-error.log"
wait_http "http://127.0.0.1:$BACKEND_PORT/" 10 || exit 1

declare -A PID URL
for v in $VARIANTS; do
  i=${IDX[$v]}
  mkdir -p "$work/$v"
  http_bench_yaml $((18400 + i)) $BACKEND_PORT >"$work/$v/bench.yaml"
  extra=()
  case $v in
  off) extra=(--flows off) ;;
  accesslog) extra=(--access-log /dev/null) ;; # formatting and write(2), no disk
  esac
  start_portico $PROXY_CPU "$work/$v" 127.0.0.1:$((19840 + i)) bench \
    --hubble-addr 127.0.0.1:$((19850 + i)) "${extra[@]}" || exit 1
  PID[$v]=$PINNED_PID
  URL[$v]="http://$GATEWAY_HOST:$((18400 + i))/"
  wait_http "${URL[$v]}" 30 || exit 1
done

# The follower: `portico observe -f` on CPU0, its lines counted.
if [[ -n ${PID[follow]:-} ]]; then
  mkfifo "$work/follow.fifo"
  wc -l <"$work/follow.fifo" >"$work/follow.count" &
  count_pid=$!
  nice -n -10 taskset -c $LOADGEN_CPU "$PORTICO_BIN" observe -f -o compact \
    --hubble-addr 127.0.0.1:$((19850 + IDX[follow])) >"$work/follow.fifo" 2>>"$work/follow.err" &
  follow_pid=$!
  pids+=("$follow_pid")
fi

for v in $VARIANTS; do
  nice -n -10 taskset -c $LOADGEN_CPU wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${URL[$v]}" >/dev/null
done

load_before=$(load_avg)
for ((r = 1; r <= ROUNDS; r++)); do
  for v in $VARIANTS; do
    read -r rps us errs reqs < <(wrk_cpu_round "${URL[$v]}" "${PID[$v]}" 2)
    echo "$v $us $rps $errs $reqs" >>"$results"
    log "round $r $v: $us us/req, $rps req/s, errors $errs"
  done
done
load_after=$(load_avg)

# What each instance recorded (flows seen / lost), from `portico status`.
declare -A FLOWS
for v in $VARIANTS; do
  FLOWS[$v]=$("$PORTICO_BIN" status --admin 127.0.0.1:$((19840 + IDX[$v])) \
    --hubble-addr 127.0.0.1:$((19850 + IDX[$v])) 2>/dev/null | grep -i -m1 'seen' | sed 's/^ *//' || true)
done
follow_note=""
if [[ -n ${follow_pid:-} ]]; then
  kill "$follow_pid" 2>/dev/null || true
  wait "$count_pid" 2>/dev/null || true
  follow_note="follower printed $(cat "$work/follow.count" 2>/dev/null || echo '?') flow lines"
fi

echo
echo "Portico flow-recording overhead: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load before: $load_before, after: $load_after"
echo "wrk -t1 -c$CONNS, $ROUNDS interleaved round(s) x ${DURATION}s, proxy CPU us/req (median, min-max); overhead vs flows off (target < 5%)"
awk -v variants="$VARIANTS" '
  function sorted(s, a,   n, i, j, t) { n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n }
  function med(s,   a, n) { n = sorted(s, a); return n ? a[int((n + 1) / 2)] : "nan" }
  { us[$1] = us[$1] " " $2; rps[$1] = rps[$1] " " $3; err[$1] += $4 }
  END {
    base = ("off" in us) ? med(us["off"]) : ""
    printf "%-10s %8s %15s %10s %9s %7s\n", "variant", "us/req", "min-max", "req/s", "overhead", "errors"
    nv = split(variants, V, " ")
    for (i = 1; i <= nv; i++) { v = V[i]; if (!(v in us)) continue
      n = sorted(us[v], a); m = med(us[v])
      printf "%-10s %8s %15s %10s %9s %7d\n", v, m, a[1] "-" a[n], med(rps[v]),
        (base != "" && base + 0 > 0) ? sprintf("%+.1f%%", (m - base) / base * 100) : "-", err[v] }
  }' "$results" | tee "$work/report.txt"
for v in $VARIANTS; do echo "$v: ${FLOWS[$v]:-no flow status}"; done
[[ -n $follow_note ]] && echo "$follow_note"
echo "Raw output: $work (wrk.log, results, proc.log)."
