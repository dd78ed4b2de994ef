#!/usr/bin/env bash
# Quick start: builds Portico, starts two `portico echo` backends and
# `portico run --config examples/quickstart`, then prints what to try.
# Needs only the Rust toolchain. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

admin=${PORTICO_ADMIN:-127.0.0.1:9876}
export PORTICO_ADMIN=$admin

# PROFILE=dev reuses a debug build (faster to build, slower to run).
profile=${PROFILE:-release}
echo "==> building portico ($profile)"
cargo build --profile "$profile" --quiet --bin portico
dir=$profile; [[ $profile == dev ]] && dir=debug
bin=$PWD/target/$dir/portico

pids=()
cleanup() {
  trap - EXIT INT TERM
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$bin" echo --http 127.0.0.1:9101 --service echo-v1 --namespace default & pids+=($!)
"$bin" echo --http 127.0.0.1:9102 --service echo-v2 --namespace default & pids+=($!)
"$bin" run --config examples/quickstart & pids+=($!)

echo "==> waiting for the Gateway to be programmed"
address=""
for _ in $(seq 1 100); do
  # NAME CLASS ADDRESS PROGRAMMED AGE
  row=$("$bin" get gateway quickstart 2>/dev/null | awk 'NR==2' || true)
  if [[ $(awk '{print $4}' <<<"$row") == True ]]; then
    address=$(awk '{print $3}' <<<"$row")
    break
  fi
  sleep 0.2
done
"$bin" get gateways
if [[ -z $address ]]; then
  echo "the Gateway did not become programmed; see the log above and: $bin get gateway quickstart -o yaml" >&2
  exit 1
fi

cat <<MSG

Portico is serving the Gateway 'quickstart' on http://$address:8080 (admin API on $admin).
Try, in another terminal:

  curl -s http://$address:8080/hello                       # rule '/'    -> echo-v1
  curl -s http://$address:8080/api -H 'x-version: v2'      # rule '/api' -> echo-v2
  $bin get httproutes -o yaml                   # statuses, like kubectl
  $bin check examples/quickstart
  $bin observe --last 10                        # flows of the requests above (Hubble-style)
  curl -s http://$admin/metrics | grep portico_

Edit the files in examples/quickstart/: changes are live within a second.
Press Ctrl-C to stop.
MSG
wait
