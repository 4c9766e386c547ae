"""The simulator's two clocks.

* :class:`ServerClock` answers ``GET /api/v3/time``, checks ``timestamp``/``recvWindow`` and
  stamps orders: wall time plus an injectable skew, so a client can sync to it exactly as
  to Binance.
* :class:`MarketClock` drives the replay of market data: real time (``speed=1``),
  accelerated (``speed=N``), as fast as possible (``"max"``) or stepped by tests
  (``"manual"``). At speed 1 it coincides with the server clock (data are rebased).
"""
from __future__ import annotations

import math
import time

import trio


class ServerClock:
    def __init__(self) -> None:
        self.skew_ms = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.skew_ms


class MarketClock:
    def __init__(self, start_ms: int, speed: float | str = 1.0):
        if speed not in ("max", "manual"):
            speed = float(speed)
            if not math.isfinite(speed) or speed <= 0:
                raise ValueError(f"speed must be a positive number, 'max' or 'manual', got {speed!r}")
        self.speed = speed
        self.start_ms = start_ms
        self._mono0 = time.monotonic()
        self._now = start_ms            # max/manual modes
        self._target = start_ms         # manual mode: how far the tests have advanced
        self._target_changed = trio.Event()
        self._caught_up = trio.Event()
        self._paused_at: float | None = None
        self._pauses = 0                # nested pauses: time moves again when all have resumed
        self._resumed = trio.Event()

    def now_ms(self) -> int:
        if isinstance(self.speed, float):
            mono = time.monotonic() if self._paused_at is None else self._paused_at
            return self.start_ms + int((mono - self._mono0) * 1000 * self.speed)
        return self._now

    def pause(self) -> None:
        """Real-time/accelerated modes: stop market time (e.g. while a client starts up, so
        that a slow start on a loaded machine does not skip data)."""
        self._pauses += 1
        if self._pauses == 1:
            self._paused_at = time.monotonic()
            self._resumed = trio.Event()

    def resume(self) -> None:
        self._pauses -= 1
        if self._pauses == 0:
            self._mono0 += time.monotonic() - self._paused_at
            self._paused_at = None
            self._resumed.set()

    async def wait_until(self, t: int) -> None:
        """Sleep until market time ``t`` (called by the replayer before each event)."""
        if isinstance(self.speed, float):
            while True:
                if self._paused_at is not None:
                    await self._resumed.wait()
                    continue
                delay = (t - self.now_ms()) / 1000 / self.speed
                if delay <= 0:
                    return
                await trio.sleep(delay)
        if self.speed == "manual":
            while t > self._target:
                self._now = self._target
                self._caught_up.set()
                await self._target_changed.wait()
        self._now = max(self._now, t)

    def finished(self) -> None:
        """The replay has no more events."""
        self._now = max(self._now, self._target)
        self._caught_up.set()

    async def advance(self, ms: int) -> None:
        """Manual mode: let the replay run ``ms`` of market time and wait until it has."""
        if self.speed != "manual":
            raise RuntimeError("advance() needs a simulator started with speed='manual'")
        self._target += ms
        self._caught_up = trio.Event()
        ev, self._target_changed = self._target_changed, trio.Event()
        ev.set()
        await self._caught_up.wait()
