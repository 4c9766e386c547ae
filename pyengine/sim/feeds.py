"""Market-data sources replayed into :class:`~pyengine.sim.market.Market` objects.

* :class:`RecordedFeed`: a recording of raw Binance frames (gz JSONL,
  ``{"recv_ts_ns": N, "msg": <frame>}``, one REST depth snapshot line). Depth diffs, trades
  and bookTickers are applied in recorded order; their payloads are passed to stream
  subscribers unchanged (byte for byte when the feed is not rebased in time, otherwise with
  only ``E``/``T`` shifted).
* :class:`KlineFeed`: real 1m OHLC bars (CSV or CSV.gz in Binance's kline layout) driving a
  **synthetic** market: each bar is walked open -> high -> low -> close (open -> low ->
  high -> close for a bar that closes above its open), one synthetic trade at each of the
  four points (at +0 s, +15 s, +30 s, +45 s) and a synthetic book of ``levels`` price levels
  per side, one tick apart around the last trade price, each holding ``level_notional`` of
  quote (rounded down to the lot step). Prices are real, quantities are invented.
"""
from __future__ import annotations

import functools
import gzip
import pathlib
from typing import Callable, Iterator

import orjson

from pyengine.book import ASK, BID
from pyengine.sim.market import Bar, Market
from pyengine.sim.numbers import parse_scaled

Event = tuple[int, Callable[[], None]]     # (market time ms, apply)
MINUTE = 60_000


def _p8(text: str) -> int:
    # Binance renders every price and quantity with exactly 8 decimals: drop the dot
    if len(text) > 9 and text[-9] == "." and text.replace(".", "", 1).isdigit():
        return int(text.replace(".", "", 1))
    return parse_scaled(text, 8)[0]


def _levels(rows) -> list[tuple[int, int]]:
    return [(_p8(p), _p8(q)) for p, q in rows]


def _open(path: pathlib.Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


class RecordedFeed:
    """One symbol's recording. ``rebase_to`` maps the first replayed event to that market
    time (ms); ``None`` keeps the recorded times (pure pass-through)."""

    def __init__(self, path: pathlib.Path, market: Market, rebase_to: int | None):
        self.path, self.market = pathlib.Path(path), market
        self._lines = self._read()
        self._start = self._load_snapshot()
        first = self._first_time()
        self.offset = 0 if rebase_to is None else rebase_to - first
        self.first_time = first + self.offset

    def _read(self) -> list[bytes]:
        return _read_lines(self.path)

    def _msg(self, i: int) -> dict:
        return _frame(self.path, i + 1, self._lines[i])

    def _load_snapshot(self) -> int:
        for i, line in enumerate(self._lines):
            if b'"lastUpdateId"' in line:
                msg = self._msg(i)
                break
        else:
            raise ValueError(f"{self.path}: recording has no REST depth snapshot line")
        m = self.market
        m.load_snapshot(msg["lastUpdateId"], _levels(msg["bids"]), _levels(msg["asks"]))
        # diffs received before the snapshot that reach past it (digest 11.4 step 5)
        for j in range(i):
            early = self._msg(j)
            d = early.get("data", early)
            if d.get("e") == "depthUpdate" and d["u"] > m.update_id:
                m.apply_depth(d["U"], d["u"], _levels(d["b"]), _levels(d["a"]), d["E"])
        return i + 1

    def _first_time(self) -> int:
        for i in range(self._start, len(self._lines)):
            d = self._msg(i)
            d = d.get("data", d)
            if "E" in d:
                return d["E"]
        raise ValueError(f"{self.path}: no timed event after the snapshot")

    def events(self) -> Iterator[Event]:
        m, off = self.market, self.offset
        t = self.first_time
        for i in range(self._start, len(self._lines)):
            msg = self._msg(i)
            d = msg.get("data", msg)
            kind = d.get("e")
            if "E" in d:
                t = max(t, d["E"] + off)
            if off:
                if "E" in d:
                    d["E"] += off
                if "T" in d:
                    d["T"] += off
            payload = orjson.dumps(d)
            if kind == "depthUpdate":
                yield t, lambda d=d, p=payload, t=t: m.apply_depth(
                    d["U"], d["u"], _levels(d["b"]), _levels(d["a"]), t, p)
            elif kind in ("trade", "aggTrade"):
                tid = d["t"] if kind == "trade" else d["a"]
                yield t, lambda d=d, p=payload, t=t, tid=tid: m.add_trade(
                    tid, _p8(d["p"]), _p8(d["q"]), d["T"], bool(d["m"]), t, p if kind == "trade" else None)
            elif "u" in d and "b" in d and "a" in d:
                yield t, lambda p=payload: m.publisher and m.publisher.book_ticker(m, p)


@functools.lru_cache(maxsize=8)
def _read_lines(path: pathlib.Path) -> list[bytes]:
    """The raw lines of a (gzip) file, cached: simulators share them read-only."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.splitlines()


def _frame(path: pathlib.Path, lineno: int, line: bytes) -> dict:
    try:
        return orjson.loads(line)["msg"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path}:{lineno}: not a recording line") from None


def _p8_fast(text: str) -> int:
    """Exact decimal text (at most 8 decimals, as in Binance kline files) -> P8."""
    whole, _, frac = text.partition(".")
    if len(frac) > 8 or not (whole + frac).isdigit():
        raise ValueError(text)
    return int(whole or "0") * 100_000_000 + int(frac.ljust(8, "0"))


def kline_row(path: pathlib.Path, lineno: int, line: bytes) -> tuple[int, int, int, int, int] | None:
    """(open_time, open, high, low, close) at P8, or None for a header line."""
    cols = line.split(b",", 5)
    if not cols[0].strip().isdigit():
        return None
    try:
        return (int(cols[0]), _p8_fast(cols[1].decode()), _p8_fast(cols[2].decode()),
                _p8_fast(cols[3].decode()), _p8_fast(cols[4].decode()))
    except (ValueError, IndexError, UnicodeDecodeError):
        raise ValueError(f"{path}:{lineno}: not a kline row: {line[:80]!r}") from None


def kline_lines(path: pathlib.Path) -> list[tuple[int, bytes]]:
    """(line number, raw line) of the data rows of a kline CSV (header skipped)."""
    lines = _read_lines(path)
    first = 0 if lines and lines[0][:1].isdigit() else 1
    return [(i + 1, line) for i, line in enumerate(lines[first:], first) if line.strip()]


class KlineFeed:
    """Synthetic market around real 1m bars (see module docstring). Bars before
    ``start_bar`` become history; replay starts at ``start_bar``."""

    HISTORY = 20_000

    def __init__(self, path: pathlib.Path, market: Market, rebase_to: int | None,
                 start_bar: int = 1000, levels: int = 20, level_notional: int = 10_000):
        self.market = market
        self.path = path = pathlib.Path(path)
        rows = kline_lines(path)
        if not rows:
            raise ValueError(f"{path}: no kline rows")
        start_bar = min(start_bar, len(rows) - 1)
        first = kline_row(path, *rows[start_bar])[0]
        self.offset = 0 if rebase_to is None else (rebase_to // MINUTE * MINUTE) - first
        self.first_time = first + self.offset
        self._rows = rows[start_bar:]
        spec = market.spec
        self._tick = int(spec.tick_size.scaleb(8))
        self._step = int(spec.step_size.scaleb(8))
        self._levels = levels
        self._notional = level_notional
        for ot, o, h, l, c in (kline_row(path, *r) for r in rows[max(0, start_bar - self.HISTORY):start_bar]):
            bar = Bar(ot + self.offset, o)
            bar.h, bar.l, bar.c = h, l, c
            market.add_history_bar(bar)
        self._book: dict[int, dict[int, int]] = {BID: {}, ASK: {}}
        o = kline_row(path, *self._rows[0])[1]
        self._book = self._around(o)
        market.load_snapshot(1, sorted(self._book[BID].items(), reverse=True),
                             sorted(self._book[ASK].items()))
        self._trade_id = 1

    def _qty(self, price: int) -> int:
        q = self._notional * 10 ** 16 // price
        return max(self._step, q // self._step * self._step)

    def _around(self, price: int) -> dict[int, dict[int, int]]:
        tick, n = self._tick, self._levels
        return {BID: {price - k * tick: self._qty(price) for k in range(1, n + 1) if price - k * tick > 0},
                ASK: {price + k * tick: self._qty(price) for k in range(1, n + 1)}}

    def _move(self, price: int, t: int, buyer_maker: bool) -> None:
        m = self.market
        new = self._around(price)
        changes = {}
        for side in (BID, ASK):
            old_side, new_side = self._book[side], new[side]
            ch = [(p, 0) for p in old_side if p not in new_side]
            ch += [(p, q) for p, q in new_side.items() if old_side.get(p) != q]
            changes[side] = ch
        self._book = new
        if changes[BID] or changes[ASK]:
            uid = m.update_id + 1
            m.apply_depth(uid, uid, changes[BID], changes[ASK], t)
        qty = max(self._step, self._qty(price) // 10 // self._step * self._step)
        m.add_trade(self._trade_id, price, qty, t, buyer_maker, t)
        self._trade_id += 1

    def events(self) -> Iterator[Event]:
        off = self.offset
        prev = kline_row(self.path, *self._rows[0])[1]
        for ot, o, h, l, c in (kline_row(self.path, *r) for r in self._rows):
            path = (o, l, h, c) if c >= o else (o, h, l, c)
            for k, price in enumerate(path):
                t = ot + off + k * 15_000
                yield t, lambda p=price, t=t, bm=price < prev: self._move(p, t, bm)
                prev = price
