"""Collectors and the consumer in one process against a real Redis: sharding, merging, gaps."""
from __future__ import annotations

import itertools
import uuid

import pytest
import redis

from pyengine import bundled
from pyengine.scaleout import Collector, Consumer, Gap, RecordingSource
from pyengine.scaleout.streams import normalise

MULTI = bundled.ROOT / "feeds" / "binance_spot_multi_20211012_ws.jsonl"


@pytest.fixture
def prefix():
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture(scope="module")
def btc_frames():
    src = RecordingSource(bundled.BTCUSDT_FEED)
    return list(itertools.islice(src.frames(), 6000))


def test_normalise_every_kind_of_real_message():
    seen = {}
    for path in (bundled.BTCUSDT_FEED, MULTI):
        for f in itertools.islice(RecordingSource(path).frames(), 3000):
            seen.setdefault(f.norm.entry, f.norm)
    assert set(seen) == {"depth", "snapshot", "trade", "bookTicker", "aggTrade", "kline"}
    assert seen["snapshot"].symbol == "BTCUSDT" and seen["snapshot"].last == 50093239218
    depth = seen["depth"]
    assert (depth.symbol, depth.first, depth.last, depth.event_ms) == \
        ("BTCUSDT", 50093239189, 50093239202, 1723161255208)
    assert seen["trade"].first == seen["trade"].last == 3735683259
    assert seen["kline"].kind == "kline" and seen["aggTrade"].kind == "aggTrade"
    assert normalise(b'{"result":null,"id":1}') is None
    assert normalise(b"not json") is None
    assert normalise(b'{"lastUpdateId":5,"bids":[],"asks":[]}',
                     "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000").symbol \
        == "NKNUSDT"


def _collector(client, prefix, cid, symbols, hot=(), **kw):
    return Collector(client, symbols, hot, collector_id=cid, prefix=prefix, lease_ms=60_000, **kw)


def _drain(consumer):
    out = []
    while batch := consumer.poll():
        out.extend(batch)
    return out


def test_counter_shards_symbols_and_spreads_hot_ones(client, prefix):
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "ZECUSDT", "BNBUSDT"]
    hot = ["BTCUSDT", "ETHUSDT"]
    a = _collector(client, prefix, "a", symbols, hot)
    b = _collector(client, prefix, "b", symbols, hot)
    a.heartbeat(), b.heartbeat()
    a.tick(), b.tick()
    owned_a = {s for s, _ in a.owned}
    owned_b = {s for s, _ in b.owned}
    assert owned_a | owned_b == set(symbols) and not owned_a & owned_b
    assert len(owned_a) == len(owned_b) == 3
    assert len(owned_a & set(hot)) == len(owned_b & set(hot)) == 1   # one hot symbol each
    # b leaves: a's share grows to everything, taken through the counter
    b.stop()
    a.tick()
    assert {s for s, _ in a.owned} == set(symbols)


def test_a_joining_collector_gets_symbols_handed_over_without_loss(client, prefix, btc_frames):
    # two symbols for two collectors; the last one claimed (BTCUSDT) is the one handed over
    symbols = ["ETHUSDT", "BTCUSDT"]
    a = _collector(client, prefix, "a", symbols, drain_ticks=3)
    a.tick()
    consumer = Consumer(_url(client), ["BTCUSDT"],
                        prefix=prefix, start="0", block_ms=10)
    frames = iter(btc_frames)
    for f in itertools.islice(frames, 2000):
        a.offer(f, 1e12)
    b = _collector(client, prefix, "b", symbols)
    b.heartbeat()
    a.tick()                         # over its share: releases BTCUSDT, keeps publishing it
    assert list(a.owned) == [("ETHUSDT", 0)] and list(a.draining) == [("BTCUSDT", 0)]
    for f in itertools.islice(frames, 1000):
        a.offer(f, 1e12)
    b.tick()                         # takes it over
    assert list(b.owned) == [("BTCUSDT", 0)]
    rest = list(frames)
    for f in rest[:500]:             # both publish during the hand-over: duplicates
        assert a.offer(f, 1e12) and b.offer(f, 1e12)
    a.flush(), b.flush()
    a.tick()                         # sees b holding it: stops
    assert not a.draining
    for f in rest[500:]:
        assert not a.offer(f, 1e12)
        b.offer(f, 1e12)
    b.flush()
    items = _drain(consumer)
    assert [g for g in items if isinstance(g, Gap)] == []
    delivered = [(e.kind, e.first, e.last) for e in items]
    expected = [(f.norm.kind, f.norm.first, f.norm.last) for f in btc_frames]
    assert sorted(delivered) == sorted(expected) and consumer.stats.duplicates == 500


def _url(client):
    kw = client.connection_pool.connection_kwargs
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


def test_redundant_hot_publishers_merge_newest_wins_and_report_only_real_gaps(
        client, prefix, btc_frames):
    a = _collector(client, prefix, "a", ["BTCUSDT"], ["BTCUSDT"], hot_replicas=2)
    b = _collector(client, prefix, "b", ["BTCUSDT"], ["BTCUSDT"], hot_replicas=2)
    a.heartbeat(), b.heartbeat()
    a.tick(), b.tick()
    assert len(a.owned) == len(b.owned) == 1 and a.owned.keys() != b.owned.keys()
    consumer = Consumer(_url(client), ["BTCUSDT"], prefix=prefix, start="0", block_ms=10)
    # a misses frames 600-1199, b misses 900-1499 and arrives late by 7 frames:
    # only 900-1199 are missing from both.
    frames, lag = btc_frames[:2500], 7
    for i in range(len(frames) + lag):
        if i < len(frames) and not 600 <= i < 1200:
            a.offer(frames[i], 1e12)
        j = i - lag
        if 0 <= j and not 900 <= j < 1500:
            b.offer(frames[j], 1e12)
    items = _drain(consumer)
    events = [e for e in items if not isinstance(e, Gap)]
    gaps = [g for g in items if isinstance(g, Gap)]
    lost = frames[900:1200]
    kept = frames[:900] + frames[1200:]
    assert sorted((e.kind, e.last) for e in events) == sorted((f.norm.kind, f.norm.last)
                                                              for f in kept)
    # every kind with consecutive ids reports exactly the hole both publishers left
    for kind in ("depth", "trade"):
        ids = [f.norm for f in lost if f.norm.kind == kind and f.norm.entry == kind]
        (gap,) = [g for g in gaps if g.kind == kind]
        assert (gap.level, gap.expected, gap.got - 1) == ("exchange", ids[0].first, ids[-1].last)
    assert {g.kind for g in gaps} == {"depth", "trade"}      # bookTicker ids are not consecutive
    # within each stream the delivered order is the exchange's order
    for kind in ("depth", "trade", "bookTicker"):
        lasts = [e.last for e in events if e.kind == kind and e.entry == kind]
        assert lasts == sorted(lasts) and len(set(lasts)) == len(lasts)
    assert {e.source for e in events} == {"a", "b"}


def test_trimmed_stream_is_a_reported_stream_gap(client, prefix, btc_frames):
    a = _collector(client, prefix, "a", ["BTCUSDT"], maxlen=100)
    a.tick()
    trades = [f for f in btc_frames if f.norm.kind == "trade"][:1000]
    consumer = Consumer(_url(client), ["BTCUSDT"], ["trade"], prefix=prefix, start="0",
                        block_ms=10)
    for f in trades[:10]:
        a.offer(f, 1e12)
    a.flush()
    first = _drain(consumer)
    for f in trades[10:]:
        a.offer(f, 1e12)
    a.flush()
    later = _drain(consumer)
    assert len(first) == 10 and not any(isinstance(x, Gap) for x in first)
    (gap, *_), events = [g for g in later if isinstance(g, Gap)], [
        e for e in later if not isinstance(e, Gap)]
    assert gap.level == "stream" and gap.expected == 11 and gap.got == events[0].seq
    assert "trimmed by MAXLEN" in str(gap)
    # the trades trimmed away are also an exchange-level hole: reported too
    assert any(g.level == "exchange" for g in later if isinstance(g, Gap))


def test_consumer_from_now_starts_at_the_latest_snapshot(client, prefix, btc_frames):
    a = _collector(client, prefix, "a", ["BTCUSDT"])
    a.tick()
    for f in btc_frames:
        a.offer(f, 1e12)
    a.flush()
    consumer = Consumer(_url(client), ["BTCUSDT"], ["depth"], prefix=prefix, block_ms=10)
    items = _drain(consumer)
    assert not any(isinstance(x, Gap) for x in items)
    # the diff buffered for the snapshot, the snapshot, then the diffs after it
    straddle, snap, *after = items
    assert snap.entry == "snapshot" and snap.last == 50093239218
    assert straddle.entry == "depth" and straddle.first <= 50093239219 <= straddle.last
    assert [e.first for e in after] == [e.last + 1 for e in [straddle, *after[:-1]]]
    published = [f.norm for f in btc_frames if f.norm.entry == "depth"]
    assert after[-1].last == published[-1].last
