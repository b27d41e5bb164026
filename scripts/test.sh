#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs
# format and lint checks, unit/property tests, black-box tests and simulator scenarios.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "== installing nats-server (Debian package)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
fi

start=$(date +%s)
step() { echo "== $1 ($(( $(date +%s) - start ))s)"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "build"
cargo build --workspace --all-targets
step "cargo test"
cargo test --workspace
step "done"
