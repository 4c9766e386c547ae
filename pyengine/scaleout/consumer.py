"""Reading the collectors' streams: merge, de-duplicate (newest wins) and report every gap.

Two kinds of gap are detected, so none goes unnoticed:

* **stream gaps**: each stream's ``seq`` is consecutive by construction (assigned inside
  Redis); a jump means entries were trimmed by ``MAXLEN`` before this consumer read them;
* **exchange gaps**: depth ``U`` must follow the previous ``u`` + 1, trade and aggTrade ids
  are consecutive; a jump means no collector published those messages (a collector died and
  its symbol was taken over, a connection dropped). A depth gap means the book must be
  re-synchronised from a fresh snapshot.

Several collectors may publish the same fact (a hand-over, redundant collectors): per symbol and
kind only a message newer than the last delivered one passes (larger exchange sequence, or for
klines a later event time); older copies are counted as duplicates and dropped. Snapshots are
ordered among themselves (a newer ``lastUpdateId`` passes). Within one
read, events from all streams are merged by receive time.
"""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterable
from typing import NamedTuple

import redis

from pyengine.scaleout.streams import CONTIGUOUS, KINDS, snapshot_key, stream_key


class Event(NamedTuple):
    recv_ts_ns: int
    msg: bytes               # the exchange's message, byte for byte
    symbol: str
    kind: str                # stream kind
    entry: str               # "snapshot" for REST depth snapshots, else the kind
    first: int
    last: int
    event_ms: int
    seq: int
    source: str              # collector id
    stream_id: str


class Gap(NamedTuple):
    recv_ts_ns: int          # receive time of the message that revealed it
    symbol: str
    kind: str
    level: str               # "stream" (trimmed in Redis) or "exchange" (never published)
    expected: int            # first missing sequence number
    got: int                 # first sequence number present after the gap

    def __str__(self) -> str:
        what = "stream entries (trimmed by MAXLEN)" if self.level == "stream" else "messages"
        return (f"{self.symbol} {self.kind}: {what} {self.expected}..{self.got - 1} missing "
                f"({self.got - self.expected})")


@dataclasses.dataclass
class ConsumerStats:
    delivered: int = 0
    duplicates: int = 0
    gaps: list[Gap] = dataclasses.field(default_factory=list)


class Consumer:
    """Blocking reader of ``symbols`` x ``kinds`` streams. ``start="$"`` reads what is
    published from now on (depth begins at the latest snapshot when there is one), ``"0"``
    everything the streams still hold. ``password`` (AUTH) keeps a secret out of the URL."""

    def __init__(self, redis_url: str, symbols: Iterable[str], kinds: Iterable[str] = KINDS, *,
                 prefix: str = "pe", start: str = "$", block_ms: int = 1000,
                 count: int = 1000, password: str | None = None) -> None:
        kinds = list(kinds)
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"unknown stream kinds {bad}; known: {', '.join(KINDS)}")
        if start not in ("$", "0"):
            raise ValueError(f"start={start!r}: use '$' (new data) or '0' (all retained)")
        self.r = (redis.Redis.from_url(redis_url, password=password) if password
                  else redis.Redis.from_url(redis_url))
        self.prefix = prefix
        self.block_ms = block_ms
        self.count = count
        self.stats = ConsumerStats()
        self._streams = {stream_key(prefix, s, k): (s, k) for s in symbols for k in kinds}
        self._last_seq: dict[str, int] = {}
        self._last: dict[tuple[str, str], tuple[int, int]] = {}
        self._pending: list[Event | Gap] = []
        self.positions = {key: "0-0" for key in self._streams}
        if start == "$":
            self._start_at_latest()

    def close(self) -> None:
        self.r.close()

    def _start_at_latest(self) -> None:
        for key, (symbol, kind) in self._streams.items():
            last = self.r.xrevrange(key, count=1)
            self.positions[key] = last[0][0].decode() if last else "0-0"
            if kind == "depth":
                snap = self.r.hgetall(snapshot_key(self.prefix, symbol))
                if snap:
                    self._start_at_snapshot(key, snap[b"id"].decode())

    def _start_at_snapshot(self, key: str, sid: str) -> None:
        """Begin with the diffs that were buffered for the latest snapshot (published just
        before it, ``u`` past its ``lastUpdateId``), then the snapshot, then what follows."""
        snap = self.r.xrange(key, min=sid, max=sid)
        if not snap:
            return                                   # trimmed away: start from now
        last_update = int(snap[0][1][b"b"])
        before = []
        for entry_id, fields in self.r.xrevrange(key, max=f"({sid}", count=1000):
            if fields[b"k"] == b"depth" and int(fields[b"b"]) > last_update:
                before.append((entry_id, fields))
                if int(fields[b"a"]) <= last_update + 1:
                    break
        for entry_id, fields in [*reversed(before), *snap]:
            self._pending.extend(self._accept(key, entry_id, fields))
        self.positions[key] = sid

    def poll(self) -> list[Event | Gap]:
        """The next events and gaps in order (waits up to ``block_ms`` for something new)."""
        out, self._pending = self._pending, []
        if out:
            return out
        reply = self.r.xread(self.positions, count=self.count, block=self.block_ms) or []
        for key, entries in reply:
            key = key.decode()
            for entry_id, fields in entries:
                out.extend(self._accept(key, entry_id, fields))
        out.sort(key=lambda item: item.recv_ts_ns)      # stable: a gap stays before its event
        return out

    def _accept(self, key: str, entry_id: bytes, f: dict) -> list[Event | Gap]:
        sid = entry_id.decode()
        self.positions[key] = sid
        symbol, kind = self._streams[key]
        ev = Event(int(f[b"r"]), f[b"m"], symbol, kind, f[b"k"].decode(), int(f[b"a"]),
                   int(f[b"b"]), int(f[b"E"]), int(f[b"seq"]), f[b"c"].decode(), sid)
        out: list[Event | Gap] = []
        prev_seq = self._last_seq.get(key)
        if prev_seq is not None and ev.seq > prev_seq + 1:
            out.append(self._gap(ev, "stream", prev_seq + 1, ev.seq))
        self._last_seq[key] = max(ev.seq, prev_seq or 0)
        # A REST snapshot is ordered among snapshots only: it arrives after the diffs that
        # are buffered for it, exactly as in Binance's book-building procedure.
        line = (symbol, ev.entry)
        order = (ev.first, ev.event_ms) if kind == "kline" else (ev.last, 0)
        prev = self._last.get(line)
        if prev is not None:
            if order <= prev:
                self.stats.duplicates += 1
                return out
            if CONTIGUOUS[kind] and ev.entry != "snapshot" and ev.first > prev[0] + 1:
                out.append(self._gap(ev, "exchange", prev[0] + 1, ev.first))
        self._last[line] = order
        self.stats.delivered += 1
        out.append(ev)
        return out

    def _gap(self, ev: Event, level: str, expected: int, got: int) -> Gap:
        gap = Gap(ev.recv_ts_ns, ev.symbol, ev.kind, level, expected, got)
        self.stats.gaps.append(gap)
        return gap


async def consume(redis_url: str, symbols: Iterable[str], kinds: Iterable[str] = KINDS,
                  **options) -> AsyncIterator[Event | Gap]:
    """Events and gaps from the collectors' streams, for trio code (``--feed redis://...``).

    Reads run in a worker thread (redis-py blocks); cancelling the caller abandons the read.
    Options are those of ``Consumer``."""
    import trio

    consumer = Consumer(redis_url, symbols, kinds, **options)
    try:
        while True:
            batch = await trio.to_thread.run_sync(consumer.poll, abandon_on_cancel=True)
            for item in batch:
                yield item
    finally:
        consumer.close()
