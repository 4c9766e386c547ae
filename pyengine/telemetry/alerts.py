"""Alert router: every alert is de-duplicated by key, rate-limited, then offered to each
destination (Telegram thread, webhook, dashboard, sinks) without ever blocking the caller."""
from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

log = logging.getLogger("pyengine.telemetry.alerts")


class Severity(enum.IntEnum):
    INFO = 10
    WARNING = 20
    ERROR = 30
    CRITICAL = 40


@dataclass(slots=True)
class Alert:
    key: str              # what it is about; alerts with the same key are de-duplicated
    severity: Severity
    title: str
    text: str = ""
    ts_ns: int = field(default_factory=time.time_ns)
    suppressed: int = 0   # duplicates swallowed since the last one that went out

    def render(self) -> str:
        extra = f"\n({self.suppressed} similar alerts suppressed)" if self.suppressed else ""
        body = f"\n{self.text}" if self.text else ""
        return f"[{self.severity.name}] {self.title}{body}{extra}"

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "severity": self.severity.name, "title": self.title,
                "text": self.text, "ts_ms": self.ts_ns // 1_000_000, "suppressed": self.suppressed}


class Destination(Protocol):
    def offer(self, alert: Alert) -> None:
        """Take the alert without blocking (queue it, drop the oldest when full)."""


class AlertRouter:
    """``dedupe_s``: an alert whose key was sent less than this long ago is swallowed
    (counted, and mentioned in the next one), unless its severity is higher.
    ``burst``/``per_minute``: token bucket over everything sent; CRITICAL bypasses it."""

    def __init__(self, dedupe_s: float = 300.0, burst: int = 10, per_minute: float = 20.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.dedupe_s = dedupe_s
        self.burst = burst
        self.per_minute = per_minute
        self._clock = clock
        self._tokens = float(burst)
        self._refilled = clock()
        self._last: dict[str, tuple[float, Severity]] = {}
        self._suppressed: dict[str, int] = {}
        self.destinations: list[Destination] = []
        self.sent = 0
        self.deduplicated = 0
        self.rate_limited = 0

    def add_destination(self, dest: Destination) -> None:
        self.destinations.append(dest)

    def alert(self, key: str, severity: Severity, title: str, text: str = "") -> bool:
        """Route one alert; returns whether it went out."""
        now = self._clock()
        previous = self._last.get(key)
        if previous is not None and now - previous[0] < self.dedupe_s and severity <= previous[1]:
            self.deduplicated += 1
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        if severity < Severity.CRITICAL and not self._take_token(now):
            self.rate_limited += 1
            log.warning("alert rate-limited: %s", title)
            return False
        alert = Alert(key, severity, title, text, suppressed=self._suppressed.pop(key, 0))
        self._last[key] = (now, severity)
        self.sent += 1
        log.log(logging.WARNING if severity >= Severity.WARNING else logging.INFO,
                "alert: %s", alert.render())
        for dest in self.destinations:
            dest.offer(alert)
        return True

    def _take_token(self, now: float) -> bool:
        self._tokens = min(float(self.burst),
                           self._tokens + (now - self._refilled) * self.per_minute / 60.0)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
