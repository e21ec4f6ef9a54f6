#!/usr/bin/env bash
# Prints the benchmark figures (see docs/benchmarks.md).
set -euo pipefail
source "$(dirname "$0")/common.sh"
SETUP_TEST_TOOLS=1 scripts/setup-python.sh
cargo build --release --workspace --bins --lib
"$CARGO_TARGET_DIR/release/bench" "$@"
# The image's start, when a Docker engine answers and no other figure set was asked for.
if [ $# -eq 0 ] || [ "$*" = --quick ]; then
  if $DOCKER info >/dev/null 2>&1 && scripts/image.sh >&2; then
    "$CARGO_TARGET_DIR/release/bench" --container "$@"
  else
    echo "(no Docker engine: the container figures are skipped; bench --container after make image)"
  fi
fi
