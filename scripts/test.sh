#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds, runs every test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/dynamic-executor/target}

SETUP_TEST_TOOLS=1 scripts/setup-python.sh
# The worker loads the sandbox cdylib from beside the binary: build every workspace member.
cargo build --workspace --bins --lib
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
