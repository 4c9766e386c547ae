"""Market streams and local order books (digest 11).

One combined-stream connection (``/stream``) carries every subscribed stream; streams are
(re)subscribed with ``SUBSCRIBE`` after each connect. Frames go to the C parser
(:class:`pyengine.book.Feed`), which applies depth diffs to the C books in place.

Book sync follows Binance's procedure (digest 11.4) on top of the C book's states: a diff the
book cannot take (no snapshot yet, out of sync, gap) is buffered and a REST snapshot is
requested; when it arrives it is loaded and the buffer replayed through the same parser. The C
book drops diffs already contained in the snapshot (``u <= lastUpdateId``), checks that the
first applied one straddles it (``U <= lastUpdateId + 1``) and flags any later gap; a gap
during replay means the snapshot was older than the buffer, so a newer one is fetched. On
disconnect every book is invalidated at once, so no stale price can be read while away.
"""
from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from typing import Callable, Iterable

import orjson
import trio
from trio_websocket import WebSocketConnection

from pyengine.book import (OK, SYNC_CROSSED, SYNC_GAP, SYNC_NO_SNAPSHOT, SYNC_OUT_OF_SYNC, Book,
                           BookError, Feed, MessageError)
from pyengine._core import lib
from pyengine.symbols import SymbolSpec
from pyengine.venue.binance.connection import (Backoff, ConnectionStats, Reconnect,
                                               keep_connected)
from pyengine.venue.binance.endpoints import Endpoints
from pyengine.venue.binance.errors import BinanceError, RateLimited
from pyengine.venue.binance.rest import RestClient

log = logging.getLogger("pyengine.venue.binance")

_RESYNC = frozenset({SYNC_NO_SNAPSHOT, SYNC_OUT_OF_SYNC, SYNC_GAP, SYNC_CROSSED})
MAX_STREAMS_PER_SUBSCRIBE = 200


class DepthSync:
    """Keeps the feed's books in sync; ``on_frame`` is called for every stream frame."""

    def __init__(self, feed: Feed, rest: RestClient, *, limit: int = 1000, max_buffer: int = 20_000,
                 retry_delay: float = 0.25, feed_snapshot_wait_s: float = 0.0):
        self.feed = feed
        self.rest = rest
        self.limit = limit
        self.retry_delay = retry_delay
        # a feed that carries snapshots itself (the collectors' streams, ``on_snapshot``):
        # how long a book waits for one before asking REST
        self.feed_snapshot_wait_s = feed_snapshot_wait_s
        self._buffers: dict[str, deque[bytes]] = {s.symbol: deque(maxlen=max_buffer) for s in feed.specs}
        self._wanted: set[str] = set()          # snapshot requested, not yet in sync
        self._first_diff: set[str] = set()      # snapshot loaded, next live diff completes sync
        self._send, self._recv = trio.open_memory_channel(len(feed.specs) + 1)
        self._synced = {s.symbol: trio.Event() for s in feed.specs}
        self.snapshots = 0      # snapshots loaded
        self.resyncs = 0        # gaps / crossed books that forced a new snapshot

    def on_frame(self, frame: bytes):
        """Parse one frame (depth diffs applied in C); returns the parser's message."""
        msg = self.feed.on_message(frame)
        if msg.kind == lib.PE_MSG_DEPTH:
            status = msg.status
            if status in _RESYNC:
                sym = self.feed.symbol_of(msg)
                if status in (SYNC_GAP, SYNC_CROSSED):
                    self.resyncs += 1
                    self._first_diff.discard(sym)
                    if self._synced[sym].is_set():
                        self._synced[sym] = trio.Event()
                if status != SYNC_CROSSED:      # a crossed diff was applied; later ones follow
                    self._buffers[sym].append(bytes(frame))
                if sym not in self._wanted:
                    self._wanted.add(sym)
                    self._send.send_nowait(sym)
            elif status == OK and self._first_diff:
                sym = self.feed.symbol_of(msg)
                if sym in self._first_diff:
                    self._first_diff.discard(sym)
                    self._synced[sym].set()
        return msg

    def invalidate_all(self) -> None:
        """The stream is down: nothing in the books can be trusted any more."""
        for spec in self.feed.specs:
            self.invalidate(spec.symbol)

    def invalidate(self, symbol: str) -> None:
        """Messages of ``symbol`` were lost: its book is unreadable until a new snapshot."""
        self.feed.book(symbol).invalidate()
        self._buffers[symbol].clear()
        self._first_diff.discard(symbol)
        if self._synced[symbol].is_set():
            self._synced[symbol] = trio.Event()

    def on_snapshot(self, symbol: str, body: bytes) -> None:
        """A depth snapshot the feed delivered itself, after the diffs buffered for it:
        loaded unless the book is in sync or has one already."""
        if self.feed.book(symbol).synced or symbol in self._first_diff:
            return
        try:
            self._load(symbol, body)
        except BookError as exc:
            log.warning("%s: bad depth snapshot from the feed: %s", symbol, exc)

    async def wait_synced(self, symbol: str) -> None:
        while not self.feed.book(symbol).synced:
            await self._synced[symbol].wait()

    async def run(self) -> None:
        """Snapshot worker: one snapshot at a time, in request order."""
        async for sym in self._recv:
            await self._resync(sym)

    async def _resync(self, sym: str) -> None:
        book = self.feed.book(sym)
        if self.feed_snapshot_wait_s:
            with trio.move_on_after(self.feed_snapshot_wait_s):
                await self.wait_synced(sym)
            if book.synced or sym in self._first_diff:
                self._wanted.discard(sym)
                return
            log.info("%s: no depth snapshot from the feed in %.1f s: asking REST", sym,
                     self.feed_snapshot_wait_s)
        failures = 0
        while True:
            try:
                body = await self.rest.depth_raw(sym, self.limit)
            except BinanceError as exc:
                # rate limited, banned or unreachable: the book stays unreadable; try again
                failures += 1
                wait = exc.retry_at - trio.current_time() if isinstance(exc, RateLimited) else 0.0
                log.warning("%s: depth snapshot failed (%s); retrying", sym, exc)
                await trio.sleep(max(wait, min(30.0, self.retry_delay * 2 ** failures)))
                continue
            try:
                if self._load(sym, body):
                    return
            except BookError as exc:
                log.warning("%s: bad depth snapshot: %s", sym, exc)
                await trio.sleep(self.retry_delay)
                continue
            # the first unusable diff lies beyond the snapshot: it is too old, fetch a newer one
            log.info("%s: snapshot %d older than buffered diffs, fetching again", sym, book.last_update_id)
            await trio.sleep(self.retry_delay)

    def _load(self, sym: str, body: bytes) -> bool:
        """Load a snapshot and replay the buffered diffs through it; False when a buffered
        diff lies beyond it (too old: another one is needed)."""
        book, buf = self.feed.book(sym), self._buffers[sym]
        book.load_snapshot(body)
        self.snapshots += 1
        while buf and self.feed.on_message(buf[0]).status not in _RESYNC:
            buf.popleft()
        if buf:
            return False
        self._wanted.discard(sym)
        if book.synced:
            self._synced[sym].set()
        else:
            self._first_diff.add(sym)
        return True


def stream_names(specs: Iterable[SymbolSpec], *, depth: str | None = "depth@100ms",
                 extra: Iterable[str] = ()) -> list[str]:
    """``btcusdt@depth@100ms`` etc. for every symbol, plus ``<s>@<extra>`` for each extra."""
    out = []
    for spec in specs:
        s = spec.symbol.lower()
        if depth:
            out.append(f"{s}@{depth}")
        out += [f"{s}@{e}" for e in extra]
    return out


class MarketData:
    """One combined-stream connection feeding the C parser and the book sync.

    ``on_message(msg, symbol)`` (optional) sees every parsed frame, including depth diffs
    whose status says the book is not in sync; the message struct is reused per frame, and
    :attr:`frame_ns` holds the frame's receive time (monotonic ns) for latency stamps."""

    def __init__(self, endpoints: Endpoints, rest: RestClient, specs: Iterable[SymbolSpec], *,
                 depth: str | None = "depth@100ms", extra_streams: Iterable[str] = (),
                 snapshot_limit: int = 1000, on_message: Callable | None = None,
                 max_age: float = 23.5 * 3600, ping_interval: float = 30.0,
                 backoff: Backoff | None = None):
        self.specs = list(specs)
        self.feed = Feed(self.specs)
        self.sync = DepthSync(self.feed, rest, limit=snapshot_limit)
        self.endpoints = endpoints
        self.streams = stream_names(self.specs, depth=depth, extra=extra_streams)
        self.on_message = on_message
        self.max_age = max_age
        self.ping_interval = ping_interval
        self.backoff = backoff or Backoff()
        self.stats = ConnectionStats()
        self.frames = 0
        self.bad_frames = 0
        self.frame_ns = 0          # monotonic ns at which the frame being processed was read
        self._ids = itertools.count(1)
        self.connected = trio.Event()

    def book(self, symbol: str) -> Book:
        return self.feed.book(symbol)

    async def wait_synced(self, symbol: str) -> None:
        await self.sync.wait_synced(symbol)

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.sync.run)
            started = False

            async def session(ws: WebSocketConnection) -> None:
                nonlocal started
                await self._subscribe(ws)
                self.connected.set()
                if not started:
                    started = True
                    task_status.started()
                await self._pump(ws)

            await keep_connected(f"{self.endpoints.streams}/stream", session, stats=self.stats,
                                 on_down=self._on_down, max_age=self.max_age,
                                 ping_interval=self.ping_interval, backoff=self.backoff)

    def _on_down(self) -> None:
        self.sync.invalidate_all()
        if self.connected.is_set():
            self.connected = trio.Event()

    async def _subscribe(self, ws: WebSocketConnection) -> None:
        """SUBSCRIBE in chunks and wait for each ``{"result": null, "id": n}``; stream frames
        that arrive meanwhile are processed, not lost."""
        for i in range(0, len(self.streams), MAX_STREAMS_PER_SUBSCRIBE):
            rid = next(self._ids)
            chunk = self.streams[i:i + MAX_STREAMS_PER_SUBSCRIBE]
            await ws.send_message(orjson.dumps({"method": "SUBSCRIBE", "params": chunk, "id": rid}).decode())
            with trio.move_on_after(10) as waited:
                while True:
                    raw = await ws.get_message()
                    frame = raw.encode() if isinstance(raw, str) else raw
                    if frame.startswith(b'{"result"') or frame.startswith(b'{"code"') or b'"id"' in frame[:40]:
                        reply = orjson.loads(frame)
                        if reply.get("id") == rid:
                            if "code" in reply:
                                raise Reconnect(f"SUBSCRIBE rejected: {reply}")
                            break
                    self._process(frame)
            if waited.cancelled_caught:
                raise Reconnect("no answer to SUBSCRIBE within 10 s")

    async def _pump(self, ws: WebSocketConnection) -> None:
        while True:
            raw = await ws.get_message()
            self._process(raw.encode() if isinstance(raw, str) else raw)

    def _process(self, frame: bytes) -> None:
        self.frame_ns = time.monotonic_ns()
        self.frames += 1
        if b'"serverShutdown"' in frame[:64]:
            raise Reconnect("serverShutdown announced")
        try:
            msg = self.sync.on_frame(frame)
        except MessageError as exc:
            # the C parser left every book untouched; a lost diff shows up as a gap later
            self.bad_frames += 1
            log.warning("malformed stream frame skipped: %s", exc)
            return
        if self.on_message is not None and msg.symbol >= 0:
            self.on_message(msg, self.feed.specs[msg.symbol].symbol)
