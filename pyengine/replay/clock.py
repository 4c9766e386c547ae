"""The replay's clock: the recording's receive time, for every part of the decision path.

A replay must not depend on when or how fast it runs, so the engine's execution, strategy
runner, user data and the in-process venue are given this clock instead of the ``time``
module's (risk day/week windows, order-rate caps, protective-exit ids, stage stamps): both
the wall and the monotonic clock are the receive time of the recording line being processed.
"""
from __future__ import annotations


class ReplayClock:
    def __init__(self, now_ns: int = 0):
        self.now_ns = now_ns

    def time_ns(self) -> int:
        return self.now_ns

    def monotonic_ns(self) -> int:
        return self.now_ns

    def now_ms(self) -> int:
        return self.now_ns // 1_000_000
