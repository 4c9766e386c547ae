"""Test drivers for the bundled recordings: a frame-by-frame replay through the C parser and
books, and a decoding for the reference model that is independent of the C parser."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

import orjson

from pyengine._core import lib
from pyengine.book import BookError, Feed, MessageError, OK, STALE, SYNC_GAP, SYNC_NO_SNAPSHOT
from pyengine.recording import frames

_SNAPSHOT_PREFIX = b'{"lastUpdateId"'


def scaled(text: str, scale: int) -> int:
    v = Decimal(text).scaleb(scale)
    assert v == v.to_integral_value(), text
    return int(v)


def model_events(path, spec):
    """('snapshot', lid, bids, asks) / ('diff', U, u, bids, asks) in recording order."""
    ps, qs = spec.price_scale, spec.qty_scale
    for _, raw in frames(path):
        obj = orjson.loads(raw)
        data = obj.get("data", obj)
        lv = lambda levels: [(scaled(p, ps), scaled(q, qs)) for p, q in levels]  # noqa: E731
        if "lastUpdateId" in data:
            yield ("snapshot", data["lastUpdateId"], lv(data["bids"]), lv(data["asks"]))
        elif data.get("e") == "depthUpdate":
            yield ("diff", data["U"], data["u"], lv(data["b"]), lv(data["a"]))


@dataclass
class ReplayStats:
    messages: int = 0
    depth_applied: int = 0
    depth_stale: int = 0
    depth_buffered: int = 0
    gaps: int = 0
    snapshots: int = 0
    trades: int = 0
    book_tickers: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)


class BookReplayer:
    """Drives a :class:`Feed` from recorded frames, following Binance's book-sync procedure:
    diffs that arrive before the snapshot are buffered and applied after it."""

    def __init__(self, feed: Feed, symbol: str):
        self.feed = feed
        self.symbol = symbol
        self.book = feed.book(symbol)
        self.stats = ReplayStats()
        self._pending: list[bytes] = []

    def on_frame(self, frame: bytes) -> None:
        st = self.stats
        st.messages += 1
        if frame.startswith(_SNAPSHOT_PREFIX):
            self.book.load_snapshot(frame)
            st.snapshots += 1
            pending, self._pending = self._pending, []
            for raw in pending:
                self._apply(raw, buffered=True)
            return
        t0 = time.perf_counter_ns()
        self._apply(frame, buffered=False)
        st.latencies_ns.append(time.perf_counter_ns() - t0)

    def _apply(self, frame: bytes, buffered: bool) -> None:
        st = self.stats
        try:
            msg = self.feed.on_message(frame)
        except MessageError as exc:
            st.errors.append(str(exc))
            return
        kind, status = msg.kind, msg.status
        if kind == lib.PE_MSG_DEPTH:
            if status == OK:
                st.depth_applied += 1
            elif status == STALE:
                st.depth_stale += 1
            elif status == SYNC_NO_SNAPSHOT and not buffered:
                self._pending.append(frame)
                st.depth_buffered += 1
            elif status == SYNC_GAP:
                st.gaps += 1
        elif kind == lib.PE_MSG_TRADE:
            st.trades += 1
        elif kind == lib.PE_MSG_BOOKTICKER:
            st.book_tickers += 1


def replay(path, feed: Feed, symbol: str,
           on_tick: Callable[[BookReplayer, int], None] | None = None,
           tick_every_ns: int = 500_000_000) -> BookReplayer:
    """Replay ``path`` frame by frame as fast as possible; ``on_tick`` is called about
    every ``tick_every_ns`` of recorded time."""
    r = BookReplayer(feed, symbol)
    first_ts = next_tick = None
    for ts, frame in frames(path):
        if first_ts is None:
            first_ts, next_tick = ts, ts
        try:
            r.on_frame(frame)
        except BookError as exc:
            r.stats.errors.append(str(exc))
        if on_tick and ts >= next_tick:
            on_tick(r, ts - first_ts)
            next_tick = ts + tick_every_ns
    return r
