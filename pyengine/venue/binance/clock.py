"""Server-time offset tracking (digest 3.3).

Binance rejects a signed request whose ``timestamp`` is 1000 ms ahead of its clock or older
than ``recvWindow``. The offset is estimated from ``GET /api/v3/time`` (or the WS API ``time``
method) as ``serverTime - (t_send + t_recv) / 2``; of several samples the one with the smallest
round trip wins, since its midpoint bound is the tightest.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class ServerClock:
    offset_ms: float = 0.0        # server time minus local wall time
    rtt_ms: float = float("inf")  # round trip of the sample the offset came from
    samples: int = 0
    _wall: object = field(default=time.time, repr=False)

    def now_ms(self) -> int:
        """The current server time estimate, in ms: the value for ``timestamp``."""
        return int(self._wall() * 1000.0 + self.offset_ms)

    def add_sample(self, sent_ms: float, server_ms: int, received_ms: float) -> None:
        """One ``time`` round trip; local times are wall-clock ms."""
        rtt = received_ms - sent_ms
        if rtt < 0:
            raise ValueError(f"negative round trip ({rtt} ms)")
        if rtt <= self.rtt_ms or self.samples == 0:
            self.offset_ms = server_ms - (sent_ms + received_ms) / 2.0
            self.rtt_ms = rtt
        self.samples += 1

    def reset(self) -> None:
        """Forget the samples (after a -1021 the clock has moved: measure afresh)."""
        self.rtt_ms = float("inf")
        self.samples = 0

    def wall_ms(self) -> float:
        return self._wall() * 1000.0
