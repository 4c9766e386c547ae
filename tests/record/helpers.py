"""Driving a Recorder against an in-process simulator with a manual market clock."""
from __future__ import annotations

import contextlib
import pathlib
from typing import AsyncIterator

import trio

from pyengine.record.recorder import Recorder
from pyengine.venue.binance.connection import Backoff
from pyengine.venue.binance.endpoints import Endpoints

ALL_STREAMS = ["depth@100ms", "trade", "bookTicker", "aggTrade", "kline_1m"]


class FixedBackoff(Backoff):
    """A known reconnect delay, so a test can change the market while the recorder is away."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    def next(self) -> float:
        self.attempt += 1
        return self.delay


def endpoints_of(sim) -> Endpoints:
    return Endpoints.local(sim.rest_url, sim.ws_api_url, sim.stream_url, "sim")


@contextlib.asynccontextmanager
async def recording(sim, out: pathlib.Path, symbols=("BTCUSDT", "ETHUSDT"), streams=ALL_STREAMS,
                    **options) -> AsyncIterator[Recorder]:
    """A recorder running on ``sim``; its files are closed when the block ends."""
    rec = Recorder(endpoints_of(sim), symbols, streams, out, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(rec.run)
        yield rec
        nursery.cancel_scope.cancel()


async def play(sim, rec: Recorder, ms: int, step_ms: int = 250) -> None:
    """Replay ``ms`` of market time, letting the recorder read what was sent."""
    for _ in range(ms // step_ms):
        await sim.advance(step_ms)
        await trio.sleep(0.01)
    await caught_up(sim, rec)


async def caught_up(sim, rec: Recorder) -> None:
    """Wait until the recorder has every diff the simulator published."""
    with trio.fail_after(10):
        while any(u != sim.markets[sym].update_id for sym, u in rec.last_update_ids().items()):
            await trio.sleep(0.02)
    rec.flush()
