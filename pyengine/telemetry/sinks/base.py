"""The worker that drives one sink: bounded queue in, retries with backoff, one alert when
the sink goes down and one when it comes back."""
from __future__ import annotations

import logging
import math
import random
import time
from typing import Protocol

import trio

from pyengine.telemetry.alerts import AlertRouter, Severity
from pyengine.telemetry.metrics import Point, Registry
from pyengine.telemetry.queues import DropOldestQueue

log = logging.getLogger("pyengine.telemetry.sinks")


class Sink(Protocol):
    name: str
    max_batch: int

    def write(self, points: list[Point]) -> None:
        """Store the points or raise; called from a worker thread, one call at a time."""

    def close(self) -> None: ...


class SinkWorker:
    def __init__(self, sink: Sink, registry: Registry, alerts: AlertRouter,
                 queue_size: int = 100_000, backoff_s: float = 0.5, max_backoff_s: float = 30.0) -> None:
        self.sink = sink
        self.queue: DropOldestQueue[Point] = DropOldestQueue(queue_size)
        self._alerts = alerts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._wakeup = trio.Event()
        self._limiter = trio.CapacityLimiter(1)
        self.written = registry.counter("telemetry_sink_written", sink=sink.name)
        self.errors = registry.counter("telemetry_sink_errors", sink=sink.name)
        self.dropped = registry.gauge("telemetry_sink_dropped", sink=sink.name)
        self.down_since: float | None = None

    def offer(self, points: list[Point]) -> None:
        """Never blocks: the queue drops its oldest points when full."""
        self.queue.put_many(points)
        self.dropped.set(self.queue.dropped)
        self._wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup = trio.Event()
                while len(self.queue):
                    batch = self.queue.take(self.sink.max_batch)
                    await self._write_until_done(batch)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self.sink.close, abandon_on_cancel=True)

    async def _write_until_done(self, batch: list[Point]) -> None:
        delay = self._backoff_s
        while True:
            try:
                await trio.to_thread.run_sync(self.sink.write, batch, abandon_on_cancel=True,
                                              limiter=self._limiter)
            except Exception as exc:  # any store failure: keep trading, retry later
                self.errors.inc()
                self._went_down(exc)
                # while down, the queue keeps absorbing (and dropping) new points
                await trio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, self._max_backoff_s)
                continue
            self.written.inc(len(batch))
            self._came_back()
            return

    def _went_down(self, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("telemetry sink %s is down: %s", self.sink.name, reason)
            self._alerts.alert(f"sink-down:{self.sink.name}", Severity.WARNING,
                               f"Telemetry sink {self.sink.name} is down",
                               f"{reason}\nTrading continues; telemetry is queued (oldest dropped when full).")
        else:
            log.debug("telemetry sink %s still down: %s", self.sink.name, reason)

    def _came_back(self) -> None:
        if self.down_since is None:
            return
        outage = time.monotonic() - self.down_since
        self.down_since = None
        log.warning("telemetry sink %s recovered after %.1f s", self.sink.name, outage)
        self._alerts.alert(f"sink-up:{self.sink.name}", Severity.INFO,
                           f"Telemetry sink {self.sink.name} recovered",
                           f"down for {math.ceil(outage)} s; {self.queue.dropped} points dropped so far")
