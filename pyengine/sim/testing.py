"""Running a simulator inside tests and tools.

``running_sim`` (async, inside a trio test) and ``running_sim_thread`` (sync: the simulator
runs in a background thread with its own trio loop, for ccxt or other blocking clients).
"""
from __future__ import annotations

import contextlib
import inspect
import threading
from decimal import Decimal
from typing import AsyncIterator, Iterator

import httpx
import orjson
import trio

from pyengine.book import ASK, BID
from pyengine.sim.server import SimConfig, Simulator


@contextlib.asynccontextmanager
async def running_sim(config: SimConfig | None = None, **overrides) -> AsyncIterator[Simulator]:
    """``async with running_sim(speed="manual", data={...}) as sim:`` -- a started simulator
    on a free loopback port; keyword arguments override :class:`SimConfig` fields."""
    cfg = config or SimConfig(**overrides)
    sim = Simulator(cfg)
    async with trio.open_nursery() as nursery:
        await nursery.start(sim.serve)
        try:
            yield sim
        finally:
            nursery.cancel_scope.cancel()


async def within_one_window(sim: Simulator, window_ms: int, need_ms: int) -> None:
    """Return once the server clock has ``need_ms`` left in its current rate-limit window.
    Binance's windows reset on the server clock, so a test that counts requests within one
    window must not straddle a reset, however slow the machine."""
    left = window_ms - sim.clock.now_ms() % window_ms
    if left < need_ms:
        await trio.sleep((left + 20) / 1000)


async def assert_book_equals_exchange(sim: Simulator, book, levels: int = 200) -> None:
    """A client's book equals the simulator's own depth: the same update id, once the client
    has read what was sent (with a manual clock the depth stands still), and the same top
    ``levels`` on each side."""
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        r = await http.get("/api/v3/depth", params={"symbol": book.spec.symbol, "limit": 5000})
    depth = orjson.loads(r.content)
    with trio.fail_after(10):
        while book.last_update_id < depth["lastUpdateId"]:
            await trio.sleep(0.01)
    assert book.last_update_id == depth["lastUpdateId"], f"{book.spec.symbol}: the book is ahead"
    spec = book.spec
    for side, key in ((BID, "bids"), (ASK, "asks")):
        ours = [(spec.price(p), spec.qty(q)) for p, q in book.top(side, levels)]
        theirs = [(Decimal(p), Decimal(q)) for p, q in depth[key][:levels]]
        assert ours == theirs, f"{spec.symbol} {key} differ"


class SimThread:
    """A simulator in its own thread. ``call(fn, *args)`` runs ``fn`` (sync or async) on
    the simulator's trio loop and returns its result."""

    def __init__(self, config: SimConfig):
        self.config = config
        self.sim: Simulator | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._stop: trio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pyengine-sim", daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:          # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with running_sim(self.config) as sim:
            self.sim = sim
            self._ready.set()
            await self._stop.wait()

    def start(self) -> Simulator:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"simulator failed to start: {self._error!r}") from self._error
        return self.sim

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the simulator's loop (from any other thread) and return its result."""
        if inspect.iscoroutinefunction(fn):
            return trio.from_thread.run(fn, *args, trio_token=self._token)
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout=10)


@contextlib.contextmanager
def running_sim_thread(config: SimConfig | None = None, **overrides) -> Iterator[SimThread]:
    """``with running_sim_thread() as st: st.sim.rest_url ...`` -- for blocking clients."""
    st = SimThread(config or SimConfig(**overrides))
    st.start()
    try:
        yield st
    finally:
        st.stop()
