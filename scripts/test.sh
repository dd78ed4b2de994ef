#!/usr/bin/env bash
# Runs every check Portico's CI runs: formatting, clippy, all tests.
# Works on a fresh clone as root; installs only what the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# --- prerequisites -----------------------------------------------------------
# aws-lc-rs (TLS) builds its C code with a C compiler; the eBPF programs in
# crates/ebpf/bpf are compiled by clang against libbpf's and the kernel's
# headers.
need_pkgs=()
command -v cc >/dev/null 2>&1 || need_pkgs+=(build-essential)
command -v clang >/dev/null 2>&1 || need_pkgs+=(clang)
[[ -f /usr/include/bpf/bpf_helpers.h ]] || need_pkgs+=(libbpf-dev)
[[ -f /usr/include/linux/bpf.h ]] || need_pkgs+=(linux-libc-dev)
# The eBPF tests build network namespaces with `ip` and inspect maps with bpftool.
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v bpftool >/dev/null 2>&1 || need_pkgs+=(bpftool)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3 python3-pip)
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"
  else
    echo "warning: missing ${need_pkgs[*]} (run as root on Debian/Ubuntu to install them);" >&2
    echo "         the tests that need them skip with a message" >&2
    command -v cc >/dev/null 2>&1 || { echo "error: a C compiler (cc) is required" >&2; exit 1; }
  fi
fi
# The Hubble foreign-client test talks to the observer API from Python
# (grpcio); without it that test says why and checks nothing.
if ! python3 -c 'import grpc, grpc_tools' >/dev/null 2>&1; then
  say "installing grpcio and grpcio-tools (pip)"
  python3 -m pip install --quiet grpcio grpcio-tools 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages grpcio grpcio-tools \
    || echo "warning: grpcio not installed; the Python Hubble client test will be skipped" >&2
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install the Rust toolchain (rustup.rs)" >&2; exit 1; }
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

# --- shared upstream material (Gateway API CRDs and conformance manifests) ----
export PORTICO_SHARED_DIR=${PORTICO_SHARED_DIR:-$(cd .. && pwd)/shared}
if [[ ! -d "$PORTICO_SHARED_DIR/gateway-api" ]]; then
  echo "error: $PORTICO_SHARED_DIR/gateway-api not found." >&2
  echo "Portico's tests read the upstream Gateway API v1.6.1 CRDs and conformance manifests from" >&2
  echo "../shared/gateway-api next to the repository (or set PORTICO_SHARED_DIR)." >&2
  exit 1
fi

# A one-shot CI build gains nothing from incremental caches; they cost
# gigabytes of disk and some build time.
if [[ ${CI:-} == true ]]; then
  export CARGO_INCREMENTAL=0
fi

# --- checks ------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  say "cargo nextest run"
  cargo nextest run --workspace
else
  say "cargo test"
  cargo test --workspace --all-targets
fi

say "doctests"
cargo test --workspace --doc

say "all checks passed"
