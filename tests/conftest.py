"""Fixtures shared by the whole suite."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url():
    """A real Redis server: PYENGINE_TEST_REDIS_URL when set (tools/test.sh sets it),
    otherwise a private redis-server started on a free local port."""
    url = os.environ.get("PYENGINE_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("no Redis: set PYENGINE_TEST_REDIS_URL or install redis-server "
                    "(tools/test.sh does this for you)")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="pyengine-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def run_sanitized(tmp_path_factory):
    """Build csrc/ once under AddressSanitizer + UBSan (as module ``_core_asan``) and return
    ``run(driver, ok_marker)``, which runs a driver script against that build and fails on
    any sanitizer report. Drivers receive the build directory as argv[1]."""
    import pathlib
    import sys

    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to build csrc/ under the sanitizers")
    root = pathlib.Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "csrc"))
    try:
        from build_ffi import make_builder
    finally:
        sys.path.remove(str(root / "csrc"))
    build_dir = tmp_path_factory.mktemp("asan")
    make_builder("_core_asan", sanitize=True).compile(tmpdir=str(build_dir))
    libasan = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", PYTHONPATH=str(root))

    def run(driver: pathlib.Path, ok_marker: str) -> None:
        proc = subprocess.run([sys.executable, str(driver), str(build_dir)], env=env,
                              capture_output=True, text=True, timeout=900)
        report = proc.stdout[-3000:] + proc.stderr[-6000:]
        assert proc.returncode == 0, report
        assert ok_marker in proc.stdout, report
        assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr, report

    return run
