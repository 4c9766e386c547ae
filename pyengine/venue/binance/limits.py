"""Request-weight and order-count tracking, throttling and 429/418 handling (digest 4).

The exchange counts in calendar-aligned windows of *its* clock (a minute starts on the minute,
10-second windows at :00, :10, ...), so windows here are computed from the server-time
estimate. Counts are predicted locally when a request is admitted and corrected from the
``X-MBX-USED-WEIGHT-1M`` / ``X-MBX-ORDER-COUNT-*`` headers (REST) or the ``rateLimits`` array
(WS API). A request that would cross ``headroom`` of a limit waits for the next window, or
fails with :class:`RateLimited` when that wait is longer than the caller allows. After a 429
nothing is sent before ``Retry-After``; after a 418 nothing at all is sent until the ban ends.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import trio

from pyengine.venue.binance.errors import IpBanned, RateLimited

_UNIT_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
_HEADER = re.compile(r"x-mbx-(used-weight|order-count)-(\d+)([smhd])$")
_HEADER_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

DEFAULT_LIMITS = (
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
)


@dataclass
class Window:
    kind: str          # REQUEST_WEIGHT or ORDERS
    interval_ms: int
    limit: int
    index: int = -1    # server_ms // interval_ms of the window ``used`` belongs to
    used: int = 0
    cap: int = 0       # what the limiter lets through per window (limit less its headroom)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.limit} per {self.interval_ms // 1000} s"

    def roll(self, now_ms: int) -> None:
        idx = now_ms // self.interval_ms
        if idx != self.index:
            self.index, self.used = idx, 0

    def ms_to_next(self, now_ms: int) -> int:
        return (now_ms // self.interval_ms + 1) * self.interval_ms - now_ms


class RateLimiter:
    def __init__(self, limits: Iterable[Mapping] = DEFAULT_LIMITS, *, now_ms: Callable[[], int],
                 headroom: float = 0.9):
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {headroom}")
        self.now_ms = now_ms
        self.headroom = headroom
        self.windows: list[Window] = []
        self.configure(limits)
        self.blocked_until = 0.0   # trio time: 429 Retry-After
        self.banned_until = 0.0    # trio time: 418 ban
        self.throttled = 0         # how many times a request had to wait for a window
        self.rejections = 0        # 429 + 418 answers seen

    def configure(self, limits: Iterable[Mapping]) -> None:
        """Adopt exchangeInfo's ``rateLimits`` (RAW_REQUESTS and CONNECTIONS are not tracked:
        at 300,000 per 5 min they are far above what the weight limit lets through)."""
        self.windows = [Window(l["rateLimitType"], _UNIT_MS[l["interval"]] * int(l["intervalNum"]),
                               int(l["limit"]), cap=math.floor(int(l["limit"]) * self.headroom))
                        for l in limits if l["rateLimitType"] in ("REQUEST_WEIGHT", "ORDERS")]

    def _find(self, kind: str, interval_ms: int) -> Window | None:
        for w in self.windows:
            if w.kind == kind and w.interval_ms == interval_ms:
                return w
        return None

    # -- admission -------------------------------------------------------------
    async def acquire(self, weight: int, orders: int = 0, *, max_wait: float = 60.0) -> None:
        """Wait until a request of ``weight`` (placing ``orders`` orders) may be sent, then
        count it. Raises RateLimited/IpBanned if that takes longer than ``max_wait`` s."""
        while True:
            now = trio.current_time()
            if self.banned_until > now:
                self._wait_or_raise(IpBanned, self.banned_until - now, max_wait, "IP banned (HTTP 418)")
                await trio.sleep_until(self.banned_until)
                continue
            if self.blocked_until > now:
                self._wait_or_raise(RateLimited, self.blocked_until - now, max_wait, "rate limited (HTTP 429)")
                await trio.sleep_until(self.blocked_until)
                continue
            wait_ms, blocking = self._admit(weight, orders)
            if wait_ms == 0:
                return
            self._wait_or_raise(RateLimited, wait_ms / 1000, max_wait,
                                f"would exceed {blocking.label} (used {blocking.used})")
            self.throttled += 1
            await trio.sleep(wait_ms / 1000 + 0.001)

    def try_acquire(self, weight: int, orders: int = 0) -> bool:
        """Count the request and return True if it may be sent now, without waiting;
        False (nothing counted) if it would have to wait (then use :meth:`acquire`)."""
        now = trio.current_time()
        if self.banned_until > now or self.blocked_until > now:
            return False
        return self._admit(weight, orders)[0] == 0

    def _admit(self, weight: int, orders: int) -> tuple[int, Window | None]:
        """(0, None) after counting the request if every window has room; else the ms to
        wait for the window that blocks it (nothing counted)."""
        # runs before every order on the hot path: Window.roll inlined
        server = self.now_ms()
        wait_ms = 0
        blocking = None
        for w in self.windows:
            idx = server // w.interval_ms
            if idx != w.index:
                w.index, w.used = idx, 0
            need = weight if w.kind == "REQUEST_WEIGHT" else orders
            if need and w.used + need > max(need, w.cap):
                if w.ms_to_next(server) > wait_ms:
                    wait_ms, blocking = w.ms_to_next(server), w
        if wait_ms == 0:
            for w in self.windows:
                w.used += weight if w.kind == "REQUEST_WEIGHT" else orders
        return wait_ms, blocking

    @staticmethod
    def _wait_or_raise(cls, wait: float, max_wait: float, what: str) -> None:
        if wait > max_wait:
            raise cls(f"{what}: next request allowed in {wait:.3f} s (more than the allowed "
                      f"{max_wait:.3f} s wait)", trio.current_time() + wait)

    # -- feedback from the exchange -------------------------------------------
    def update_from_headers(self, headers: Mapping[str, str]) -> None:
        server = self.now_ms()
        for name, value in headers.items():
            m = _HEADER.match(name.lower())
            if not m:
                continue
            kind = "REQUEST_WEIGHT" if m.group(1) == "used-weight" else "ORDERS"
            w = self._find(kind, int(m.group(2)) * _HEADER_MS[m.group(3)])
            if w is not None:
                w.roll(server)
                w.used = int(value)

    def update_from_ws(self, rate_limits: Iterable[Mapping]) -> None:
        server = self.now_ms()
        for r in rate_limits:
            kind = r.get("rateLimitType")
            interval = _UNIT_MS.get(r.get("interval", ""), 0) * int(r.get("intervalNum", 0))
            w = self._find(kind, interval)
            if w is not None and "count" in r:
                w.roll(server)
                w.used = int(r["count"])

    def on_too_many(self, retry_after_s: float) -> None:
        """HTTP 429: nothing more until Retry-After."""
        self.rejections += 1
        self.blocked_until = max(self.blocked_until, trio.current_time() + retry_after_s)

    def on_ban(self, retry_after_s: float) -> None:
        """HTTP 418: full stop until the ban ends."""
        self.rejections += 1
        self.banned_until = max(self.banned_until, trio.current_time() + retry_after_s)

    def used(self, kind: str, interval_ms: int) -> int:
        w = self._find(kind, interval_ms)
        if w is None:
            raise KeyError(f"no {kind} limit with a {interval_ms} ms window")
        w.roll(self.now_ms())
        return w.used
