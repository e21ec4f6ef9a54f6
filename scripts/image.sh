#!/usr/bin/env bash
# make image: builds the deployable image (IMAGE, default dynamic-executor:latest) from the
# Dockerfile. On a normal machine that is the plain multi-stage build. Where nothing can be
# pulled (no registry: this project's CI machines), the two missing pieces are made locally:
#   - debian:bookworm-slim absent  -> a minimal Debian made with debootstrap from Debian's package
#     registry and `docker import`ed under that name;
#   - the rust image absent        -> the binaries are built here, on the host, and the Dockerfile's
#     `prebuilt` stage copies them in (BINARIES=prebuilt).
# pip inside the build reaches PyPI with the host's CA bundle (a TLS-intercepting proxy may sit in
# between) passed as a BuildKit secret: it is never part of a layer. Starts an engine when none
# answers (scripts/docker-engine.sh) and leaves it running. `scripts/image.sh stack` (make
# image-stack) also builds the compose stack's balancer and S3 stand-in on the same base.
set -euo pipefail
source "$(dirname "$0")/common.sh"

image=${IMAGE:-dynamic-executor:latest}
base=debian:bookworm-slim
rust=rust:1.95-bookworm

started=$(scripts/docker-engine.sh start)
[ -z "$started" ] || echo "image: started dockerd (pid $started); it keeps running" >&2

mkdir -p .image
have() { $DOCKER image inspect "$1" >/dev/null 2>&1; }
# A registry that cannot be reached fails fast here; one that hangs is given 90 s.
pull() { timeout 90 $DOCKER pull -q "$1" >/dev/null 2>&1; }

base_from_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 || {
    [ "$(id -u)" = 0 ] || { echo "image: debootstrap missing (needs root to install)" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
  local dir
  dir=$(mktemp -d /var/tmp/dynexec-base.XXXXXX)
  echo "image: $base cannot be pulled; making it with debootstrap from $mirror" >&2
  debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || {
    tail -20 "$dir.log" >&2; rm -rf "$dir" "$dir.log"; exit 1; }
  cat > "$dir/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main
SOURCES
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
    "$dir"/var/log/* "$dir"/tmp/*
  tar --numeric-owner -C "$dir" -c . | $DOCKER import \
    --change 'CMD ["bash"]' --message "debootstrap --variant=minbase bookworm (scripts/image.sh)" \
    - "$base" >/dev/null
  rm -rf "$dir" "$dir.log"
}

binaries_from_host() {
  # The runtime stage is Debian bookworm: binaries built here must not need a newer glibc.
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [ "$codename" != bookworm ]; then
    echo "image: $rust cannot be pulled and this host is '$codename', not bookworm:" \
      "its binaries may not run in the image" >&2
    exit 1
  fi
  echo "image: $rust cannot be pulled; building the binaries on this host" >&2
  cargo build --quiet --release --locked --workspace --bins --lib
  rm -rf .image/bin && mkdir -p .image/bin
  cp "$CARGO_TARGET_DIR/release/dynamic-executor" "$CARGO_TARGET_DIR/release/dynamic-executor-analytics" \
    "$CARGO_TARGET_DIR/release/healthcheck" "$CARGO_TARGET_DIR/release/libdynexec_sandbox.so" .image/bin/
}

have "$base" || pull "$base" || base_from_debootstrap
binaries=build
if ! have "$rust" && ! pull "$rust"; then
  binaries_from_host
  binaries=prebuilt
fi

secret=()
ca=${BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$ca" ] && secret=(--secret "id=ca_bundle,src=$ca")

# build TAG CONTEXT [docker build options…]
build() {
  local tag=$1 context=$2 log
  shift 2
  log=.image/build-${tag//[:\/]/-}.log
  echo "image: building $tag" >&2
  DOCKER_BUILDKIT=1 $DOCKER build --network host --progress plain "${secret[@]}" "$@" \
    -t "$tag" "$context" >"$log" 2>&1 || { tail -40 "$log" >&2; exit 1; }
  echo "image: $tag built, $(($($DOCKER image inspect -f '{{.Size}}' "$tag") / 1000000)) MB"
}

build "$image" . --build-arg "BINARIES=$binaries"
# `scripts/image.sh stack`: the compose stack's balancer and S3 stand-in too.
if [ "${1:-}" = stack ]; then
  build dynamic-executor-lb:latest deploy/lb
  build dynamic-executor-s3:latest deploy/s3
fi
