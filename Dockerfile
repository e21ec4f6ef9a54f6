# dynamic-executor: the Rust binaries, then a runtime with Python's data stack. `make image`
# (scripts/image.sh) builds it; BuildKit is needed (it builds only the stages the target uses,
# and passes the CA bundle as a secret).
# BINARIES=build compiles in the rust image; BINARIES=prebuilt takes binaries built on the host
# (.image/bin), for machines that cannot pull that image.
ARG BINARIES=build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY sandbox ./sandbox
COPY healthcheck ./healthcheck
COPY analytics ./analytics
RUN cargo build --release --locked --workspace --bins --lib \
 && mkdir -p /out \
 && cp target/release/dynamic-executor target/release/dynamic-executor-analytics \
       target/release/healthcheck target/release/libdynexec_sandbox.so /out/

FROM scratch AS prebuilt
COPY .image/bin/ /out/

# hadolint ignore=DL3006
FROM ${BINARIES} AS binaries

FROM debian:bookworm-slim AS runtime
# Debian's python3 (world-readable under /usr: sandboxed uids import from it), Korean fonts,
# and weasyprint's system libraries. pandoc/poppler are the agents' nice-to-haves.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates fontconfig fonts-nanum \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
      pandoc poppler-utils \
 && rm -rf /var/lib/apt/lists/* \
 && fc-cache -f
COPY sandbox/requirements.txt sandbox/requirements-report.txt /opt/dynamic-executor/
# The build may reach PyPI through a TLS-intercepting proxy: its CA comes in as a secret
# (`--secret id=ca_bundle,src=…`), mounted for this step only and never stored in a layer.
RUN --mount=type=secret,id=ca_bundle,required=false \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
 && python3 -m venv /opt/dynamic-executor/venv \
 && /opt/dynamic-executor/venv/bin/pip install --no-cache-dir \
      -r /opt/dynamic-executor/requirements.txt -r /opt/dynamic-executor/requirements-report.txt \
 && chmod -R a+rX /opt/dynamic-executor/venv
# matplotlib's font cache, built once here (with NanumGothic in it) instead of at every start.
ENV EXECUTOR_MPL_CACHE_DIR=/var/cache/dynamic-executor/matplotlib
RUN mkdir -p "$EXECUTOR_MPL_CACHE_DIR" \
 && MPLCONFIGDIR="$EXECUTOR_MPL_CACHE_DIR" /opt/dynamic-executor/venv/bin/python3 -c \
      "import matplotlib.font_manager as fm; assert any(f.name == 'NanumGothic' for f in fm.fontManager.ttflist)"
# No world-writable directory in the image besides those the server locks for session uids at
# start (EXECUTOR_SHARED_PATHS): anywhere else one would be a meeting place between sessions.
RUN find / -xdev -type d -perm -0002 \
      -not -path /tmp -not -path /var/tmp -not -path /run/lock -not -path /dev/shm \
      -exec chmod o-w {} +
# The sandbox library and the analytics helper sit beside the binary, where the server looks.
COPY --from=binaries /out/ /usr/local/bin/
COPY sandbox/python /opt/dynamic-executor/sandbox
ENV EXECUTOR_PYTHON=/opt/dynamic-executor/venv/bin/python3 \
    EXECUTOR_SANDBOX_DIR=/opt/dynamic-executor/sandbox \
    EXECUTOR_WORKSPACE_ROOT=/var/lib/dynamic-executor/sessions \
    EXECUTOR_COMPAT_WORKSPACE=/app \
    EXECUTOR_SANDBOX_REQUIRE=uid,seccomp \
    EXECUTOR_BIND=0.0.0.0:8080
WORKDIR /app
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=2s --start-period=30s --retries=3 CMD ["/usr/local/bin/healthcheck"]
# Runs as root on purpose: the server hands every session its own uid (setresuid needs
# CAP_SETUID) and kills a session's processes by that uid. Sandboxed code never runs as root:
# each worker drops to its session's uid, under seccomp and rlimits, before it runs anything.
# hadolint ignore=DL3002,DL3066
USER 0
ENTRYPOINT ["/usr/local/bin/dynamic-executor"]
