"""Replaying recordings in one C call, and bars built from trades in C."""
import gzip

import orjson

from pyengine import bundled
from pyengine.book import (BID, MSG_SNAPSHOT, STALE, STOP_BAR, STOP_TRADE, SYNC_NO_SNAPSHOT,
                           Feed)
from pyengine.recording import frames

from .feeds import replay, scaled

SPEC = bundled.symbol_specs()["BTCUSDT"]


def c_replay(buf, stop, interval_ms=1000):
    """Drive Feed.replay over a whole recording the way an engine would."""
    feed = Feed([SPEC])
    feed.set_bar_interval("BTCUSDT", interval_ms)
    book, pending, bars, messages, off = feed.book("BTCUSDT"), [], [], 0, 0
    while True:
        stopped, off = feed.replay(buf, off, stop)
        messages += feed.pos.messages
        if not stopped:
            return feed, bars, messages
        m, pos = feed.msg, feed.pos
        frame = buf[pos.frame_offset:pos.frame_offset + pos.frame_len]
        if m.kind == MSG_SNAPSHOT:
            book.load_snapshot(frame)
            for raw in pending:
                feed.on_message(raw)
            pending = None
        elif m.status == SYNC_NO_SNAPSHOT and pending is not None:
            pending.append(frame)
        elif m.bar_closed:
            bars.append((m.bar_open_time, m.bar_open, m.bar_high, m.bar_low, m.bar_close,
                         m.bar_volume, m.bar_trades))
        else:
            assert m.status in (0, STALE), m.status


def reference_bars(interval_ms):
    """1 s bars from the recording's trades, computed independently with orjson."""
    bars = {}
    for _, raw in frames(bundled.BTCUSDT_FEED):
        d = orjson.loads(raw).get("data", {})
        if d.get("e") != "trade":
            continue
        t = d["T"] - d["T"] % interval_ms
        px, q = scaled(d["p"], SPEC.price_scale), scaled(d["q"], SPEC.qty_scale)
        if t not in bars:
            bars[t] = [t, px, px, px, px, 0, 0]
        b = bars[t]
        b[2], b[3], b[4] = max(b[2], px), min(b[3], px), px
        b[5] += q
        b[6] += 1
    return [tuple(b) for b in sorted(bars.values())][:-1]  # the last bar never closes


def test_c_replay_rebuilds_the_same_book_as_frame_by_frame():
    buf = gzip.open(bundled.BTCUSDT_FEED).read()
    feed, bars, messages = c_replay(buf, STOP_BAR)
    assert messages == 99_573  # every line but the snapshot
    ref = Feed([SPEC])
    replay(bundled.BTCUSDT_FEED, ref, "BTCUSDT")
    a, b = feed.book("BTCUSDT"), ref.book("BTCUSDT")
    assert a.synced and a.last_update_id == b.last_update_id
    assert a.top(BID, 5000) == b.top(BID, 5000)


def test_bars_from_trades_match_an_independent_computation():
    buf = gzip.open(bundled.BTCUSDT_FEED).read()
    _, bars, _ = c_replay(buf, STOP_BAR)
    assert len(bars) > 600
    assert bars == reference_bars(1000)


def test_stop_bits_and_malformed_lines():
    buf = gzip.open(bundled.BTCUSDT_FEED).read()
    feed = Feed([SPEC])
    stopped, off = feed.replay(buf, 0, STOP_TRADE)
    assert stopped and feed.msg.kind in (1, 2)  # a diff needing a snapshot, or a trade
    bad = b'{"recv_ts_ns":5,"msg":{"e":"trade","E":1}}\n'
    stopped, off = feed.replay(bad, 0, 0)
    assert stopped and feed.msg.status < 0 and off == len(bad) and feed.pos.recv_ts_ns == 5
    stopped, off = feed.replay(b"not a recording line\n", 0, 0)
    assert stopped and feed.msg.status < 0


def test_line_layouts_give_the_same_frame_and_receive_time():
    """The usual layout is read in one pass; others (µs times, keys before "msg", spaces)
    take the general search and must find the same frame and time."""
    frame = b'{"e":"trade","E":1,"s":"BTCUSDT","t":7,"p":"61837.63","q":"0.1","T":2,"m":true}'
    lines = [b'{"recv_ts_ns":1723161254206652067,"msg":%s}',
             b'{"recv_ts_us":1723161254206652,"msg":%s}',
             b'{"recv_ts_ns":1723161254206652067,"symbol":"BTCUSDT","msg":%s}',
             b'{"recv_ts_ns":1723161254206652067, "msg": %s} ',
             b'{"recv_ts_ns":1723161254206652067,"msg":%s}\r']
    times = []
    for line in lines:
        buf = b"\n" + line % frame + b"\n"
        feed = Feed([SPEC])
        stopped, off = feed.replay(buf, 0, STOP_TRADE)
        pos = feed.pos
        assert stopped and feed.msg.status == 0 and off == len(buf), line
        assert buf[pos.frame_offset:pos.frame_offset + pos.frame_len] == frame, line
        times.append(pos.recv_ts_ns)
    assert times == [1723161254206652067, 1723161254206652000] + [1723161254206652067] * 3
