"""What ``pyengine record`` accepts: symbols, stream names, durations, sizes and venues.

Every parser raises :class:`~pyengine.errors.UserError` naming the option and the bad value.
"""
from __future__ import annotations

import re
import urllib.parse

from pyengine.errors import UserError
from pyengine.venue.binance.endpoints import BY_NAME, Endpoints

_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")
_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
              "1w", "1M")
# Per-symbol stream types of Binance spot (digest 11.3); the symbol prefix is added per symbol.
_STREAM = re.compile(r"trade|aggTrade|bookTicker|avgPrice|miniTicker|ticker|ticker_(1h|4h|1d)"
                     r"|referencePrice|blockTrade|depth(5|10|20)?(@100ms|@1000ms)?"
                     r"|kline_(" + "|".join(_INTERVALS) + r")(@\+08:00)?")
# Diff-depth streams: the ones a book is rebuilt from, hence the ones that need REST snapshots.
DIFF_DEPTH = ("depth", "depth@100ms", "depth@1000ms")
DEFAULT_STREAMS = "depth@100ms,trade,bookTicker"
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)?")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_symbols(text: str, option: str = "--symbols") -> list[str]:
    """``"btcusdt, ETHUSDT"`` -> ``["BTCUSDT", "ETHUSDT"]`` (upper case, no duplicates)."""
    out: list[str] = []
    for raw in text.split(","):
        sym = raw.strip().upper()
        if not sym:
            continue
        if not _SYMBOL.fullmatch(sym):
            raise UserError(f"{option}: {raw.strip()!r} is not a symbol name (letters and digits, "
                            f"like BTCUSDT)")
        if sym not in out:
            out.append(sym)
    if not out:
        raise UserError(f"{option}: no symbol given (expected e.g. BTCUSDT,ETHUSDT)")
    return out


def parse_streams(text: str, option: str = "--streams") -> list[str]:
    """Stream types without the symbol (``depth@100ms``, ``trade``, ``kline_1m``, ...)."""
    out: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        if not _STREAM.fullmatch(name):
            prefix, _, kind = name.partition("@")
            if kind and prefix.isalnum() and _STREAM.fullmatch(kind):
                raise UserError(f"{option}: {name!r}: give the stream type without the symbol "
                                f"({kind!r}); --symbols says which symbols")
            raise UserError(f"{option}: unknown stream {name!r}; expected one of trade, aggTrade, "
                            f"bookTicker, depth[@100ms|@1000ms], depth5|10|20[@100ms], "
                            f"kline_<interval> ({', '.join(_INTERVALS)}), ticker, ticker_1h|4h|1d, "
                            f"miniTicker, avgPrice, referencePrice, blockTrade")
        if name not in out:
            out.append(name)
    if not out:
        raise UserError(f"{option}: no stream given (default {DEFAULT_STREAMS})")
    diffs = [s for s in out if s in DIFF_DEPTH]
    if len(diffs) > 1:
        raise UserError(f"{option}: {' and '.join(diffs)} carry the same depth updates; choose one")
    return out


def parse_duration(text: str, option: str) -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"500ms"``, ``"5m"`` or ``"1h"``; must be positive."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise UserError(f"{option}: {text!r} is not a duration (e.g. 60s, 500ms, 5m, 1h)")
    seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds <= 0:
        raise UserError(f"{option}: {text!r} must be longer than zero")
    return seconds


def parse_megabytes(text: str, option: str) -> int:
    """Bytes from a positive number of MiB (fractions allowed: ``0.5``)."""
    try:
        mb = float(text)
    except ValueError:
        raise UserError(f"{option}: {text!r} is not a number of megabytes") from None
    if not mb > 0 or mb != mb or mb == float("inf"):
        raise UserError(f"{option}: {text!r} must be a positive number of megabytes")
    return int(mb * 2**20)


def parse_venue(words: list[str]) -> Endpoints:
    """``production``, ``testnet``, ``demo`` or ``sim URL`` (a simulator's base URL, e.g.
    ``http://127.0.0.1:9000``, which serves REST and market streams on one port)."""
    names = "|".join(sorted(BY_NAME))
    usage = f"--venue: expected {names} or 'sim URL', got {' '.join(words)!r}"
    if len(words) == 1 and words[0] in BY_NAME:
        return BY_NAME[words[0]]
    if not words or words[0] != "sim":
        raise UserError(usage)
    if len(words) != 2:
        raise UserError("--venue sim: give the simulator's URL, e.g. --venue sim http://127.0.0.1:9000 "
                        "(start one with `pyengine sim --port 9000`)")
    url = urllib.parse.urlsplit(words[1])
    if url.scheme not in ("http", "https", "ws", "wss") or not url.hostname or url.path not in ("", "/"):
        raise UserError(f"--venue sim: {words[1]!r} is not a base URL like http://127.0.0.1:9000")
    try:
        url.port
    except ValueError:
        raise UserError(f"--venue sim: {words[1]!r} has a bad port") from None
    secure = url.scheme in ("https", "wss")
    host = url.netloc
    return Endpoints.local(rest=f"{'https' if secure else 'http'}://{host}",
                           ws_api=f"{'wss' if secure else 'ws'}://{host}/ws-api/v3",
                           streams=f"{'wss' if secure else 'ws'}://{host}", name="sim")
