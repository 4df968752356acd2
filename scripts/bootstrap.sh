#!/usr/bin/env bash
# Installs whatever is missing for the grader on a Debian/Ubuntu machine and starts the Docker engine:
# system packages, a Python venv with the project, Docker (+ gVisor's runsc), and the runner images.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v git >/dev/null || need_pkgs+=(git)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkgs+=(python3-venv)
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v runsc >/dev/null || need_pkgs+=(runsc)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v node >/dev/null || need_pkgs+=(nodejs npm)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)  # the browser tests (Playwright drives it)
command -v wrk >/dev/null || need_pkgs+=(wrk)  # the API benchmark's load generator (make bench)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "[setup] installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "[setup] creating the Python environment in .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  rm -f .venv/.installed-* && touch "$stamp"
fi

scripts/ensure-docker.sh

for spec in assignments/*/assignment.yaml; do
  echo "[setup] images for $(dirname "$spec")"
  .venv/bin/grader assignment build "$(dirname "$spec")"
done
