"""A live source for collectors: Binance's combined market streams over one websocket.

The subscriptions follow the collector's symbols (``want``): a newly held symbol is subscribed
with ``SUBSCRIBE``, then its REST depth snapshot is fetched and queued behind the first diffs,
exactly as Binance's book procedure asks; a symbol given away is unsubscribed. A dropped
connection is reopened with jittered backoff, everything is resubscribed and re-snapshotted
(the consumer reports the diffs lost in between as a gap).

The websocket runs on its own trio loop in a background thread; the collector's loop reads
frames with ``get(timeout)``.
"""
from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time

import httpx
import orjson
import trio
import trio_websocket

from pyengine.scaleout.sources import Frame
from pyengine.scaleout.streams import normalise

log = logging.getLogger(__name__)
DEFAULT_STREAMS = ("depth@100ms", "trade", "bookTicker")


class LiveSource:
    def __init__(self, stream_url: str, rest_url: str, *, streams=DEFAULT_STREAMS,
                 depth_limit: int = 1000, max_backoff_s: float = 30.0) -> None:
        self.stream_url = stream_url.rstrip("/")
        self.rest_url = rest_url.rstrip("/")
        self.streams = tuple(streams)
        self.depth_limit = depth_limit
        self.max_backoff_s = max_backoff_s
        self.name = stream_url
        self.subscribed: set[str] = set()     # symbols subscribed and snapshotted
        self.connects = 0
        self._frames: queue.SimpleQueue[Frame] = queue.SimpleQueue()
        self._wanted: frozenset[str] = frozenset()
        self._changed: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=trio.run, args=(self._main,),
                                        name="pyengine-collect-ws", daemon=True)

    # ---------------------------------------------------------------- collector side

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def close(self) -> None:
        if self._token is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout=10)

    def want(self, symbols: set[str]) -> None:
        """Subscribe to exactly these symbols (takes effect on the websocket's loop)."""
        wanted = frozenset(symbols)
        if wanted != self._wanted:
            self._wanted = wanted
            # the lambda reads self._changed on the trio loop, never a stale event
            trio.from_thread.run_sync(lambda: self._changed.set(), trio_token=self._token)

    def get(self, timeout: float) -> Frame | None:
        try:
            return self._frames.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    # ---------------------------------------------------------------- websocket loop

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._changed = trio.Event()
        self._stop = trio.Event()
        self._ready.set()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._connection_loop)
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    async def _connection_loop(self) -> None:
        failures = 0
        async with httpx.AsyncClient(base_url=self.rest_url, timeout=10.0) as rest:
            while True:
                error = None
                try:
                    async with trio_websocket.open_websocket_url(
                            f"{self.stream_url}/stream", max_message_size=2**24) as ws:
                        self.connects += 1
                        failures = 0
                        self.subscribed = set()
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._reader, ws)
                            await self._follow(ws, rest)
                except* (trio_websocket.HandshakeError, trio_websocket.ConnectionClosed,
                         OSError, httpx.HTTPError) as group:
                    error = group.exceptions[0]
                failures += 1
                delay = min(self.max_backoff_s, 0.25 * 2 ** failures) * random.uniform(0.5, 1)
                log.warning("%s: %s; reconnecting in %.2f s", self.stream_url, error, delay)
                self.subscribed = set()
                await trio.sleep(delay)

    async def _reader(self, ws) -> None:
        while True:
            msg = await ws.get_message()
            recv = time.time_ns()
            raw = msg.encode() if isinstance(msg, str) else msg
            norm = normalise(raw)
            if norm is not None:
                self._frames.put(Frame(0, recv, raw, norm))

    async def _follow(self, ws, rest: httpx.AsyncClient) -> None:
        while True:
            wanted = self._wanted
            added, removed = wanted - self.subscribed, self.subscribed - wanted
            if removed:
                await self._send(ws, "UNSUBSCRIBE", removed)
                self.subscribed -= removed
            if added:
                await self._send(ws, "SUBSCRIBE", added)
                for symbol in sorted(added):
                    await self._snapshot(rest, symbol)
                    self.subscribed.add(symbol)
            if self._wanted == wanted:
                self._changed = trio.Event()
                await self._changed.wait()

    async def _send(self, ws, method: str, symbols) -> None:
        params = [f"{s.lower()}@{k}" for s in sorted(symbols) for k in self.streams]
        await ws.send_message(orjson.dumps({"method": method, "params": params,
                                            "id": next(self._ids)}).decode())

    async def _snapshot(self, rest: httpx.AsyncClient, symbol: str) -> None:
        path = f"/api/v3/depth?symbol={symbol}&limit={self.depth_limit}"
        r = await rest.get(path)
        r.raise_for_status()
        url = self.rest_url + path
        norm = normalise(r.content, url)
        if norm is None:
            raise httpx.HTTPError(f"{url}: not a depth snapshot")
        self._frames.put(Frame(0, time.time_ns(), r.content, norm))
