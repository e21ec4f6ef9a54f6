#!/usr/bin/env bash
# Makes a Docker engine reachable for `make image` and the container tests.
#   scripts/docker-engine.sh start   installs Debian's docker.io when there is no dockerd (root),
#                                    starts dockerd when none answers; prints the pid it started
#                                    (nothing when one was already running) on stdout
#   scripts/docker-engine.sh stop PID  stops a dockerd this script started (by its pid)
# The engine we start has no default bridge and leaves iptables alone: containers here use host
# networking on loopback ports only, never the bridge's 172.17.x addresses.
set -euo pipefail
source "$(dirname "$0")/common.sh"

case "${1:-start}" in
  start)
    if $DOCKER info >/dev/null 2>&1; then exit 0; fi
    if ! command -v dockerd >/dev/null 2>&1; then
      [ "$(id -u)" = 0 ] || { echo "docker-engine: no dockerd and not root to install it" >&2; exit 1; }
      echo "docker-engine: installing docker.io" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
      DOCKER=$(docker_cli)
    fi
    [ "$(id -u)" = 0 ] || { echo "docker-engine: starting dockerd needs root" >&2; exit 1; }
    log=${DOCKERD_LOG:-/var/log/dynamic-executor-dockerd.log}
    # setsid: the engine outlives this script (the caller stops it by pid when done).
    setsid dockerd --bridge=none --iptables=false --ip-masq=false \
      --host=unix:///var/run/docker.sock >"$log" 2>&1 < /dev/null &
    pid=$!
    for _ in $(seq 1 120); do
      if $DOCKER info >/dev/null 2>&1; then echo "$pid"; exit 0; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    echo "docker-engine: dockerd did not come up; its log ($log):" >&2
    tail -20 "$log" >&2 || true
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
  stop)
    pid=${2:?pid}
    kill "$pid" 2>/dev/null || exit 0
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.5; done
    echo "docker-engine: dockerd $pid still running after 30 s" >&2
    ;;
  *) echo "usage: $0 start|stop PID" >&2; exit 2 ;;
esac
