"""The depthUpdate fast path (Binance's exact byte layout) against the general walk.

A frame with a leading space never takes the fast path, so `b" " + frame` runs the general
walk on the same bytes: both must give the same message struct (an error's offset one byte
later) and the same book, whatever the bytes are. (Both paths parse the level arrays with
the same level parser, which has its own fast and careful paths: test_parser.py.)"""
import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pyengine import bundled
from pyengine._core import ffi, lib
from pyengine.book import ASK, BID, Feed
from pyengine.recording import depth_session

SPEC = bundled.symbol_specs()["BTCUSDT"]
MSG_FIELDS = [name for name, _ in ffi.typeof("pe_msg").fields]


SNAPSHOT, DIFFS = depth_session(bundled.BTCUSDT_FEED)


def synced_feed(upto=0):
    """A feed with the snapshot and the first `upto` diffs applied."""
    f = Feed([SPEC])
    f.book("BTCUSDT").load_snapshot(SNAPSHOT)
    for raw in DIFFS[:upto]:
        f.on_message(raw)
    return f


def parse(f, frame):
    msg = ffi.new("pe_msg *")
    rc = lib.pe_feed_on_message(f._ptr, frame, len(frame), msg)
    assert rc == msg.status
    return {name: getattr(msg, name) for name in MSG_FIELDS}


def image(f, depth=20):
    b = f.book("BTCUSDT")
    if not b.synced:
        return b.state, b.last_update_id
    return b.state, b.last_update_id, b.level_count(BID), b.level_count(ASK), b.top(BID, depth), b.top(ASK, depth)


def takes_fast_path(frame, upto=0):
    return lib.pe_feed_depth_fast(synced_feed(upto)._ptr, frame, len(frame), ffi.new("pe_msg *")) == 1


def assert_same_as_general(frame, fast=None, general=None):
    """`frame` on one feed, the same bytes behind a leading space on another: same result."""
    fast, general = fast or synced_feed(), general or synced_feed()
    got = parse(fast, frame)
    want = parse(general, b" " + frame)
    if want["status"] < 0 and want["err_offset"]:
        want["err_offset"] -= 1
    assert got == want, frame
    assert image(fast) == image(general)
    return got


def test_binance_frames_take_the_fast_path_and_equal_the_general_walk():
    assert all(takes_fast_path(raw, k) for k, raw in enumerate(DIFFS[:50]))
    raw_form = orjson.loads(DIFFS[0])["data"]
    assert takes_fast_path(orjson.dumps(raw_form))
    assert not takes_fast_path(b" " + DIFFS[0])
    fast, general = synced_feed(), synced_feed()
    for raw in DIFFS:
        assert assert_same_as_general(raw, fast, general)["status"] == 0
    assert image(fast, 10**6) == image(general, 10**6)


def _variants(raw):
    """The same diff in layouts Binance does not send, each declined by the fast path."""
    obj = orjson.loads(raw)
    data = obj["data"]
    yield orjson.dumps({"data": data, "stream": obj["stream"]})               # envelope keys reordered
    yield orjson.dumps({"stream": obj["stream"], "data": dict(reversed(list(data.items())))})
    yield orjson.dumps(obj, option=orjson.OPT_INDENT_2)                         # whitespace
    yield raw.replace(b'"E":', b'"E" : ', 1)
    yield raw.replace(b'"U":', b'"U": ', 1)
    yield raw.replace(b'"data":{', b'"data":\t{', 1)
    yield orjson.dumps({"stream": obj["stream"], "data": {"x": {"y": [1, "}"]}, **data}})  # extra fields
    yield orjson.dumps({**obj, "extra": 1})
    yield raw.replace(b'"U":', b'"T":1,"U":', 1)
    yield raw.replace(b'"stream":"btcusdt', b'"stream":"\\u0062tcusdt', 1)      # escapes


def test_other_layouts_take_the_general_walk_with_the_same_result():
    fast = synced_feed()
    layouts = None
    for raw in DIFFS[:300]:
        want = parse(fast, raw)
        variants = list(_variants(raw))
        layouts = layouts or [synced_feed() for _ in variants]
        for variant, general in zip(variants, layouts):
            assert not takes_fast_path(variant)
            assert parse(general, variant) == want, variant
            assert image(general) == image(fast)


HEADER_ERRORS = [
    (b'"E":1723161255408,', b'"E":1.5,'), (b'"E":1723161255408,', b'"E":"1",'),
    (b'"E":1723161255408,', b'"E":12345678901234567890,'), (b'"E":1723161255408,', b'"E":-1,'),
    (b'"E":1723161255408,', b'"E":,'), (b'"E":1723161255408,', b'"E":12345678901234567,'),
    (b'"s":"BTCUSDT"', b'"s":"XRPUSDT"'), (b'"s":"BTCUSDT"', b'"s":"btcusdt"'),
    (b'"s":"BTCUSDT"', b'"s":7'), (b'"s":"BTCUSDT"', b'"s":"BTC\x01USDT"'), (b'"s":"BTCUSDT"', b'"s":"BTC\\"'),
    (b'"U":', b'"U":9'), (b'"U":', b'"U":-'), (b'"u":', b'"u":x'), (b'"u":', b'"u":"'),
    (b'"e":"depthUpdate"', b'"e":"depthUpdatx"'), (b'"e":"depthUpdate"', b'"e":5'),
    (b'"stream":"', b'"stream":"\n'), (b'"stream":"btcusdt@depth@100ms"', b'"stream":7'),
    (b'"data":{', b'"data":['), (b'"b":[[', b'"b":[[1,'), (b'"b":[', b'"b":{'), (b',"a":[', b',"a":{'),
    (b',"a":[', b',"a":[],"a":['), (b'"b":[', b'"b":[]'), (b'"a":[[', b'"a":[["-1",'),
]


@pytest.mark.parametrize("old, new", HEADER_ERRORS)
def test_every_header_error_is_the_general_walks(old, new):
    raw = DIFFS[0]
    assert old in raw
    frame = raw.replace(old, new, 1)
    assert not takes_fast_path(frame)
    assert_same_as_general(frame)


def test_every_truncation_and_byte_change_gives_the_general_walks_result():
    raw = min(DIFFS[:200], key=len)
    for cut in range(len(raw) + 1):
        assert_same_as_general(raw[:cut])
    for pos in range(len(raw)):
        for byte in b' x",-9}]\\\x01':
            assert_same_as_general(raw[:pos] + bytes([byte]) + raw[pos + 1:])
    assert_same_as_general(raw + b" \n\t")
    assert_same_as_general(raw + b" x")


@st.composite
def mutated(draw):
    frame = bytearray(draw(st.sampled_from(DIFFS[:1])))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, max(0, len(frame) - 1)))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "flip" and frame:
            frame[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            frame[pos:pos] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"0", b"-", b" ", b","]))
        elif frame:
            del frame[pos:pos + draw(st.integers(1, 20))]
    return bytes(frame)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_fast_path_equals_general_walk(frame):
    assert_same_as_general(frame)
