#!/usr/bin/env bash
# The project's entry points for a newcomer and for CI.
#   ./run.sh demo    set up (Debian packages, venv) and run the main job on the built-in example guest
#   ./run.sh test    set up if needed and run the whole test suite (lint, types, unit, images, boots)
#   ./run.sh setup   only the set-up
# Set-up is idempotent: packages already installed and an up-to-date venv are left alone.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

VENV=.venv
PY=/usr/bin/python3

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

setup_packages() {
  mapfile -t pkgs < <(grep -v '^\s*#' tools/debian-packages.txt | grep -v '^\s*$')
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      "${missing[@]}" >/dev/null
  fi
}

setup_venv() {
  local stamp=$VENV/.xen2kvm-stamp
  local want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  log "creating the virtualenv in $VENV (with Debian's guestfs binding visible)"
  # --system-site-packages: libguestfs's Python binding comes from Debian (python3-guestfs),
  # built for /usr/bin/python3; PyPI has no working equivalent.
  $PY -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e '.[dev]'
  "$VENV/bin/python" -c 'import guestfs, xen2kvm' || {
    log "the venv cannot import guestfs or xen2kvm"; exit 1; }
  echo "$want" > "$stamp"
}

setup() {
  setup_packages
  setup_venv
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup)
    setup
    ;;
  demo)
    setup
    exec "$VENV/bin/python" tools/demo.py "$@"
    ;;
  test)
    setup
    log "ruff"
    "$VENV/bin/ruff" check src tests bench tools
    log "mypy --strict"
    "$VENV/bin/mypy"
    log "pytest"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./run.sh demo|test|setup [args...]" >&2
    exit 2
    ;;
esac
