"""The gate under AddressSanitizer + UBSan with random and extreme inputs."""
import pathlib

import pytest


@pytest.mark.sanitize
def test_gate_is_clean_under_asan_and_ubsan(run_sanitized):
    run_sanitized(pathlib.Path(__file__).with_name("risk_asan_driver.py"), "risk-asan-driver-ok")
