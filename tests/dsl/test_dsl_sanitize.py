"""The VM and broker emulator built with AddressSanitizer + UBSan: zero reports."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "csrc"))
from build_ffi import make_builder  # noqa: E402

pytestmark = pytest.mark.sanitize


def test_vm_is_clean_under_asan_and_ubsan(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to build csrc/ under the sanitizers")
    libasan = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True,
                             text=True, check=True).stdout.strip()
    make_builder("_core_asan", sanitize=True).compile(tmpdir=str(tmp_path))
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(pathlib.Path(__file__).with_name(
        "dsl_asan_driver.py")), str(tmp_path)], env=env, capture_output=True, text=True,
        timeout=900)
    report = proc.stdout[-3000:] + proc.stderr[-6000:]
    assert proc.returncode == 0, report
    assert "dsl-asan-driver-ok" in proc.stdout
    assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr, report
