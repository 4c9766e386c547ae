"""The C book and parser under AddressSanitizer + UBSan, and warning-free C."""
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.sanitize
def test_book_and_parser_are_clean_under_asan_and_ubsan(run_sanitized):
    run_sanitized(pathlib.Path(__file__).with_name("asan_driver.py"), "asan-driver-ok")


def test_c_code_compiles_without_warnings():
    sources = sorted((ROOT / "csrc").glob("*.c"))
    proc = subprocess.run(["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-fsyntax-only",
                           f"-I{ROOT / 'csrc'}", *map(str, sources)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
