"""Reconnect back-off: full jitter, exponential, capped, reset after a good connection."""
from __future__ import annotations

import random

import pytest
import trio
import trio_websocket

from pyengine.venue.binance.connection import (Backoff, ConnectionStats, Reconnect, _watchdog, describe,
                                               is_connection_error)


def test_backoff_is_jittered_exponential_and_capped():
    b = Backoff(base=0.5, cap=8.0, rng=random.Random(7))
    delays = [b.next() for _ in range(12)]
    bounds = [min(8.0, 0.5 * 2 ** i) for i in range(12)]
    assert all(0 <= d <= hi for d, hi in zip(delays, bounds))
    assert len(set(delays)) == 12                      # jittered, not a fixed schedule
    assert max(delays[6:]) > 4.0                        # grows towards the cap
    b.reset()
    assert b.next() <= 0.5


def test_connection_errors_are_recognised_inside_exception_groups():
    closed = trio_websocket.ConnectionClosed(None)
    assert is_connection_error(ExceptionGroup("x", [closed, Reconnect("serverShutdown")]))
    assert is_connection_error(OSError("refused"))
    assert not is_connection_error(ExceptionGroup("x", [closed, KeyError("bug")]))


class _DeadPeer:
    """A connection whose pongs never come back."""

    def __init__(self):
        self.closed_by_us = False

    async def ping(self):
        await trio.sleep_forever()

    async def aclose(self):
        self.closed_by_us = True


async def test_watchdog_closes_a_connection_without_pongs(autojump_clock):
    stats = ConnectionStats()
    peer = _DeadPeer()

    async def run():
        with pytest.raises(Reconnect, match="no pong"):
            await _watchdog(peer, stats, 30.0, 10.0, trio.CancelScope())

    start = trio.current_time()
    await run()
    assert peer.closed_by_us and stats.ping_timeouts == 1
    assert trio.current_time() - start == pytest.approx(40.0)     # 30 s interval + 10 s wait


def test_describe_names_the_leaves_of_exception_groups():
    group = ExceptionGroup("outer", [OSError("refused"), ExceptionGroup("inner", [Reconnect("no pong")])])
    assert describe(group) == "OSError: refused; Reconnect: no pong"
