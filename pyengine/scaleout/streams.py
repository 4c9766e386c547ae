"""What goes into Redis: stream names, the normalised entry, and the publish script.

One stream per symbol and kind: ``<prefix>:{<SYMBOL>:<kind>}`` with kind ``depth`` (diffs and
REST snapshots, in arrival order, so a book can be built from the stream alone), ``trade``,
``aggTrade``, ``bookTicker`` and ``kline``. The braces are a Redis Cluster hash tag: a stream,
its sequence counter and its latest snapshot live in one slot (ElastiCache cluster mode).

Each entry carries the exchange's message byte for byte (``m``, what the engine's C parser
reads) and a normalised envelope: ``seq`` (per stream, gapless, assigned inside Redis by the
publish script, so two collectors writing one stream cannot interleave numbers), ``k`` kind,
``a``/``b`` the exchange sequence range (depth ``U``/``u``, snapshot ``lastUpdateId``, trade
``t``, aggTrade ``a``, bookTicker ``u``, kline open time), ``E`` event time (ms, 0 if none),
``r`` receive time (ns) and ``c`` the collector's id.
"""
from __future__ import annotations

import urllib.parse
from typing import NamedTuple

import orjson

KINDS = ("depth", "trade", "aggTrade", "bookTicker", "kline")
# Kinds whose exchange sequence numbers are consecutive, so a jump is a gap.
CONTIGUOUS = {"depth": True, "trade": True, "aggTrade": True, "bookTicker": False, "kline": False}

PUBLISH_LUA = """
local seq = redis.call('INCR', KEYS[2])
local entry = {'XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'seq', seq}
for i = 2, #ARGV do entry[#entry + 1] = ARGV[i] end
local id = redis.call(unpack(entry))
if ARGV[3] == 'snapshot' then
  redis.call('HSET', KEYS[3], 'id', id, 'seq', seq, 'm', ARGV[#ARGV])
end
return id
"""


class Normalised(NamedTuple):
    symbol: str
    kind: str        # stream kind (a REST depth snapshot goes to "depth")
    entry: str       # entry kind: the stream kind, or "snapshot"
    first: int
    last: int
    event_ms: int


def stream_key(prefix: str, symbol: str, kind: str) -> str:
    return f"{prefix}:{{{symbol}:{kind}}}"


def seq_key(prefix: str, symbol: str, kind: str) -> str:
    return f"{prefix}:{{{symbol}:{kind}}}:seq"


def snapshot_key(prefix: str, symbol: str) -> str:
    return f"{prefix}:{{{symbol}:depth}}:snapshot"


def symbol_from_url(url: str | None) -> str | None:
    if not url:
        return None
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("symbol")
    return values[0].upper() if values else None


def normalise(raw: bytes, url: str | None = None) -> Normalised | None:
    """The envelope of one Binance frame (raw or combined-stream) or REST depth snapshot;
    None for messages that are not market data (subscription replies, unknown events).
    A snapshot without a ``url`` comes back with symbol ``""`` for the caller to attribute."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    data = obj.get("data") if "stream" in obj else obj
    if not isinstance(data, dict):
        return None
    try:
        if "lastUpdateId" in data:
            u = int(data["lastUpdateId"])
            return Normalised(symbol_from_url(url) or "", "depth", "snapshot", u, u, 0)
        e = data.get("e")
        s = data.get("s")
        if not isinstance(s, str):
            return None
        if e == "depthUpdate":
            return Normalised(s, "depth", "depth", int(data["U"]), int(data["u"]), int(data["E"]))
        if e == "trade":
            return Normalised(s, "trade", "trade", int(data["t"]), int(data["t"]), int(data["E"]))
        if e == "aggTrade":
            return Normalised(s, "aggTrade", "aggTrade", int(data["a"]), int(data["a"]),
                              int(data["E"]))
        if e == "kline":
            t = int(data["k"]["t"])
            return Normalised(s, "kline", "kline", t, t, int(data["E"]))
        if e is None and "u" in data and "b" in data and "a" in data:
            return Normalised(s, "bookTicker", "bookTicker", int(data["u"]), int(data["u"]),
                              int(data.get("E", 0)))
    except (KeyError, TypeError, ValueError):
        return None
    return None


def quote_volume(raw: bytes) -> tuple[str, float] | None:
    """``(symbol, price * quantity)`` of a trade or aggTrade frame, for the hot-symbol rule."""
    obj = orjson.loads(raw)
    data = obj.get("data", obj) if isinstance(obj, dict) else None
    if isinstance(data, dict) and data.get("e") in ("trade", "aggTrade"):
        return data["s"], float(data["p"]) * float(data["q"])
    return None
