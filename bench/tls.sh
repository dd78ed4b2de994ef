#!/usr/bin/env bash
# TLS and L4 benchmark: Portico against nginx and HAProxy, in one command.
#
#   bench/tls.sh                         # 3 interleaved rounds of 10 s
#   QUICK=1 bench/tls.sh                 # 1 round of 3 s (a smoke run)
#   TARGETS="portico haproxy" TESTS="hs-ecdsa tcp" bench/tls.sh
#   PORTICO_BIN=/path/to/portico bench/tls.sh
#
# Tests (every proxy serves the same certificates, generated with openssl
# into the scratch directory; ECDSA P-256 and RSA 2048 for bench.example):
#   hs-ecdsa, hs-rsa  new TLS handshakes: HS_CLIENTS parallel
#                     `openssl s_time -new -www /` (a full handshake and one
#                     HTTP/1.0 GET with a Host header per connection, never a
#                     resumed session)
#   ka-ecdsa, ka-rsa  keep-alive HTTPS requests: wrk -t1 -cCONNS
#   tcp               TCP proxying (Portico TCPRoute, HAProxy `mode tcp`, nginx
#                     stream): iperf3 bulk transfer through the proxy
#   pass              TLS passthrough by SNI (Portico TLS listener mode
#                     Passthrough + TLSRoute, HAProxy req.ssl_sni, nginx
#                     ssl_preread): curl downloads a PASS_MB file over HTTPS
#                     from an nginx TLS backend through the proxy, again and
#                     again for DURATION seconds
# Behind HTTPS, the 1-worker nginx backend of bench-method.md answers 200 "ok".
#
# Method: bench-method.md. One worker/thread per proxy; load generators and
# backends on CPU0, proxies on CPU1, all at nice -10; rounds interleave the
# targets; medians of the rounds. The comparable figure is the proxy's CPU
# (utime+stime of its process tree) per handshake, per request or per MB.
# Not a test: nothing asserts timings; CI does not run it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}      # seconds per measured round (handshake, keep-alive, tcp)
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}            # wrk connections (keep-alive)
HS_CLIENTS=${HS_CLIENTS:-8}   # parallel `openssl s_time -new` clients
PASS_MB=${PASS_MB:-256}       # size of one passthrough download (repeated for DURATION)
TARGETS=${TARGETS:-"portico nginx haproxy"}
TESTS=${TESTS:-"hs-ecdsa hs-rsa ka-ecdsa ka-rsa tcp pass"}
if [[ -n ${QUICK:-} ]]; then
  ROUNDS=1 DURATION=3 WARMUP=1
fi
LOADGEN_CPU=0
PROXY_CPU=1
SNI=bench.example

# Ports: backends 1830x; each target listens on BASE+1 (HTTPS ECDSA), +2
# (HTTPS RSA), +3 (TCP), +4 (TLS passthrough).
BACKEND_PORT=18300     # HTTP "ok" backend (nginx)
IPERF_PORT=18301       # iperf3 server
TLS_BACKEND_PORT=18302 # HTTPS file backend (nginx) for passthrough
declare -A BASE=([portico]=18310 [nginx]=18320 [haproxy]=18330)
declare -A OFFSET=([hs-ecdsa]=1 [ka-ecdsa]=1 [hs-rsa]=2 [ka-rsa]=2 [tcp]=3 [pass]=4)
ADMIN_ADDR=127.0.0.1:19836
HUBBLE_ADDR=127.0.0.1:19837

bench_init portico-tls-bench
results=$work/results
: >"$results"
ulimit -n 65536 2>/dev/null || true

# ---- tools, binaries, ports -------------------------------------------------
ensure_apt nginx=nginx haproxy=haproxy wrk=wrk curl=curl openssl=openssl iperf3=iperf3
STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
if [[ ! -f $STREAM_MODULE ]]; then
  log "installing libnginx-mod-stream (apt-get) for nginx's TCP rows"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnginx-mod-stream >/dev/null 2>&1 ||
    warn "libnginx-mod-stream did not install: nginx tcp/pass rows are skipped"
fi
if [[ " $TARGETS " == *" portico "* ]]; then
  portico_bin || { echo "portico did not build" >&2; exit 1; }
fi
ports=($BACKEND_PORT $IPERF_PORT $TLS_BACKEND_PORT ${ADMIN_ADDR##*:} ${HUBBLE_ADDR##*:})
for t in $TARGETS; do
  [[ -n ${BASE[$t]:-} ]] || { echo "unknown target $t (portico nginx haproxy)" >&2; exit 1; }
  ports+=($((BASE[$t] + 1)) $((BASE[$t] + 2)) $((BASE[$t] + 3)) $((BASE[$t] + 4)))
done
require_free_ports "${ports[@]}"
warn_if_busy

# ---- certificates (same for every proxy) -----------------------------------
mkdir -p "$work/certs" "$work/www"
for key in ecdsa rsa; do
  case $key in
  ecdsa) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
  rsa) newkey=(-newkey rsa:2048) ;;
  esac
  openssl req -x509 "${newkey[@]}" -nodes -days 7 -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
    -keyout "$work/certs/$key.key" -out "$work/certs/$key.crt" 2>>"$work/openssl.log"
  cat "$work/certs/$key.crt" "$work/certs/$key.key" >"$work/certs/$key.pem" # HAProxy's crt
done
truncate -s "${PASS_MB}M" "$work/www/big" # sparse: reads cost no disk
# nginx workers run as an unprivileged user: let them read the file.
chmod 755 "$work" "$work/www"
chmod 644 "$work/www/big"

# ---- configs ----------------------------------------------------------------
write_backend_conf "$work/backend.conf" $BACKEND_PORT backend
cat >"$work/tls-backend.conf" <<EOF
worker_processes 1;
pid $work/tls-backend.pid;
error_log $work/tls-backend-error.log;
events { worker_connections 1024; }
http { access_log off;
  server { listen 127.0.0.1:$TLS_BACKEND_PORT ssl; root $work/www;
    ssl_certificate $work/certs/ecdsa.crt; ssl_certificate_key $work/certs/ecdsa.key; } }
EOF

b=${BASE[nginx]}
{
  [[ -f $STREAM_MODULE ]] && echo "load_module $STREAM_MODULE;"
  nginx_proxy_head nginx $BACKEND_PORT
  for key in ecdsa rsa; do
    port=$((b + OFFSET[hs-$key]))
    echo "  server { listen 127.0.0.1:$port ssl backlog=4096; $NGINX_PROXY_LOCATION"
    echo "    ssl_certificate $work/certs/$key.crt; ssl_certificate_key $work/certs/$key.key; }"
  done
  echo "}"
  [[ -f $STREAM_MODULE ]] && cat <<EOF
stream {
  upstream tlsbe { server 127.0.0.1:$TLS_BACKEND_PORT; }
  map \$ssl_preread_server_name \$pass { $SNI tlsbe; default 127.0.0.1:1; }
  server { listen 127.0.0.1:$((b + 3)) backlog=4096; proxy_pass 127.0.0.1:$IPERF_PORT; }
  server { listen 127.0.0.1:$((b + 4)) backlog=4096; ssl_preread on; proxy_pass \$pass; } }
EOF
} >"$work/nginx.conf"

b=${BASE[haproxy]}
{
  haproxy_head
  cat <<EOF
frontend https
    mode http
    option http-keep-alive
    bind 127.0.0.1:$((b + 1)) ssl crt $work/certs/ecdsa.pem
    bind 127.0.0.1:$((b + 2)) ssl crt $work/certs/rsa.pem
    default_backend be
backend be
    mode http
    http-reuse always
    server s1 127.0.0.1:$BACKEND_PORT maxconn 4000
listen tcp
    mode tcp
    bind 127.0.0.1:$((b + 3))
    server s1 127.0.0.1:$IPERF_PORT
frontend pass
    mode tcp
    bind 127.0.0.1:$((b + 4))
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend tlsbe if { req.ssl_sni -i $SNI }
backend tlsbe
    mode tcp
    server s1 127.0.0.1:$TLS_BACKEND_PORT
EOF
} >"$work/haproxy.cfg"

# Portico: the same, as Gateway API objects for `portico run --config`.
b=${BASE[portico]}
mkdir -p "$work/portico"
{
  gatewayclass_yaml
  for key in ecdsa rsa; do
    cat <<EOF
---
apiVersion: v1
kind: Secret
metadata: {name: bench-$key, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$work/certs/$key.crt")
  tls.key: $(base64 -w0 "$work/certs/$key.key")
EOF
  done
  gateway_head_yaml
  echo "  - {name: https-ecdsa, protocol: HTTPS, port: $((b + 1)), tls: {certificateRefs: [{name: bench-ecdsa}]}}"
  echo "  - {name: https-rsa, protocol: HTTPS, port: $((b + 2)), tls: {certificateRefs: [{name: bench-rsa}]}}"
  cat <<EOF
  - name: tcp
    protocol: TCP
    port: $((b + 3))
    allowedRoutes: {kinds: [{kind: TCPRoute}]}
  - name: pass
    protocol: TLS
    port: $((b + 4))
    hostname: $SNI
    tls: {mode: Passthrough}
    allowedRoutes: {kinds: [{kind: TLSRoute}]}
EOF
  route_yaml HTTPRoute "{name: bench, sectionName: https-ecdsa}, {name: bench, sectionName: https-rsa}" backend
  route_yaml TCPRoute "{name: bench, sectionName: tcp}" iperf
  route_yaml TLSRoute "{name: bench, sectionName: pass}" tls-backend $SNI
  service_yaml backend $BACKEND_PORT
  service_yaml iperf $IPERF_PORT
  service_yaml tls-backend $TLS_BACKEND_PORT
} >"$work/portico/bench.yaml"

# ---- start everything -------------------------------------------------------
pinned $LOADGEN_CPU nginx -c "$work/backend.conf" -g 'daemon off;' -e "$work/backend-error.log"
pinned $LOADGEN_CPU nginx -c "$work/tls-backend.conf" -g 'daemon off;' -e "$work/tls-backend-error.log"
pinned $LOADGEN_CPU iperf3 -s -B 127.0.0.1 -p $IPERF_PORT
wait_http "http://127.0.0.1:$BACKEND_PORT/" 10 || exit 1
wait_tcp 127.0.0.1 $TLS_BACKEND_PORT 10 || exit 1
wait_tcp 127.0.0.1 $IPERF_PORT 10 || exit 1

declare -A PID HOST SKIP
for t in $TARGETS; do
  HOST[$t]=127.0.0.1
  case $t in
  nginx) pinned $PROXY_CPU nginx -c "$work/nginx.conf" -g 'daemon off;' -e "$work/nginx-error.log" ;;
  haproxy) pinned $PROXY_CPU haproxy -db -f "$work/haproxy.cfg" ;;
  portico)
    start_portico $PROXY_CPU "$work/portico" $ADMIN_ADDR bench --hubble-addr $HUBBLE_ADDR || exit 1
    HOST[$t]=$GATEWAY_HOST
    ;;
  esac
  PID[$t]=$PINNED_PID
done

# One request per test through each target, so a broken path is skipped with
# its reason instead of measured.
probe() { # target test
  local t=$1 test=$2 port=$((BASE[$1] + OFFSET[$2])) host=${HOST[$1]}
  case $test in
  hs-* | ka-*) wait_http "https://$host:$port/" 10 -k ;;
  tcp) timeout 10 iperf3 -c "$host" -p "$port" -n 1M >>"$work/probe.log" 2>&1 ;;
  pass) wait_http "https://$SNI:$port/big" 10 -k -r 0-0 --resolve "$SNI:$port:$host" ;;
  esac
}
for t in $TARGETS; do
  for test in $TESTS; do
    if [[ $t == nginx && ($test == tcp || $test == pass) && ! -f $STREAM_MODULE ]]; then
      SKIP[$t.$test]="no nginx stream module"
    elif ! probe "$t" "$test"; then
      SKIP[$t.$test]="probe failed (see $work/proc.log, $work/probe.log)"
    fi
    [[ -n ${SKIP[$t.$test]:-} ]] && warn "$t $test skipped: ${SKIP[$t.$test]}"
  done
  port=$((BASE[$t] + 1))
  [[ -z ${SKIP[$t.ka-ecdsa]:-} ]] &&
    nice -n -10 taskset -c $LOADGEN_CPU wrk -t1 -c"$CONNS" -d"${WARMUP}s" "https://${HOST[$t]}:$port/" >/dev/null
done

# ---- measuring ----------------------------------------------------------------
# s_time sends "GET <path> HTTP/1.0" and a blank line; the path smuggles in a
# Host header (a proxy that forwards a Host-less HTTP/1.0 request as HTTP/1.1
# gets a 400 from the backend).
STIME_REQUEST=$'/ HTTP/1.0\r\nHost: '"$SNI"$'\r\nX-Bench: s_time'
# Each prints "rate cpu_us_per_unit errors".
handshake_round() { # host port pid
  local t0 t1 w0 w1 i spids=() conns bytes resumed
  t0=$(cpu_ticks "$3")
  w0=$(date +%s.%N)
  for ((i = 0; i < HS_CLIENTS; i++)); do
    nice -n -10 taskset -c $LOADGEN_CPU openssl s_time -connect "$1:$2" -new -www "$STIME_REQUEST" \
      -time "$DURATION" >"$work/client.$i" 2>&1 &
    spids+=($!)
  done
  wait "${spids[@]}" || true
  w1=$(date +%s.%N)
  t1=$(cpu_ticks "$3")
  cat "$work"/client.* >>"$work/s_time.log"
  # "N connections in T real seconds, B bytes read per connection"
  read -r conns bytes < <(awk '/real seconds/{n += $1; b += $1 * $7} END{print n+0, (n ? b / n : 0)}' "$work"/client.*)
  # s_time prints one character per connection: r for a resumed session.
  resumed=$({ grep -h '^[*rt3]*$' "$work"/client.* || true; } | tr -cd r | wc -c)
  ((resumed == 0)) || warn "$resumed resumed TLS sessions in a handshake round"
  rm -f "$work"/client.*
  # An answer is "HTTP/1.1 200 OK" plus headers plus "ok": fewer bytes than
  # that on average means failed requests.
  awk -v c="$conns" -v d="$(awk -v a="$w0" -v b="$w1" 'BEGIN{print b - a}')" -v cpu="$(us_per $((t1 - t0)) "$conns")" \
    -v bad="$(awk -v b="$bytes" 'BEGIN{print (b < 20) ? 1 : 0}')" \
    'BEGIN{ printf "%.0f %s %d\n", (d > 0) ? c / d : 0, cpu, bad ? c : 0 }'
}

keepalive_round() { # host port pid
  local rps us errs reqs
  read -r rps us errs reqs < <(wrk_cpu_round "https://$1:$2/" "$3")
  echo "$rps $us $errs"
}

# MB/s and CPU us per MB (10^6 bytes) of a bulk transfer.
bulk_figures() { # bytes seconds ticks
  awk -v n="$1" -v s="$2" 'BEGIN{ printf "%.0f ", (s > 0) ? n / 1e6 / s : 0 }'
  echo "$(us_per "$3" "$(awk -v n="$1" 'BEGIN{print n / 1e6}')") 0"
}

tcp_round() { # host port pid
  local t0 t1 out bytes secs
  t0=$(cpu_ticks "$3")
  out=$(nice -n -10 taskset -c $LOADGEN_CPU iperf3 -c "$1" -p "$2" -t "$DURATION" -J 2>&1) || true
  t1=$(cpu_ticks "$3")
  echo "$out" >>"$work/iperf3.log"
  read -r bytes secs < <(python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)["end"]["sum_received"]
    print(int(s["bytes"]), s["seconds"])
except Exception:
    print(0, 0)' <<<"$out")
  ((bytes > 0)) || { echo "0 nan 1"; return; }
  bulk_figures "$bytes" "$secs" $((t1 - t0))
}

# Downloads of PASS_MB repeated for DURATION seconds.
pass_round() { # host port pid
  local t0 t1 out bytes=0 secs=0 b s code end=$((SECONDS + DURATION))
  t0=$(cpu_ticks "$3")
  while ((SECONDS < end)); do
    out=$(nice -n -10 taskset -c $LOADGEN_CPU curl -sk --resolve "$SNI:$2:$1" -o /dev/null \
      -w '%{size_download} %{time_total} %{http_code}' "https://$SNI:$2/big") || true
    read -r b s code <<<"$out"
    [[ ${code:-} == 200 && ${b:-0} -gt 0 ]] || { echo "0 nan 1"; return; }
    bytes=$((bytes + b))
    secs=$(awk -v a="$secs" -v b="$s" 'BEGIN{print a + b}')
  done
  t1=$(cpu_ticks "$3")
  bulk_figures "$bytes" "$secs" $((t1 - t0))
}

load_before=$(load_avg)
for ((r = 1; r <= ROUNDS; r++)); do
  for test in $TESTS; do
    for t in $TARGETS; do
      [[ -z ${SKIP[$t.$test]:-} ]] || continue
      port=$((BASE[$t] + OFFSET[$test]))
      case $test in
      hs-*) row=$(handshake_round "${HOST[$t]}" $port "${PID[$t]}") ;;
      ka-*) row=$(keepalive_round "${HOST[$t]}" $port "${PID[$t]}") ;;
      tcp) row=$(tcp_round "${HOST[$t]}" $port "${PID[$t]}") ;;
      pass) row=$(pass_round "${HOST[$t]}" $port "${PID[$t]}") ;;
      *) echo "unknown test $test (hs-ecdsa hs-rsa ka-ecdsa ka-rsa tcp pass)" >&2; exit 1 ;;
      esac
      echo "$test $t $row" >>"$results"
      log "round $r $test $t: $row (rate, CPU us per unit, errors)"
    done
  done
done
load_after=$(load_avg)

# ---- report -------------------------------------------------------------------
echo
echo "Portico TLS/L4 bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load before: $load_before, after: $load_after"
echo "Median of $ROUNDS round(s) x ${DURATION}s; handshakes: $HS_CLIENTS x openssl s_time -new -www /; keep-alive: wrk -t1 -c$CONNS;"
echo "tcp: iperf3 -t $DURATION; pass: curl downloads of ${PASS_MB} MB over TLS for ${DURATION}s. CPU = proxy utime+stime per unit (lower is better)."
awk -v tests="$TESTS" -v targets="$TARGETS" '
  function med(s,   a, n, i, j, t) { n = split(s, a, " ");
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n ? a[int((n + 1) / 2)] : "nan" }
  function ratio(a, b) { return (a == "" || b == "" || a == "nan" || b == "nan" || b + 0 == 0) ? "-" : sprintf("%.2fx", a / b) }
  { k = $1 SUBSEP $2; seen[k] = 1; rate[k] = rate[k] " " $3; cpu[k] = cpu[k] " " $4; err[k] += $5 }
  END {
    unit["hs"] = "handshakes/s"; unit["ka"] = "req/s"; unit["tcp"] = "MB/s"; unit["pass"] = "MB/s"
    per["hs"] = "us/handshake"; per["ka"] = "us/req"; per["tcp"] = "us/MB"; per["pass"] = "us/MB"
    printf "\n%-9s %-8s %10s %-12s %10s %-12s %8s %8s %8s %8s %6s\n", "test", "target", "rate", "", "CPU", "",
      "rate/ngx", "CPU/ngx", "rate/hap", "CPU/hap", "errors"
    nt = split(tests, T, " "); ng = split(targets, G, " ")
    for (i = 1; i <= nt; i++) {
      kind = T[i]; sub(/-.*/, "", kind)
      for (j = 1; j <= ng; j++) {
        k = T[i] SUBSEP G[j]; if (!(k in seen)) continue
        r = med(rate[k]); c = med(cpu[k])
        rn = med(rate[T[i] SUBSEP "nginx"]); cn = med(cpu[T[i] SUBSEP "nginx"])
        rh = med(rate[T[i] SUBSEP "haproxy"]); ch = med(cpu[T[i] SUBSEP "haproxy"])
        printf "%-9s %-8s %10s %-12s %10s %-12s %8s %8s %8s %8s %6d\n", T[i], G[j],
          (r == "nan") ? r : sprintf("%.0f", r), unit[kind], c, per[kind],
          ratio(r, rn), ratio(c, cn), ratio(r, rh), ratio(c, ch), err[k]
      }
    }
  }' "$results" | tee "$work/report.txt"
for k in "${!SKIP[@]}"; do echo "skipped ${k/./ }: ${SKIP[$k]}"; done
echo "Raw output: $work (s_time.log, wrk.log, iperf3.log, proc.log)."
