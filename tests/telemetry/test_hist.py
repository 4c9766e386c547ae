"""csrc/hist.c through LatencyHistogram: quantiles against exact numpy ones, merge, reset."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pyengine._core import lib
from pyengine.telemetry.histogram import LatencyHistogram


def exact_quantile(values: np.ndarray, q: float) -> int:
    """The value at rank ceil(q/100 * n) (1-based), as HDR histograms define it."""
    ordered = np.sort(values)
    rank = max(1, int(np.ceil(q / 100 * len(ordered))))
    return int(ordered[rank - 1])


def test_small_values_are_exact():
    h = LatencyHistogram()
    for v in range(1, 201):
        h.record(v)
    assert h.count == 200 and h.min == 1 and h.max == 200
    assert h.percentiles((50.0, 99.0, 99.9)) == (100, 198, 200)
    assert h.mean == pytest.approx(100.5)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=400),
       st.sampled_from([0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0]))
def test_quantiles_within_relative_error(values, q):
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    exact = exact_quantile(np.array(values, dtype=np.int64), q)
    got = h.percentile(q)
    assert exact <= got <= max(exact, int(exact * (1 + 1 / 128)) + 1)
    assert got <= max(values)


def test_lognormal_latencies_match_numpy():
    rng = np.random.default_rng(7)
    values = rng.lognormal(mean=9.5, sigma=0.6, size=200_000).astype(np.int64)  # ~13 µs typical
    h = LatencyHistogram()
    for v in values.tolist():
        h.record(v)
    for q, got in zip((50.0, 99.0, 99.9), h.percentiles()):
        exact = exact_quantile(values, q)
        assert abs(got - exact) / exact < 1 / 128


def test_merge_equals_recording_everything_in_one():
    rng = np.random.default_rng(1)
    a_vals, b_vals = rng.integers(0, 5_000_000, 5000), rng.integers(1000, 90_000_000, 3000)
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for v in a_vals.tolist():
        a.record(v)
        both.record(v)
    for v in b_vals.tolist():
        b.record(v)
        both.record(v)
    a.merge(b)
    assert a.count == both.count == 8000
    assert a.percentiles((1.0, 50.0, 99.0, 99.9, 100.0)) == both.percentiles((1.0, 50.0, 99.0, 99.9, 100.0))
    assert (a.min, a.max) == (both.min, both.max)
    assert a.mean == pytest.approx(both.mean)


def test_reset_and_reuse():
    h = LatencyHistogram()
    h.record_n(5_000_000, 10)
    h.reset()
    assert (h.count, h.min, h.max, h.percentile(99)) == (0, 0, 0, 0)
    h.record(42)
    assert h.percentiles() == (42, 42, 42)


def test_saturation_and_bad_input():
    h = LatencyHistogram()
    huge = lib.pe_hist_max_trackable() * 4
    h.record(huge)
    assert h.saturated == 1 and h.max == lib.pe_hist_max_trackable()
    with pytest.raises(ValueError, match=">= 0 ns"):
        h.record(-1)
    with pytest.raises(ValueError, match="0..100"):
        h.percentile(101)
    with pytest.raises(ValueError, match="ascending"):
        h.percentiles((99.0, 50.0))
    assert h.count == 1
