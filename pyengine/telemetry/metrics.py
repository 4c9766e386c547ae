"""In-memory metrics: counters, gauges, latency histograms and telemetry events, rolled up
into ``Point`` lists once a second. Everything here runs in the engine's trio thread, so
there are no locks; the hot-path operations are an int add, an attribute store, one C call,
or a deque append."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from pyengine.telemetry.histogram import LatencyHistogram
from pyengine.telemetry.queues import DropOldestQueue

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
Labels = tuple[tuple[str, str], ...]
FieldValue = int | float | str | bool


@dataclass(slots=True)
class Point:
    """One time-series sample: what every sink writes."""
    measurement: str
    tags: dict[str, str]
    fields: dict[str, FieldValue]
    ts_ns: int       # wall clock, ns since the epoch


class Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, n: int = 1) -> None:
        self.value += n


class Gauge:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0

    def set(self, value: float) -> None:
        self.value = value


@dataclass(slots=True)
class HistogramPair:
    """``window`` is what the engine records into; the rollup folds it into ``total``."""
    window: LatencyHistogram = field(default_factory=LatencyHistogram)
    total: LatencyHistogram = field(default_factory=LatencyHistogram)
    last: dict[str, int | float] = field(default_factory=dict)   # last rolled-up window


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"metric name {name!r} must match [a-z_][a-z0-9_]*")


def _labels(labels: dict[str, object]) -> Labels:
    for key in labels:
        _check_name(key)
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


class Registry:
    """Metrics by (name, labels). Look a metric up once and keep the object: the lookup
    costs a dict access, the update itself is minimal."""

    def __init__(self, event_queue_size: int = 65536) -> None:
        self.counters: dict[tuple[str, Labels], Counter] = {}
        self.gauges: dict[tuple[str, Labels], Gauge] = {}
        self.histograms: dict[tuple[str, Labels], HistogramPair] = {}
        # (measurement, tags, fields, ts_ns) tuples: cheaper to make than Points on the hot path
        self.events: DropOldestQueue[tuple] = DropOldestQueue(event_queue_size)
        self._last_counts: dict[tuple[str, Labels], int] = {}
        self._last_rollup_ns = time.monotonic_ns()

    def counter(self, name: str, **labels: object) -> Counter:
        key = (name, _labels(labels))
        metric = self.counters.get(key)
        if metric is None:
            _check_name(name)
            metric = self.counters[key] = Counter()
        return metric

    def gauge(self, name: str, **labels: object) -> Gauge:
        key = (name, _labels(labels))
        metric = self.gauges.get(key)
        if metric is None:
            _check_name(name)
            metric = self.gauges[key] = Gauge()
        return metric

    def histogram(self, name: str, **labels: object) -> LatencyHistogram:
        """The histogram to record ns latencies into (the current rollup window)."""
        return self.histogram_pair(name, **labels).window

    def histogram_pair(self, name: str, **labels: object) -> HistogramPair:
        key = (name, _labels(labels))
        pair = self.histograms.get(key)
        if pair is None:
            _check_name(name)
            pair = self.histograms[key] = HistogramPair()
        return pair

    def event(self, measurement: str, fields: dict[str, FieldValue], **tags: str) -> None:
        """A raw telemetry sample for the sinks (bounded: the oldest is dropped when full)."""
        self.events.put((measurement, tags, fields, time.time_ns()))

    def rollup(self, now_ns: int | None = None) -> list[Point]:
        """One second's worth of points: counter totals and rates, gauges, histogram
        windows (then folded into the cumulative histograms), plus queued events."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        mono = time.monotonic_ns()
        dt = max((mono - self._last_rollup_ns) / 1e9, 1e-9)
        self._last_rollup_ns = mono
        points = [Point(*e) for e in self.events.take(len(self.events))]
        for (name, labels), c in self.counters.items():
            value = c.value
            rate = (value - self._last_counts.get((name, labels), 0)) / dt
            self._last_counts[(name, labels)] = value
            points.append(Point(name, dict(labels), {"value": value, "rate": round(rate, 3)}, now_ns))
        for (name, labels), g in self.gauges.items():
            points.append(Point(name, dict(labels), {"value": g.value}, now_ns))
        for (name, labels), pair in self.histograms.items():
            summary = pair.window.summary()
            if summary["count"]:
                points.append(Point(name, dict(labels), summary, now_ns))
            pair.last = summary
            pair.total.merge(pair.window)
            pair.window.reset()
        return points
