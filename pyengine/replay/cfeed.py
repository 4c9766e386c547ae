"""The replay loop: the whole recording through the C parser, books and bar builder.

``Feed.replay`` runs recording lines in C until one Python must see: a closed trade bar (the
strategies on 1 s trade bars were already stepped by the feed, ``ReplaySession.attach_vms``), a
trade that reaches a strategy's exit legs (``msg.exit_hit``, ``engine/exits.py``), a closed kline (when a strategy runs on the kline stream), a REST snapshot line, or a diff the
book cannot take (no snapshot yet, sequence gap). Everything else (depth diffs into the
books, bookTicker, trades inside a bar) never leaves C. Python then does what the live
engine does at that point: bars to the strategies, snapshots into the books, diffs that
came before a snapshot held and applied after it.
"""
from __future__ import annotations

import collections
import datetime as dt
import time
from dataclasses import dataclass, field

from pyengine._core import lib
from pyengine.book import (ERROR_TEXT, FIELD_NAMES, MSG_SNAPSHOT, OK, STALE, STOP_BAR,
                           STOP_EXIT, STOP_KLINE, SYNC_NO_SNAPSHOT, SYNC_STATUSES, BookError,
                           Feed)
from pyengine.ledger import INTERVAL_MS, Bar, interval_ms
from pyengine.recording import RecordingError
from pyengine.replay.bars import BASE
from pyengine.replay.session import ReplaySession
from pyengine.replay.source import Chunk, Recording

INTERVAL_BY_S = {ms // 1000: name for name, ms in INTERVAL_MS.items()}
_TRADES = (lib.PE_MSG_TRADE, lib.PE_MSG_AGGTRADE)
HELD_DIFFS = 50_000          # diffs kept per symbol while its book waits for a snapshot


@dataclass
class Stats:
    messages: int = 0        # market-data frames through the parser
    wakeups: int = 0         # times Python was woken
    snapshots: int = 0
    resyncs: int = 0         # sequence gaps / out-of-sync diffs (book waits for a snapshot)
    seconds: float = 0.0     # wall time of the loop
    unsynced: list[str] = field(default_factory=list)   # symbols without a snapshot

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


class Pacer:
    """``--speed N``: never run ahead of N x the recording's own pace."""

    def __init__(self, speed: float | None, first_ns: int):
        self.speed, self.first_ns = speed, first_ns
        self.t0 = time.monotonic()

    def wait(self, recv_ns: int) -> None:
        if self.speed:
            ahead = (recv_ns - self.first_ns) / 1e9 / self.speed - (time.monotonic() - self.t0)
            if ahead > 0:
                time.sleep(ahead)


class BookSync:
    """Snapshots into the books; diffs that arrive before a snapshot are held, then applied."""

    def __init__(self, rec: Recording, feed: Feed, session: ReplaySession, stats: Stats):
        self.rec, self.feed, self.session, self.stats = rec, feed, session, stats
        self.held = {s: collections.deque(maxlen=HELD_DIFFS) for s in rec.symbols}
        self.loaded: set[str] = set()       # symbols that got a snapshot

    def snapshot(self, chunk: Chunk, frame_offset: int, frame: bytes) -> None:
        sym = chunk.line_symbol(frame_offset)      # source names every snapshot's symbol
        if sym not in self.held:
            return                       # a snapshot of a symbol with no stream in the recording
        book = self.feed.book(sym)
        try:
            book.load_snapshot(frame)
        except BookError as exc:
            raise RecordingError(f"{where(self.rec, chunk, frame_offset)}: {sym} depth "
                                 f"snapshot: {exc}") from None
        self.stats.snapshots += 1
        held = self.held[sym]
        while held:
            self.feed.on_message(held.popleft())
        self.loaded.add(sym)
        self.session.book_synced(sym)

    def unsynced(self, sym: str, frame: bytes, status: int) -> None:
        if status != SYNC_NO_SNAPSHOT:
            self.stats.resyncs += 1
        self.held[sym].append(frame)


def where(rec: Recording, chunk: Chunk, frame_offset: int) -> str:
    return f"{rec.where()}: record {chunk.record_number(frame_offset)}"


def corrupt(rec: Recording, chunk: Chunk, feed: Feed) -> RecordingError:
    m, pos = feed.msg, feed.pos
    excerpt = chunk.buf[pos.frame_offset:pos.frame_offset + min(pos.frame_len, 120)]
    received = dt.datetime.fromtimestamp(pos.recv_ts_ns / 1e9, dt.timezone.utc)
    text = ERROR_TEXT.get(m.status, f"status {m.status}")
    field_name = FIELD_NAMES.get(m.err_field, "?")
    return RecordingError(f"{where(rec, chunk, pos.frame_offset)} (received "
                          f"{received:%Y-%m-%d %H:%M:%S.%f}): corrupt frame: {text} (field "
                          f"{field_name}): {excerpt.decode('utf-8', 'replace')}")


def replay_c(rec: Recording, session: ReplaySession, speed: float | None = None) -> Stats:
    feed, clock = session.feed, session.clock
    for sym in session.series:
        feed.set_bar_interval(sym, interval_ms(BASE))
    session.attach_vms(feed)
    stop = STOP_BAR | STOP_EXIT | (STOP_KLINE if session.kline_intervals else 0)
    stats = Stats()
    sync = BookSync(rec, feed, session, stats)
    pacer = Pacer(speed, rec.first_ns)
    pos, m = feed.pos, feed.msg
    symbols = [s.symbol for s in feed.specs]
    run, on_trade_bar, on_trade = feed.replay, session.on_trade_bar, session.on_trade
    pdiv, qdiv = session.price_div, session.qty_div
    wait = pacer.wait if speed else None
    for chunk in rec.chunks():
        buf = chunk.buf
        off = 0
        t0 = time.perf_counter()
        while True:
            stopped, off = run(buf, off, stop)
            stats.messages += pos.messages
            if not stopped:
                break
            stats.wakeups += 1
            clock.now_ns = now = pos.recv_ts_ns
            if wait is not None:
                wait(now)
            if m.kind == MSG_SNAPSHOT:
                sync.snapshot(chunk, pos.frame_offset,
                              buf[pos.frame_offset:pos.frame_offset + pos.frame_len])
                continue
            status = m.status
            if status != OK:
                if status == STALE:
                    continue
                if status in SYNC_STATUSES:
                    sync.unsynced(symbols[m.symbol],
                                  buf[pos.frame_offset:pos.frame_offset + pos.frame_len], status)
                    continue
                raise corrupt(rec, chunk, feed)
            sym = symbols[m.symbol]
            if m.bar_closed:
                if m.vm_status:
                    raise session.vm_error(sym, m.vm_index, m.vm_status)
                d = pdiv[sym]
                on_trade_bar(sym, Bar(m.bar_open_time, 0, m.bar_open / d, m.bar_high / d,
                                      m.bar_low / d, m.bar_close / d, m.bar_volume / qdiv[sym],
                                      0.0, m.bar_trades), m.time, m.vm_bars, m.vm_act)
            if m.kind in _TRADES:
                on_trade(sym, m.price, m.time, m.exit_hit)
            elif m.kind == lib.PE_MSG_KLINE and m.maker:
                interval = INTERVAL_BY_S.get(m.interval_s)
                if interval in session.kline_intervals.get(sym, ()):
                    d = pdiv[sym]
                    session.on_bar(sym, interval, Bar(m.time, m.close_time, m.open / d,
                                                      m.high / d, m.low / d, m.close / d,
                                                      m.volume / qdiv[sym], 0.0, m.trades))
        stats.seconds += time.perf_counter() - t0
    stats.unsynced = [s for s in rec.symbols if s not in sync.loaded]
    return stats
