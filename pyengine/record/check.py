"""Checking a recording: does every symbol's book rebuild, and where is data missing?

The recording (a file, or a directory's files merged by receive time) is read the way a live
client reads the stream: diff-depth frames go through the C parser into a
:class:`~pyengine.book.Book`; a diff the book cannot take (no snapshot yet, skipped update ids,
a crossed book) is buffered and the book waits for the next REST snapshot line, which is loaded
and the buffer replayed (dropping diffs the snapshot already contains). A snapshot that
arrives while the book is in sync but is ahead of it (as after a reconnect, before the new
connection's first diff) is kept and used as soon as the next diff jumps. Each loss of sync is
a *gap*; it is *recovered* when a snapshot brings the book back. Trade and aggTrade id
jumps are listed too. Nothing goes missing silently: depth by update ids, trades by trade ids.

A snapshot line is attributed to the symbol in its ``url``; one without a ``url`` (the bundled
single-symbol recordings) to the symbol of the surrounding frames. Price and quantity scales
come from the ``exchangeInfo.json`` the recorder keeps next to its files, else from the bundled
exchangeInfo.
"""
from __future__ import annotations

import datetime as _dt
import os
import pathlib
import re
import urllib.parse
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Mapping

import orjson

from pyengine import bundled
from pyengine.book import (ASK, BID, OK, STALE, SYNC_CROSSED, SYNC_GAP, SYNC_NO_SNAPSHOT,
                           SYNC_OUT_OF_SYNC, Book, BookError, Feed, MessageError)
from pyengine.record.names import DIFF_DEPTH
from pyengine.record.recorder import EXCHANGE_INFO_FILE
from pyengine.recording import RecordingError, records
from pyengine.symbols import SymbolSpec, load_exchange_info

_WAIT = frozenset({SYNC_GAP, SYNC_OUT_OF_SYNC, SYNC_NO_SNAPSHOT})
_TRADE_ID = {"trade": re.compile(rb'"t":(\d+)'), "aggTrade": re.compile(rb'"a":(\d+)')}
_LAST_UPDATE_ID = re.compile(rb'^\{"lastUpdateId":(\d+)')
MAX_BUFFER = 200_000
COMPARE_LEVELS = 20


@dataclass
class Gap:
    lost_ns: int                    # receive time of the diff that could not be applied
    recovered_ns: int | None        # receive time of the snapshot that restored the book
    after_id: int                   # the book's last update id before the gap
    cause: str                      # "update ids skipped" or "book crossed"


@dataclass
class SymbolCheck:
    symbol: str
    frames: Counter = field(default_factory=Counter)    # stream type -> frames
    snapshots: int = 0              # snapshot lines
    snapshots_loaded: int = 0       # of those, loaded to (re)build the book
    snapshots_compared: int = 0     # in-sync snapshots at the book's own id, compared with it
    snapshot_mismatches: int = 0    # of those, showing other levels than the book
    applied: int = 0                # diffs applied to a synced book
    unusable: int = 0               # diffs before the first snapshot that it already contained
    first_sync_ns: int | None = None
    gaps: list[Gap] = field(default_factory=list)
    trade_gaps: list[tuple[str, int, int]] = field(default_factory=list)  # (stream, last id, next id)
    errors: list[str] = field(default_factory=list)
    first_ns: int | None = None
    last_ns: int | None = None
    in_sync_at_end: bool = False
    book: Book | None = None

    @property
    def has_depth(self) -> bool:
        return any(k in DIFF_DEPTH for k in self.frames)

    @property
    def synced(self) -> bool:
        """The book could be rebuilt and is in sync at the end of the recording."""
        return self.first_sync_ns is not None and self.in_sync_at_end

    @property
    def unrecovered(self) -> int:
        return sum(1 for g in self.gaps if g.recovered_ns is None)

    @property
    def ok(self) -> bool:
        depth_ok = not self.has_depth or (self.synced and not self.unrecovered)
        return depth_ok and not self.snapshot_mismatches and not self.errors

    def describe(self) -> str:
        lines = [f"{self.symbol}: {sum(self.frames.values())} frames "
                 f"({', '.join(f'{n} {k}' for k, n in sorted(self.frames.items()))}), "
                 f"{self.snapshots} snapshots; {_when(self.first_ns)} .. {_when(self.last_ns)}"]
        if self.has_depth:
            state = "in sync at the end" if self.synced else "NOT in sync at the end"
            first = _when(self.first_sync_ns) if self.first_sync_ns else "never"
            lines.append(f"  book: first in sync {first}, {self.applied} diffs applied, "
                         f"{self.snapshots_loaded} snapshots loaded, {len(self.gaps)} gaps "
                         f"({len(self.gaps) - self.unrecovered} recovered), {state}")
            for g in self.gaps:
                back = _when(g.recovered_ns) if g.recovered_ns else "NOT RECOVERED"
                lines.append(f"  gap after update id {g.after_id} ({g.cause}): {_when(g.lost_ns)} -> {back}")
        for stream, last, nxt in self.trade_gaps:
            lines.append(f"  {stream} ids {last + 1}..{nxt - 1} missing")
        if self.snapshots_compared:
            lines.append(f"  {self.snapshots_compared} snapshots taken at the book's own update id: "
                         f"{self.snapshot_mismatches} disagree with it")
        lines += [f"  error: {e}" for e in self.errors[:10]]
        return "\n".join(lines)


def _when(ns: int | None) -> str:
    if ns is None:
        return "-"
    return _dt.datetime.fromtimestamp(ns / 1e9, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class _SymbolReader:
    def __init__(self, spec: SymbolSpec):
        self.spec = spec
        self.feed = Feed([spec])
        self.book = self.feed.book(spec.symbol)
        self.result = SymbolCheck(spec.symbol, book=self.book)
        self.buffer: deque[tuple[int, bytes]] = deque(maxlen=MAX_BUFFER)
        self.lost: Gap | None = None
        self.last_trade: dict[str, int] = {}
        self.waiting = True         # the book needs a snapshot before it can take diffs
        self.ahead: tuple[int, bytes] | None = None     # in-sync snapshot beyond the book's id

    def on_frame(self, kind: str, frame: bytes, ts: int) -> None:
        r = self.result
        r.frames[kind] += 1
        if kind in DIFF_DEPTH:
            self._diff(frame, ts)
        elif kind in _TRADE_ID:
            m = _TRADE_ID[kind].search(frame)
            if m is None:
                r.errors.append(f"{kind} frame without an id at {_when(ts)}")
                return
            tid, last = int(m[1]), self.last_trade.get(kind)
            if last is not None and tid > last + 1:
                r.trade_gaps.append((kind, last, tid))
            if last is None or tid > last:
                self.last_trade[kind] = tid

    def _diff(self, frame: bytes, ts: int) -> None:
        r = self.result
        try:
            status = self.feed.on_message(frame).status
        except MessageError as exc:
            r.errors.append(f"bad depth frame at {_when(ts)}: {exc}")
            return
        if status == OK:
            if not self.waiting:
                r.applied += 1
                if self.ahead is not None and self.book.last_update_id >= self.ahead[0]:
                    self.ahead = None
        elif status == STALE:
            pass
        elif status == SYNC_CROSSED:
            self._lose(ts, "book crossed")
        elif status == SYNC_GAP and not self.waiting:
            self._lose(ts, "update ids skipped")
            self.buffer.append((ts, frame))
            if self.ahead is not None:
                # a snapshot seen before the jump (e.g. right after a reconnect) may cover it
                self._load(self.ahead[1], ts)
        else:                       # waiting for a snapshot: keep it for after the snapshot
            self.buffer.append((ts, frame))

    def _lose(self, ts: int, cause: str) -> None:
        self.waiting = True
        self.buffer.clear()
        self.lost = Gap(ts, None, self.book.last_update_id, cause)
        self.result.gaps.append(self.lost)

    def on_snapshot(self, body: bytes, ts: int) -> None:
        self.result.snapshots += 1
        if self.waiting:
            self._load(body, ts)
            return
        m = _LAST_UPDATE_ID.match(body)
        if m is None:
            self.result.errors.append(f"bad depth snapshot at {_when(ts)}: no lastUpdateId")
        elif int(m[1]) == self.book.last_update_id:
            self._compare(body)
        elif int(m[1]) > self.book.last_update_id:
            self.ahead = (int(m[1]), body)

    def _load(self, body: bytes, ts: int) -> None:
        r = self.result
        self.ahead = None
        try:
            self.book.load_snapshot(body)
        except BookError as exc:
            r.errors.append(f"bad depth snapshot at {_when(ts)}: {exc}")
            return
        r.snapshots_loaded += 1
        buf = self.buffer
        while buf:
            status = self.feed.on_message(buf[0][1]).status
            if status in _WAIT:
                return              # the snapshot is older than the buffered diffs: wait for the next
            if status == STALE and r.first_sync_ns is None:
                r.unusable += 1
            buf.popleft()
        self.waiting = False
        if r.first_sync_ns is None:
            r.first_sync_ns = ts
        if self.lost is not None:
            self.lost.recovered_ns = ts
            self.lost = None

    def _compare(self, body: bytes) -> None:
        """A snapshot taken at exactly the book's update id must show the same top levels."""
        if not self.book.synced:
            return
        self.result.snapshots_compared += 1
        snap = orjson.loads(body)
        spec = self.spec
        for side, key in ((BID, "bids"), (ASK, "asks")):
            theirs = [(spec.price_to_int(p), spec.qty_to_int(q)) for p, q in snap[key][:COMPARE_LEVELS]]
            if self.book.top(side, len(theirs)) != theirs:
                self.result.snapshot_mismatches += 1
                return


def specs_for(path: str | os.PathLike) -> dict[str, SymbolSpec]:
    """Scales for the recording at ``path``: its ``exchangeInfo.json``, then the bundled one."""
    specs = bundled.symbol_specs()
    p = pathlib.Path(path)
    info = (p if p.is_dir() else p.parent) / EXCHANGE_INFO_FILE
    if info.is_file():
        try:
            specs.update(load_exchange_info(info))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise RecordingError(f"{info}: not an exchangeInfo reply ({exc})") from None
    return specs


def _url_symbol(url: str | None) -> str | None:
    if not url:
        return None
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("symbol")
    return values[0].upper() if values else None


def check(path: str | os.PathLike, specs: Mapping[str, SymbolSpec] | None = None) -> dict[str, SymbolCheck]:
    """Rebuild every symbol's book from the recording at ``path``; one report per symbol."""
    specs = specs_for(path) if specs is None else specs
    readers: dict[str, _SymbolReader] = {}
    current: str | None = None
    early: list[tuple[bytes, int]] = []         # url-less snapshots before any frame

    def reader(sym: str) -> _SymbolReader:
        r = readers.get(sym)
        if r is None:
            spec = specs.get(sym)
            if spec is None:
                raise RecordingError(f"{path}: no exchangeInfo for {sym} (the recorder keeps it in "
                                     f"{EXCHANGE_INFO_FILE} next to the files)")
            r = readers[sym] = _SymbolReader(spec)
        return r

    for rec in records(path):
        msg, ts = rec.msg, rec.recv_ts_ns
        if msg.startswith(b'{"stream":"'):
            stream = msg[11:msg.find(b'"', 11)].decode()
            prefix, _, kind = stream.partition("@")
            if not kind:
                continue                    # a venue notice such as !serverShutdown
            current = prefix.upper()
            r = reader(current)
            for body, t in early:
                r.on_snapshot(body, t)
            early.clear()
            r.on_frame(kind, msg, ts)
        elif msg.startswith(b'{"lastUpdateId"'):
            sym = _url_symbol(rec.url) or current
            if sym is None:
                early.append((msg, ts))
                continue
            r = reader(sym)
            r.on_snapshot(msg, ts)
        else:
            continue
        res = r.result
        if res.first_ns is None:
            res.first_ns = ts
        res.last_ns = ts
    for r in readers.values():
        r.result.in_sync_at_end = not r.waiting
    return {sym: r.result for sym, r in readers.items()}
