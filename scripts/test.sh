#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds, runs every test.
set -euo pipefail
source "$(dirname "$0")/common.sh"

SETUP_TEST_TOOLS=1 scripts/setup-python.sh
# The worker loads the sandbox cdylib from beside the binary: build every workspace member.
cargo build --workspace --bins --lib
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
