#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs lint and the whole suite.
# Usage: ./scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages for the end-to-end tests (Chromium), the browser modules' unit tests (Node,
# tests/test_js.py), the lecture-hall tests (HAProxy) and the real-data tests (Fashion-MNIST).
# Installed with apt when we can (Debian/Ubuntu as root); otherwise those tests skip and say why.
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "installing ${need[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A project-local virtual environment with the pinned dependencies.
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -r requirements-dev.txt

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports  # the architecture's boundaries (pyproject.toml)
exec .venv/bin/python -m pytest "$@"
