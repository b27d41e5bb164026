#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs
# format and lint checks, unit/property tests, black-box tests of the binary against real
# clients (async-nats, nats-py) and a real nats-server, and every simulator scenario with
# the fix and with its historical bug switched back on (negative control).
#
# Everything is built once in the `ci` profile (optimized, with debug assertions).
# SIM_SEEDS overrides how many seeds each simulator scenario runs (default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "== installing nats-server (Debian package)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
fi
if ! python3 -c "import nats" >/dev/null 2>&1; then
  echo "== installing nats-py (PyPI)"
  python3 -m pip install -q nats-py || echo "nats-py could not be installed: its tests will be skipped"
fi

start=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - start ))s)"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "build (profile ci)"
cargo build --profile ci --workspace --bins
step "cargo test (unit, property, black-box)"
REJOIN_BIN="$PWD/target/ci/rejoin" cargo test --profile ci --workspace
step "simulator: every scenario, fixed and with its bug switch (negative control)"
seeds="${SIM_SEEDS:-1000}"
./target/ci/rejoin-sim check sim/scenarios/*.toml --seeds "0..$seeds" --jobs 2
step "done"
