"""``engine.busy_poll``: the trio loop polls its sockets instead of sleeping between events,
while the engine keeps reading its feed and stops cleanly."""
from __future__ import annotations

import pytest
import trio

from tests.integration.harness import engine_on_sim, fast_strategies


class IoWaits(trio.abc.Instrument):
    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def before_io_wait(self, timeout: float) -> None:
        self.timeouts.append(timeout)


async def _frames(engine, n: int) -> None:
    start = engine.hub.messages
    while engine.hub.messages < start + n:
        await trio.sleep(0.01)


@pytest.mark.parametrize("busy_poll", [True, False])
async def test_busy_poll_never_blocks_the_loop(tmp_path, busy_poll):
    waits = IoWaits()
    async with engine_on_sim(tmp_path, fast_strategies(("BTCUSDT",))) as (sim, engine):
        engine.cfg.engine.busy_poll = busy_poll

        async def watch() -> None:
            await engine.ready.wait()
            await _frames(engine, 20)          # the feed is up (and the spinner running)
            trio.lowlevel.add_instrument(waits)
            await _frames(engine, 100)
            trio.lowlevel.remove_instrument(waits)
            engine.request_shutdown("test done")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            code = await engine.run()
    assert code == 0
    assert waits.timeouts
    if busy_poll:
        assert max(waits.timeouts) == 0        # never slept: the feed was polled
    else:
        assert max(waits.timeouts) > 0         # idle between frames: slept in epoll
