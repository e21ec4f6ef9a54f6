#!/usr/bin/env bash
# Prints the benchmark figures (see docs/benchmarks.md).
set -euo pipefail
source "$(dirname "$0")/common.sh"
SETUP_TEST_TOOLS=1 scripts/setup-python.sh
cargo build --release --workspace --bins --lib
exec "$CARGO_TARGET_DIR/release/bench" "$@"
