#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, builds, runs every test.
# The attack suite runs twice: on every layer this host offers, and in the posture Fargate
# gives (no namespaces, Landlock or cgroups; inside private mounts, so it needs root).
set -euo pipefail
source "$(dirname "$0")/common.sh"

SETUP_TEST_TOOLS=1 scripts/setup-python.sh
# The worker loads the sandbox cdylib from beside the binary: build every workspace member.
cargo build --workspace --bins --lib
status=0
# The deployable image, when a Docker engine answers (.ci/run starts one, so CI always has it):
# `make image`, then tests/container.rs and tests/compose.rs run against it.
if [ $# -eq 0 ] && $DOCKER info >/dev/null 2>&1; then
  echo "== the images (make image-stack)"
  if ! command -v docker-compose >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  fi
  if scripts/image.sh stack; then
    export DYNEXEC_IMAGE=dynamic-executor:latest
  else
    status=1
  fi
else
  echo "== no Docker engine answers: the container tests will say SKIPPED"
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
  if [ "$(id -u)" = 0 ] && [ $# -eq 0 ]; then
    echo "== the attack suite again, in the Fargate posture"
    DYNEXEC_TEST_POSTURE=fargate cargo nextest run --workspace --no-fail-fast --test attacks || status=$?
  fi
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
  if [ "$(id -u)" = 0 ] && [ $# -eq 0 ]; then
    echo "== the attack suite again, in the Fargate posture"
    DYNEXEC_TEST_POSTURE=fargate cargo test --workspace --no-fail-fast --test attacks || status=$?
  fi
fi
# The Python client (clients/python) against the real server, with pytest from the tools venv.
if [ $# -eq 0 ]; then
  echo "== the Python client's tests"
  tools=${EXECUTOR_TOOLS_VENV:-$HOME/.cache/dynamic-executor/tools}
  PYTHONPATH=clients/python/src DYNEXEC_BIN="$CARGO_TARGET_DIR/debug/dynamic-executor" \
    "$tools/bin/python" -m pytest clients/python/tests -q -p no:cacheprovider || status=$?
fi
exit $status
