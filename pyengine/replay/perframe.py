"""The per-frame peer of the C replay loop: every frame through ``Feed.on_message`` from Python.

This is how the live engine consumes market data (one ``on_message`` call per websocket
frame, trades into ``pyengine.ledger.KlineLedger``, whose bar closes step the strategies).
Driving the same ``ReplaySession`` with it gives the reference the C loop (``cfeed``) must
match decision for decision (``tests/replay``), and the peer ``tools/bench/replay.py``
measures it against.
"""
from __future__ import annotations

import time

from pyengine._core import lib
from pyengine.book import OK, STALE, SYNC_STATUSES, MessageError
from pyengine.ledger import Bar, KlineLedger
from pyengine.recording import RecordingError
from pyengine.replay.bars import BASE
from pyengine.replay.cfeed import INTERVAL_BY_S, BookSync, Stats, where
from pyengine.replay.session import ReplaySession
from pyengine.replay.source import Recording

_HEAD = b'{"recv_ts_ns":'
_MSG = b'"msg":'
_SNAPSHOT = b'{"lastUpdateId"'
_TRADES = (lib.PE_MSG_TRADE, lib.PE_MSG_AGGTRADE)


def replay_per_frame(rec: Recording, session: ReplaySession) -> Stats:
    feed, clock = session.feed, session.clock
    ticks = KlineLedger(capacity=2, on_close=session.on_base_bar)
    for sym in session.series:
        ticks.track(sym, BASE, "trades")
    ledger = KlineLedger(capacity=2000, on_close=session.on_bar)
    for sym, interval, source in session.runner.series():
        ledger.track(sym, interval, source)
    stats = Stats()
    sync = BookSync(rec, feed, session, stats)
    symbols = [s.symbol for s in feed.specs]
    pdiv, qdiv = session.price_div, session.qty_div
    for chunk in rec.chunks():
        buf = chunk.buf
        t0 = time.perf_counter()
        start, end = 0, len(buf)
        while start < end:
            nl = buf.index(b"\n", start)
            i = buf.index(_MSG, start, nl) + len(_MSG)
            clock.now_ns = int(buf[start + len(_HEAD):buf.index(b",", start, nl)])
            frame = buf[i:nl - 1]
            start = nl + 1
            if frame.startswith(_SNAPSHOT):
                sync.snapshot(chunk, i, frame)
                continue
            try:
                m = feed.on_message(frame)
            except MessageError as exc:
                raise RecordingError(f"{where(rec, chunk, i)}: corrupt frame: {exc}") from None
            stats.messages += 1
            status = m.status
            if status != OK:
                if status in SYNC_STATUSES and status != STALE:
                    sync.unsynced(symbols[m.symbol], frame, status)
            elif m.kind in _TRADES:
                sym = symbols[m.symbol]
                px, qty = m.price / pdiv[sym], m.qty / qdiv[sym]
                ticks.on_trade(sym, px, qty, m.time)      # the market ticks first, as in cfeed
                ledger.on_trade(sym, px, qty, m.time)
                session.on_trade(sym, m.price, m.time, m.exit_hit)
            elif m.kind == lib.PE_MSG_KLINE and m.maker:
                sym = symbols[m.symbol]
                interval = INTERVAL_BY_S.get(m.interval_s)
                if interval is not None:
                    d = pdiv[sym]
                    ledger.on_kline(sym, interval, Bar(m.time, m.close_time, m.open / d,
                                                       m.high / d, m.low / d, m.close / d,
                                                       m.volume / qdiv[sym], 0.0, m.trades), True)
        stats.seconds += time.perf_counter() - t0
    stats.unsynced = [s for s in rec.symbols if s not in sync.loaded]
    return stats
