"""Latency histograms backed by ``csrc/hist.c`` (HDR-style, < 0.8 % relative error)."""
from __future__ import annotations

from pyengine._core import ffi, lib

QUANTILES = (50.0, 99.0, 99.9)


class LatencyHistogram:
    """Nanosecond latencies. ``record`` is one C call with no allocation, fit for the hot
    path; everything else is for the once-a-second rollup."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        h = lib.pe_hist_new()
        if h == ffi.NULL:
            raise MemoryError("pe_hist_new failed")
        self._h = ffi.gc(h, lib.pe_hist_free)

    @property
    def handle(self):
        """The ``pe_hist *`` for callers that record from C or call ``lib.pe_hist_record``."""
        return self._h

    def record(self, ns: int) -> None:
        if lib.pe_hist_record(self._h, ns):
            raise ValueError(f"latency must be >= 0 ns, got {ns}")

    @property
    def count(self) -> int:
        return lib.pe_hist_count(self._h)

    @property
    def saturated(self) -> int:
        return lib.pe_hist_saturated(self._h)

    @property
    def min(self) -> int:
        return lib.pe_hist_min(self._h)

    @property
    def max(self) -> int:
        return lib.pe_hist_max(self._h)

    @property
    def mean(self) -> float:
        return lib.pe_hist_mean(self._h)

    def record_n(self, ns: int, n: int) -> None:
        if lib.pe_hist_record_n(self._h, ns, n) != lib.PE_OK:
            raise ValueError(f"latency must be >= 0 ns, got {ns}")

    def percentile(self, q: float) -> int:
        value = lib.pe_hist_percentile(self._h, q)
        if value < 0:
            raise ValueError(f"percentile must be within 0..100, got {q}")
        return value

    def percentiles(self, qs: tuple[float, ...] = QUANTILES) -> tuple[int, ...]:
        out = ffi.new("int64_t[]", len(qs))
        if lib.pe_hist_percentiles(self._h, list(qs), out, len(qs)) != lib.PE_OK:
            raise ValueError(f"quantiles must be ascending within 0..100, got {qs}")
        return tuple(out)

    def merge(self, other: "LatencyHistogram") -> None:
        lib.pe_hist_merge(self._h, other._h)

    def reset(self) -> None:
        lib.pe_hist_reset(self._h)

    def summary(self) -> dict[str, int | float]:
        p50, p99, p999 = self.percentiles()
        return {"count": self.count, "p50": p50, "p99": p99, "p999": p999,
                "max": self.max, "mean": round(self.mean, 1)}

