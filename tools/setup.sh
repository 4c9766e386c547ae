#!/usr/bin/env bash
# Set up .venv/ at the repository root: Python packages, the C library, the dashboard build.
# Idempotent and quick when nothing changed (a hash of the build inputs is kept in .venv).
# Usage: tools/setup.sh [EXTRAS]   e.g. tools/setup.sh test,bridge,bench
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
  done
fi
[ -n "$python_bin" ] || { echo "setup: Python 3.11 not found (set PYTHON=...)" >&2; exit 1; }
"$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: $python_bin is older than 3.11" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi

stamp_file=.venv/.pyengine-setup
stamp="$extras $(cat pyproject.toml setup.py csrc/*.c csrc/*.h csrc/*.py | sha256sum | cut -c1-16)"
if [ ! -f "$stamp_file" ] || [ "$(cat "$stamp_file")" != "$stamp" ] || [ ! -e pyengine/_core.abi3.so ]; then
  echo "setup: installing Python packages and building the C library (first run takes a few minutes)"
  log=.venv/setup.log
  { .venv/bin/python -m pip install --upgrade pip setuptools wheel &&
    .venv/bin/python -m pip install -e ".${extras:+[$extras]}"; } >"$log" 2>&1 \
    || { tail -n 60 "$log" >&2; echo "setup: pip failed; full log in $log" >&2; exit 1; }
  echo "$stamp" > "$stamp_file"
fi

web=pyengine/telemetry/dashboard/web
if [ -n "${PYENGINE_BUILD_DASHBOARD:-}" ] && [ -f "$web/package.json" ]; then
  command -v npm >/dev/null 2>&1 || { echo "setup: npm not found (needed to build the dashboard)" >&2; exit 1; }
  lock_stamp="$(cat "$web/package.json" "$web/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16)"
  if [ ! -d "$web/node_modules" ] || [ "$(cat "$web/node_modules/.pyengine-stamp" 2>/dev/null)" != "$lock_stamp" ]; then
    echo "setup: installing dashboard npm packages"
    (cd "$web" && { [ -f package-lock.json ] && npm ci --no-audit --no-fund --loglevel=error \
                    || npm install --no-audit --no-fund --loglevel=error; })
    echo "$lock_stamp" > "$web/node_modules/.pyengine-stamp"
  fi
  (cd "$web" && npm run --silent build >/dev/null)
fi
