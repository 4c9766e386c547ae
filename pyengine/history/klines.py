"""One kline (candle) as Binance publishes it, intervals, and the archive CSV parser.

Prices and volumes stay the exchange's decimal strings (never floats); times are ms since the
epoch. Binance's spot archive switched to microsecond timestamps on 2025-01-01; rows in either
unit are accepted and stored in ms.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from pyengine.errors import UserError

MINUTE = 60_000
INTERVAL_MS = {
    "1s": 1000, "1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE,
    "30m": 30 * MINUTE, "1h": 60 * MINUTE, "2h": 120 * MINUTE, "4h": 240 * MINUTE,
    "6h": 360 * MINUTE, "8h": 480 * MINUTE, "12h": 720 * MINUTE, "1d": 1440 * MINUTE,
    "1w": 7 * 1440 * MINUTE,
}
# Weekly klines open on Mondays; the epoch was a Thursday.
_PHASE_MS = {"1w": 4 * 1440 * MINUTE}
# Any ms timestamp before year 5138 is below this; any µs timestamp after 1973 is above it.
_US_THRESHOLD = 100_000_000_000_000


class Kline(NamedTuple):
    open_time: int           # ms
    open: str
    high: str
    low: str
    close: str
    volume: str | None       # None when the source does not carry it
    close_time: int          # ms, open_time + interval - 1
    quote_volume: str | None
    trades: int | None
    taker_buy_base: str | None
    taker_buy_quote: str | None


class KlineFormatError(UserError):
    """A kline row that cannot be read; names where it came from."""


def interval_ms(interval: str) -> int:
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise UserError(f"interval {interval!r} is not supported for downloads; use one of "
                        + ", ".join(INTERVAL_MS)) from None


def align_up(t_ms: int, interval: str) -> int:
    """The first open time of ``interval`` at or after ``t_ms``."""
    step, phase = INTERVAL_MS[interval], _PHASE_MS.get(interval, 0)
    return t_ms + (phase - t_ms) % step


def to_ms(t: int) -> int:
    """A Binance timestamp in ms or µs, as ms."""
    return t // 1000 if t >= _US_THRESHOLD else t


_DECIMAL = re.compile(r"\d+(?:\.\d+)?")


def _decimal(text: str, where: str, name: str, optional: bool = False) -> str | None:
    if _DECIMAL.fullmatch(text):
        return text
    text = text.strip()
    if not text and optional:
        return None
    if _DECIMAL.fullmatch(text):
        return text
    raise KlineFormatError(f"{where}: {name} {text!r} is not a non-negative decimal number")


def _int(text: str, where: str, name: str, optional: bool = False) -> int | None:
    text = text.strip()
    if not text and optional:
        return None
    if not text.isdigit():
        raise KlineFormatError(f"{where}: {name} {text!r} is not a non-negative integer")
    return int(text)


def parse_row(fields: list[str], where: str, step_ms: int) -> Kline:
    """One 12-column Binance kline row (archive CSV or REST array as strings)."""
    if len(fields) < 11:
        raise KlineFormatError(f"{where}: expected 12 columns, found {len(fields)}")
    open_time = to_ms(_int(fields[0], where, "open_time"))
    close_time = to_ms(_int(fields[6], where, "close_time"))
    if close_time != open_time + step_ms - 1:
        raise KlineFormatError(f"{where}: close_time {close_time} does not close the interval "
                               f"opened at {open_time} (expected {open_time + step_ms - 1})")
    k = Kline(open_time, _decimal(fields[1], where, "open"), _decimal(fields[2], where, "high"),
              _decimal(fields[3], where, "low"), _decimal(fields[4], where, "close"),
              _decimal(fields[5], where, "volume", True), close_time,
              _decimal(fields[7], where, "quote_volume", True),
              _int(fields[8], where, "trades", True),
              _decimal(fields[9], where, "taker_buy_base", True),
              _decimal(fields[10], where, "taker_buy_quote", True))
    # float is exact enough to order two prices of at most 17 significant digits
    hi, lo = float(k.high), float(k.low)
    if not (lo <= float(k.open) <= hi and lo <= float(k.close) <= hi):
        raise KlineFormatError(f"{where}: open/close outside low..high ({k.low}..{k.high})")
    return k


def parse_csv(lines: Iterable[str], source: str, step_ms: int) -> Iterator[Kline]:
    """Rows of an archive CSV (a header line, if present, is skipped)."""
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        fields = line.split(",")
        if n == 1 and not fields[0].strip().isdigit():
            continue
        yield parse_row(fields, f"{source}:{n}", step_ms)


def parse_date(text: str, what: str) -> int:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` (UTC) as ms since the epoch."""
    try:
        d = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{what} {text!r}: expected a UTC date like 2026-03-01 or "
                        "2026-03-01T12:00") from None
    if d.tzinfo is not None and d.utcoffset() != dt.timedelta(0):
        raise UserError(f"{what} {text!r}: give the time in UTC")
    return int(d.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def iso(t_ms: int) -> str:
    return dt.datetime.fromtimestamp(t_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
