"""csrc/hist.c under AddressSanitizer + UBSan (random operations at every range edge)."""
import pathlib

import pytest


@pytest.mark.sanitize
def test_hist_is_clean_under_asan_and_ubsan(run_sanitized):
    run_sanitized(pathlib.Path(__file__).with_name("hist_asan_driver.py"), "hist-asan-driver-ok")
