#!/usr/bin/env bash
# Installs what the sandboxed Python side needs: system packages (Korean fonts, venv support)
# and a venv with sandbox/requirements.txt. Idempotent: skips work that is already done.
# The venv lives outside the clone and is world-readable, because sandboxed code runs as
# per-session uids that must be able to import from it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" = 0 ]; then
  venv=${EXECUTOR_VENV:-/opt/dynamic-executor/venv}
else
  venv=${EXECUTOR_VENV:-$HOME/.local/share/dynamic-executor/venv}
fi

# Debian's interpreter lives in world-readable /usr; a pyenv one under /root would not be.
base=${EXECUTOR_BASE_PYTHON:-/usr/bin/python3}
[ -x "$base" ] || base=$(command -v python3)

need_apt=()
[ -x /usr/bin/python3 ] || need_apt+=(python3)
command -v fc-list >/dev/null 2>&1 || need_apt+=(fontconfig)
fc-list 2>/dev/null | grep -qi nanumgothic || need_apt+=(fonts-nanum)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
# weasyprint (the Reporter's PDFs) loads pango and harfbuzz at run time.
for lib in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b; do
  dpkg -s "$lib" >/dev/null 2>&1 || need_apt+=("$lib")
done
if [ "${SETUP_TEST_TOOLS:-0}" = 1 ]; then
  command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
  # pdftotext: the tests read the Hangul back out of the Reporter's PDF.
  command -v pdftotext >/dev/null 2>&1 || need_apt+=(poppler-utils)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup-python: installing ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup-python: please install: ${need_apt[*]} (needs root)" >&2
  fi
fi

# Tools the tests run (hadolint, PyYAML) live in their own venv, never in the sandbox's.
if [ "${SETUP_TEST_TOOLS:-0}" = 1 ]; then
  tools=${EXECUTOR_TOOLS_VENV:-$HOME/.cache/dynamic-executor/tools}
  tstamp="$tools/.requirements.sha256"
  twant=$(sha256sum < "$repo/sandbox/requirements-dev.txt" | cut -d' ' -f1)
  if ! { [ -f "$tstamp" ] && [ "$(cat "$tstamp")" = "$twant" ]; }; then
    echo "setup-python: installing test tools into $tools"
    "$base" -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check -r "$repo/sandbox/requirements-dev.txt"
    echo "$twant" > "$tstamp"
  fi
fi

stamp="$venv/.requirements.sha256"
want=$(cat "$repo/sandbox/requirements.txt" "$repo/sandbox/requirements-report.txt" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python3" ]; then
  echo "setup-python: $venv is up to date"
  exit 0
fi
echo "setup-python: creating $venv from $base"
mkdir -p "$(dirname "$venv")"
"$base" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  -r "$repo/sandbox/requirements.txt" -r "$repo/sandbox/requirements-report.txt"
chmod -R a+rX "$venv"
echo "$want" > "$stamp"
echo "setup-python: done"
