"""The C parser: every hot message kind, precise errors, and fuzzing with real frames."""
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pyengine import bundled
from pyengine._core import lib
from pyengine.book import ASK, BID, BookError, Feed, MessageError, OK, SYNC_NO_SNAPSHOT
from pyengine.recording import frames

from .feeds import replay

SPECS = bundled.symbol_specs()


def feed():
    return Feed([SPECS["BTCUSDT"], SPECS["ETHUSDT"]])


def real_frames(limit=3000):
    return [raw for _, raw in itertools.islice(frames(bundled.BTCUSDT_FEED), limit)]


def test_trade_raw_and_combined():
    f = feed()
    raw = (b'{"e":"trade","E":1723161254000,"s":"ETHUSDT","t":42,"p":"2677.31000000",'
           b'"q":"0.01230000","T":1723161253999,"m":true,"M":true}')
    for frame in (raw, b'{"stream":"ethusdt@trade","data":' + raw + b"}"):
        m = f.on_message(frame)
        assert (m.kind, m.status, f.symbol_of(m)) == (lib.PE_MSG_TRADE, OK, "ETHUSDT")
        assert (m.id, m.price, m.qty, m.time, m.maker) == (42, 267731, 1230, 1723161253999, 1)


def test_agg_trade_book_ticker_kline():
    f = feed()
    m = f.on_message(b'{"e":"aggTrade","E":1,"s":"BTCUSDT","a":7,"p":"61600.01","q":"0.5","f":100,'
                     b'"l":105,"T":2,"m":false,"M":true}')
    assert (m.kind, m.id, m.first_id, m.last_id, m.price, m.qty, m.maker) == (
        lib.PE_MSG_AGGTRADE, 7, 100, 105, 6160001, 500000, 0)
    m = f.on_message(b'{"u":400900217,"s":"BTCUSDT","b":"61600.00000000","B":"31.21000000",'
                     b'"a":"61600.01000000","A":"40.66000000"}')
    assert (m.kind, m.id, m.bid_px, m.bid_qty, m.ask_px, m.ask_qty) == (
        lib.PE_MSG_BOOKTICKER, 400900217, 6160000, 31210000, 6160001, 40660000)
    m = f.on_message(b'{"e":"kline","E":1672515782136,"s":"ETHUSDT","k":{"t":1672515780000,'
                     b'"T":1672515839999,"s":"ETHUSDT","i":"5m","f":100,"L":200,"o":"2677.10",'
                     b'"c":"2677.20","h":"2677.50","l":"2676.00","v":"1000.5","n":100,"x":true,'
                     b'"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}')
    assert (m.kind, m.time, m.close_time, m.interval_s, m.open, m.high, m.low, m.close,
            m.volume, m.trades, m.maker) == (lib.PE_MSG_KLINE, 1672515780000, 1672515839999, 300,
                                              267710, 267750, 267600, 267720, 100050000, 100, 1)


def test_control_replies_are_not_errors():
    f = feed()
    for frame in (b'{"result":null,"id":1}', b'[{"e":"24hrMiniTicker"}]',
                  b'{"lastUpdateId":160,"bids":[],"asks":[]}', b'{"e":"serverShutdown","E":1}'):
        assert f.on_message(frame).kind == lib.PE_MSG_NONE


@pytest.mark.parametrize("frame, field, text", [
    (b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.001","q":"1","T":1,"m":true}', "p (price)",
     "more decimals"),
    (b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":1.0,"q":"1","T":1,"m":true}', "p (price)",
     "wrong JSON type"),
    (b'{"e":"trade","E":1,"s":"XRPUSDT","t":1,"p":"1","q":"1","T":1,"m":true}', "s", "unknown symbol"),
    (b'{"e":"trade","E":1,"s":"BTCUSDT","p":"1","q":"1","T":1,"m":true}', "t/a (trade id)", "missing"),
    (b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":6,"b":[["1.00","1"]],"a":[["2.00",'
     b'"1234567890123456789012"]]}', "q (quantity)", "out of range"),
    (b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":6,"b":[["1.00"]],"a":[]}', "b (bids)",
     "wrong JSON type"),
    (b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":5,"u":6,"b":[],"a":[]', "(message)", "malformed"),
    (b'{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1}}', "k.T", "missing"),
])
def test_errors_name_the_kind_and_field(frame, field, text):
    with pytest.raises(MessageError) as info:
        feed().on_message(frame)
    assert info.value.field == field and text in str(info.value)


def _loaded_feed():
    """A feed whose BTCUSDT book is synced from the real recording."""
    f = feed()
    replay(bundled.BTCUSDT_FEED, f, "BTCUSDT")
    return f


class _Synced:
    feed = None

    @classmethod
    def get(cls):
        if cls.feed is None or not cls.feed.book("BTCUSDT").synced:
            cls.feed = _loaded_feed()
        return cls.feed


FRAMES = real_frames()


def book_image(f):
    b = f.book("BTCUSDT")
    if not b.synced:
        return b.state, b.last_update_id, None, None
    return b.state, b.last_update_id, b.top(BID, 50), b.top(ASK, 50)


@st.composite
def mutated(draw):
    frame = bytearray(draw(st.sampled_from(FRAMES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(frame) - 1)))
        if op == "flip" and frame:
            frame[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del frame[pos:]
        elif op == "insert":
            frame[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif frame:
            del frame[pos:pos + draw(st.integers(1, 20))]
    return bytes(frame)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), mutated()))
def test_fuzz_never_crashes_and_errors_leave_the_book_unchanged(frame):
    f = _Synced.get()
    before = book_image(f)
    try:
        msg = f.on_message(frame)
    except MessageError:
        assert book_image(f) == before
        return
    if msg.kind != lib.PE_MSG_DEPTH or msg.status != OK:
        # only an applied diff may change the book (a gap or crossing marks it out of sync)
        after = book_image(f)
        assert after[1:] == before[1:] or after[0] == "out-of-sync"


def test_older_recording_parses_with_continuous_sequence():
    f = feed()
    last_u, depth = None, 0
    for _, raw in frames(bundled.path("feeds/binance_spot_btcusdt_20230405T0000_0006_nosnapshot.jsonl.gz")):
        m = f.on_message(raw)
        if m.kind == lib.PE_MSG_DEPTH:
            assert m.status == SYNC_NO_SNAPSHOT  # no snapshot in this file
            assert last_u is None or m.first_id == last_u + 1
            last_u, depth = m.id, depth + 1
    assert depth == 3929


def test_diff_before_snapshot_is_reported_not_applied():
    f = feed()
    frame = next(raw for raw in FRAMES if b"depthUpdate" in raw)
    assert f.on_message(frame).status == SYNC_NO_SNAPSHOT
    assert f.book("BTCUSDT").state == "empty"


_DIGITS = st.text("0123456789", min_size=1, max_size=10)


@st.composite
def decimal_text(draw):
    """Mostly Binance's shape ("61737.63000000"), often with decimals beyond the scale, a
    stray byte, or another length: each takes the fast or the careful parser."""
    whole = draw(st.sampled_from(["0", "1", "61837", "1234567", "12345678"]) | _DIGITS)
    kept = draw(st.integers(0, 8))
    frac = draw(st.text("0123456789", min_size=kept, max_size=kept)) + "0" * (8 - kept)
    frac = draw(st.sampled_from([frac, frac[:draw(st.integers(0, 9))], frac + "0"]))
    text = f"{whole}.{frac}" if frac or draw(st.booleans()) else whole
    if draw(st.integers(0, 5)) == 0:
        pos = draw(st.integers(0, len(text) - 1))
        text = text[:pos] + draw(st.sampled_from("a/: \x00-.e")) + text[pos + 1:]
    return text


def _reference(text, scale):
    """The scaled integer Binance's decimal means at this scale, or None when invalid."""
    if not text or any(ch not in "0123456789." for ch in text) or text.count(".") > 1 \
            or text.startswith(".") or text.endswith("."):
        return None
    scaled = Decimal(text).scaleb(scale)
    return int(scaled) if scaled == scaled.to_integral_value() and scaled < 2 ** 63 else None


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(decimal_text(), decimal_text()), min_size=1, max_size=6))
def test_level_decimals_are_exact_on_every_path(levels):
    spec = SPECS["BTCUSDT"]
    listed = ",".join(f'["{p}","{q}"]' for p, q in levels).encode()
    body = b'{"lastUpdateId":1,"bids":[%s],"asks":[]}' % listed
    expect = {}
    valid = True
    for p, q in levels:
        px, qty = _reference(p, spec.price_scale), _reference(q, spec.qty_scale)
        if px is None or qty is None or px <= 0:
            valid = False
            break
        if qty:
            expect[px] = qty
        else:
            expect.pop(px, None)
    diff = b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":2,"u":2,"b":[%s],"a":[]}'
    in_snapshot, in_diff = feed(), feed()
    if not valid:
        with pytest.raises(BookError):
            in_snapshot.book("BTCUSDT").load_snapshot(body)
        in_diff.book("BTCUSDT").load_snapshot(b'{"lastUpdateId":1,"bids":[],"asks":[]}')
        with pytest.raises(MessageError):
            in_diff.on_message(diff % listed)
        return
    in_snapshot.book("BTCUSDT").load_snapshot(body)
    in_snapshot.on_message(diff % b"")
    in_diff.book("BTCUSDT").load_snapshot(b'{"lastUpdateId":1,"bids":[],"asks":[]}')
    in_diff.on_message(diff % listed)
    want = sorted(expect.items(), reverse=True)
    books = [in_snapshot.book("BTCUSDT"), in_diff.book("BTCUSDT")]
    assert [b.level_count(BID) for b in books] == [len(want)] * 2
    if want:
        assert [b.top(BID, len(want)) for b in books] == [want] * 2
