#!/usr/bin/env bash
# Prints the benchmark figures (see docs/benchmarks.md).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/dynamic-executor/target}
scripts/setup-python.sh
cargo build --release --workspace --bins --lib
exec "$CARGO_TARGET_DIR/release/bench" "$@"
