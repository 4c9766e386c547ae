"""An engine's market data from the collectors' Redis Streams (``pyengine run --feed redis://``).

``StreamMarketData`` stands where the engine's ``TimedMarketData`` (Binance's combined
market streams) stands, with the same interface: the frames the collectors published go
byte for byte into the same C parser and books, and the same hub sees every parsed
message. Orders still go to the venue. The ``Consumer`` merges the copies several
collectors publish (newest wins) and reports every gap: a depth gap makes the symbol's book
unreadable at once; the diffs after it are buffered until a depth snapshot arrives in the
stream (a collector that takes a symbol over publishes one after subscribing) and are then
replayed through it, as Binance's procedure asks (or the newest snapshot already seen is
tried first: a collector that takes over may publish its snapshot before the diff that
reveals the gap). A snapshot that does not come within ``snapshot_wait_s`` is fetched from
the venue's REST API instead.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import trio

from pyengine.book import Book, Feed, MessageError
from pyengine.scaleout.consumer import Consumer, Gap
from pyengine.symbols import SymbolSpec
from pyengine.venue.binance.market import DepthSync

log = logging.getLogger("pyengine.scaleout")
SCHEMES = ("redis://", "rediss://", "unix://")


def stream_kinds(extra_streams: Iterable[str]) -> list[str]:
    """The stream kinds behind the per-symbol streams an engine subscribes besides depth
    (``trade``, ``aggTrade``, ``kline_1m`` ...)."""
    kinds = ["depth"]
    for name in extra_streams:
        kind = "kline" if name.startswith("kline_") else name
        if kind not in ("trade", "aggTrade", "bookTicker", "kline"):
            raise ValueError(f"stream {name!r} is not carried by the collectors' streams")
        if kind not in kinds:
            kinds.append(kind)
    return kinds


class StreamMarketData:
    """Books, bars and marks from ``redis_url``'s streams (key prefix ``prefix``);
    ``on_message(msg, symbol)`` sees every parsed frame, like ``MarketData``'s."""

    def __init__(self, redis_url: str, rest, specs: Iterable[SymbolSpec], *,
                 extra_streams: Iterable[str] = ("trade",), on_message: Callable | None = None,
                 prefix: str = "pe", password: str | None = None, block_ms: int = 200,
                 snapshot_wait_s: float = 5.0, snapshot_limit: int = 1000):
        if not redis_url.startswith(SCHEMES):
            raise ValueError(f"feed {redis_url!r}: expected a Redis URL ({', '.join(SCHEMES)})")
        self.redis_url, self.prefix, self.password = redis_url, prefix, password
        self.block_ms = block_ms
        self.specs = list(specs)
        self.kinds = stream_kinds(extra_streams)
        self.feed = Feed(self.specs)
        self.sync = DepthSync(self.feed, rest, limit=snapshot_limit,
                              feed_snapshot_wait_s=snapshot_wait_s)
        self.on_message = on_message
        self.frames = 0
        self.bad_frames = 0
        self.duplicates = 0            # copies of a fact already delivered (merged away)
        self.gaps: list[Gap] = []      # every gap the consumer reported
        self._snapshots: dict[str, bytes] = {}     # the newest snapshot per symbol
        self.frame_ns = 0              # monotonic ns at which the frame being processed was read
        self.connects = 0
        self.connected = trio.Event()
        self.consumer: Consumer | None = None     # the current reader (its stats)

    def book(self, symbol: str) -> Book:
        return self.feed.book(symbol)

    async def wait_synced(self, symbol: str) -> None:
        await self.sync.wait_synced(symbol)

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        # a (re)start begins at the streams' newest snapshot: nothing older can be trusted
        self.sync.invalidate_all()
        symbols = [s.symbol for s in self.specs]
        self.consumer = consumer = await trio.to_thread.run_sync(lambda: Consumer(
            self.redis_url, symbols, self.kinds, prefix=self.prefix, start="$",
            block_ms=self.block_ms, password=self.password))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.sync.run)
                self.connects += 1
                self.connected.set()
                task_status.started()
                while True:
                    batch = await trio.to_thread.run_sync(consumer.poll, abandon_on_cancel=True)
                    self.duplicates = consumer.stats.duplicates
                    for item in batch:
                        self._process(item)
        finally:
            self.connected = trio.Event()
            consumer.close()

    def _process(self, item) -> None:
        if isinstance(item, Gap):
            self.gaps.append(item)
            log.warning("feed gap: %s", item)
            if item.kind == "depth":
                self.sync.invalidate(item.symbol)
                # the collector that took the symbol over may have published its snapshot
                # before the diff that revealed the gap: start from it
                snapshot = self._snapshots.get(item.symbol)
                if snapshot is not None:
                    self.sync.on_snapshot(item.symbol, snapshot)
            return
        self.frame_ns = time.monotonic_ns()
        self.frames += 1
        if item.entry == "snapshot":
            self._snapshots[item.symbol] = item.msg
            self.sync.on_snapshot(item.symbol, item.msg)
            return
        try:
            msg = self.sync.on_frame(item.msg)
        except MessageError as exc:
            self.bad_frames += 1
            log.warning("malformed frame from collector %s skipped: %s", item.source, exc)
            return
        if self.on_message is not None and msg.symbol >= 0:
            self.on_message(msg, self.feed.specs[msg.symbol].symbol)
