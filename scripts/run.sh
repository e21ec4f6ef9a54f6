#!/usr/bin/env bash
# Runs the service on the embedded default (local disk, no AWS): installs the Python side,
# builds, and starts on 0.0.0.0:8080 (override with EXECUTOR_* variables or flags).
set -euo pipefail
source "$(dirname "$0")/common.sh"
scripts/setup-python.sh
cargo build --release --workspace --bins --lib
if [ "$(id -u)" != 0 ] && [ -z "${EXECUTOR_PYTHON:-}" ]; then
  export EXECUTOR_PYTHON="$HOME/.local/share/dynamic-executor/venv/bin/python3"
  export EXECUTOR_MPL_CACHE_DIR=${EXECUTOR_MPL_CACHE_DIR:-$HOME/.cache/dynamic-executor/matplotlib}
  export EXECUTOR_STORE_DIR=${EXECUTOR_STORE_DIR:-$HOME/.local/share/dynamic-executor/object-store}
fi
exec "$CARGO_TARGET_DIR/release/dynamic-executor" "$@"
