"""The kline ledger: per symbol and interval, the bar history strategies read, built from the
stream after a one-time REST warm-up.

Engine-facing API::

    ledger = KlineLedger(capacity=2000, on_close=cb)   # cb(symbol, interval, Bar), per close
    ledger.track("BTCUSDT", "1m", source="kline")      # closes come from the kline stream
    ledger.track("ETHUSDT", "1s", source="trades")     # bars built from the trade stream
    ledger.on_kline_event(payload)                     # <sym>@kline_<i> stream payload
    ledger.on_kline(symbol, interval, bar, closed)     # the same, already parsed
    ledger.on_trade(symbol, price, qty, time_ms)       # trade stream ("trades" series)
    ledger.tick(now_ms)                                # close elapsed "trades" bars on time
    await ledger.warm_up(fetch, budget, bars=500, now_ms=server_ms)   # REST backfill, once
    await ledger.wait_for_held()                       # a bar came after a gap: repair due
    released = await ledger.repair(fetch, budget)      # refill gaps, release held bars
    s = ledger.series("BTCUSDT", "1m")
    s.ready, len(s), s[-1], s.last(n), s.column("close", n), s.forming, s.gaps

``fetch(symbol, interval, start_ms, end_ms, limit)`` is an async callable returning Binance REST
kline rows (``GET /api/v3/klines`` arrays); every call first awaits
``budget.acquire(KLINES_WEIGHT)``: a ``WeightBudget`` (a sliding one-minute window, a slice of
the exchange's request-weight limit reserved for backfill) or the connector's own
``RateLimiter``. After warm-up a strategy reads only the ledger: it never calls REST for history.

Stream rules: a closed kline is appended when it is the next bar, replaces the bar with the same
open time (a correction, not a second close), and is ignored when older (late). A jump of more
than one interval records the missing range in ``gaps`` for ``repair``; once a series is warmed
up, the bar after a gap and every later one are held back from ``on_close`` until ``repair`` has
fetched the missing bars, so a strategy never steps over a hole. "trades" series fill an
interval without trades with a flat bar at the previous close, as Binance's klines do.
Prices and volumes are floats here: bars feed indicators, never order messages.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol

import trio

MINUTE = 60_000
INTERVAL_MS = {
    "1s": 1000, "1m": MINUTE, "3m": 3 * MINUTE, "5m": 5 * MINUTE, "15m": 15 * MINUTE,
    "30m": 30 * MINUTE, "1h": 60 * MINUTE, "2h": 120 * MINUTE, "4h": 240 * MINUTE,
    "6h": 360 * MINUTE, "8h": 480 * MINUTE, "12h": 720 * MINUTE, "1d": 1440 * MINUTE,
    "3d": 3 * 1440 * MINUTE, "1w": 7 * 1440 * MINUTE,
}
_PHASE_MS = {"1w": 4 * 1440 * MINUTE}      # weekly bars open on Monday; the epoch is a Thursday
KLINES_WEIGHT = 2
KLINES_MAX_LIMIT = 1000

Fetch = Callable[[str, str, int | None, int | None, int], Awaitable[list[list[Any]]]]


class Budget(Protocol):
    async def acquire(self, weight: int) -> None: ...


def interval_ms(interval: str) -> int:
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(f"interval {interval!r} cannot be kept in the ledger; use one of "
                         + ", ".join(INTERVAL_MS)) from None


def bar_open(t_ms: int, interval: str) -> int:
    step, phase = INTERVAL_MS[interval], _PHASE_MS.get(interval, 0)
    return t_ms - (t_ms - phase) % step


@dataclass(slots=True)
class Bar:
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    quote_volume: float = 0.0
    trades: int = 0


def bar_from_rest(row: list[Any]) -> Bar:
    return Bar(int(row[0]), int(row[6]), float(row[1]), float(row[2]), float(row[3]),
               float(row[4]), float(row[5]), float(row[7]), int(row[8]))


def bar_from_stream(k: Mapping[str, Any]) -> Bar:
    return Bar(int(k["t"]), int(k["T"]), float(k["o"]), float(k["h"]), float(k["l"]),
               float(k["c"]), float(k["v"]), float(k["q"]), int(k["n"]))


class WeightBudget:
    """Request weight we allow ourselves per rolling minute (the exchange's limit is 6000 per
    IP, shared with everything else this machine sends)."""

    def __init__(self, per_minute: int = 600, window_s: float = 60.0):
        if per_minute < KLINES_WEIGHT:
            raise ValueError("a weight budget must allow at least one request")
        self.per_minute, self.window_s = per_minute, window_s
        self._spent: deque[tuple[float, int]] = deque()
        self.waited_s = 0.0
        self.spent = 0                      # weight acquired in all

    def used(self) -> int:
        now = trio.current_time()
        while self._spent and self._spent[0][0] <= now - self.window_s:
            self._spent.popleft()
        return sum(w for _, w in self._spent)

    async def acquire(self, weight: int) -> None:
        while self.used() + weight > self.per_minute:
            wait = self._spent[0][0] + self.window_s - trio.current_time()
            self.waited_s += wait
            await trio.sleep(wait)
        self._spent.append((trio.current_time(), weight))
        self.spent += weight


class Series:
    def __init__(self, symbol: str, interval: str, source: str, capacity: int):
        self.symbol, self.interval, self.source = symbol, interval, source
        self.step = interval_ms(interval)
        self.bars: deque[Bar] = deque(maxlen=capacity)
        self.forming: Bar | None = None
        self._forming_trades = 0
        self.gaps: list[tuple[int, int]] = []    # (first missing open time, last missing)
        self.unfilled: list[tuple[int, int]] = []    # gaps the exchange had no bars for
        self.held: list[Bar] = []        # closed after a gap, not given to on_close yet
        self.seen_to = -1                # open time of the newest bar given to on_close
        self.ready = False
        self.late = 0
        self.corrections = 0

    def __len__(self) -> int:
        return len(self.bars)

    def __getitem__(self, i: int) -> Bar:
        return self.bars[i]

    def last(self, n: int) -> list[Bar]:
        return list(self.bars)[-n:] if n else []

    def column(self, name: str, n: int | None = None) -> list[float]:
        bars = self.bars if n is None else self.last(n)
        return [getattr(b, name) for b in bars]

    def _close(self, bar: Bar) -> bool:
        """Append a closed bar; False when it was a correction or late."""
        if self.bars:
            last = self.bars[-1].open_time
            if bar.open_time == last:
                self.bars[-1] = bar
                self.corrections += 1
                return False
            if bar.open_time < last:
                self.late += 1
                return False
            if bar.open_time > last + self.step:
                self.gaps.append((last + self.step, bar.open_time - self.step))
        self.bars.append(bar)
        return True

    def _merge(self, bars: Iterable[Bar]) -> list[Bar]:
        """Merge history (warm-up, repair): bars already held win. Returns the bars added."""
        have = {b.open_time: b for b in self.bars}
        added = []
        for b in bars:
            if b.open_time not in have:
                have[b.open_time] = b
                added.append(b)
        ordered = sorted(have.values(), key=lambda b: b.open_time)
        self.bars.clear()
        self.bars.extend(ordered[-self.bars.maxlen:] if self.bars.maxlen else ordered)
        held = {b.open_time for b in self.bars}
        self.gaps = [(a, z) for a, z in self.gaps
                     if any(t not in held for t in range(a, z + 1, self.step))]
        return added


class KlineLedger:
    def __init__(self, capacity: int = 2000,
                 on_close: Callable[[str, str, Bar], None] | None = None):
        self.capacity = capacity
        self.on_close = on_close
        self._series: dict[tuple[str, str], Series] = {}
        self._by_symbol: dict[str, list[Series]] = {}
        self._held = trio.Event()

    def track(self, symbol: str, interval: str, source: str = "kline") -> Series:
        if source not in ("kline", "trades"):
            raise ValueError("source must be 'kline' or 'trades'")
        key = (symbol, interval)
        if key in self._series:
            if self._series[key].source != source:
                raise ValueError(f"{symbol} {interval} is already tracked from {source!r}")
            return self._series[key]
        s = self._series[key] = Series(symbol, interval, source, self.capacity)
        self._by_symbol.setdefault(symbol, []).append(s)
        return s

    def series(self, symbol: str, interval: str) -> Series:
        try:
            return self._series[(symbol, interval)]
        except KeyError:
            raise KeyError(f"{symbol} {interval} is not tracked by the ledger") from None

    def all_series(self) -> list[Series]:
        return list(self._series.values())

    def _emit(self, s: Series, bar: Bar) -> None:
        gaps = len(s.gaps)
        if not s._close(bar):
            return
        if s.ready and (s.held or len(s.gaps) > gaps):
            s.held.append(bar)
            self._held.set()
            return
        s.seen_to = bar.open_time
        if self.on_close is not None:
            self.on_close(s.symbol, s.interval, bar)

    async def wait_for_held(self) -> None:
        """Return once some series holds bars back for ``repair``."""
        while not any(s.held for s in self._series.values()):
            self._held = trio.Event()
            await self._held.wait()

    # ------------------------------------------------------------ stream

    def on_kline_event(self, payload: Mapping[str, Any]) -> None:
        k = payload["k"]
        self.on_kline(payload["s"], k["i"], bar_from_stream(k), bool(k["x"]))

    def on_kline(self, symbol: str, interval: str, bar: Bar, closed: bool) -> None:
        s = self._series.get((symbol, interval))
        if s is None or s.source != "kline":
            return
        if closed:
            s.forming = None
            self._emit(s, bar)
        else:
            s.forming = bar

    def on_trade(self, symbol: str, price: float, qty: float, time_ms: int) -> None:
        for s in self._by_symbol.get(symbol, ()):
            if s.source != "trades":
                continue
            if s.forming is not None and time_ms > s.forming.close_time:
                self._roll(s, time_ms)
            f = s.forming
            if f is None:
                t0 = bar_open(time_ms, s.interval)
                if s.bars and t0 <= s.bars[-1].open_time:
                    s.late += 1
                    continue
                f = s.forming = Bar(t0, t0 + s.step - 1, price, price, price, price)
                s._forming_trades = 0
            elif time_ms < f.open_time:
                s.late += 1
                continue
            if s._forming_trades == 0:
                f.open = f.high = f.low = price
            f.high = max(f.high, price)
            f.low = min(f.low, price)
            f.close = price
            f.volume += qty
            f.quote_volume += qty * price
            f.trades += 1
            s._forming_trades += 1

    def tick(self, now_ms: int) -> None:
        """Close the "trades" bars whose interval has ended by ``now_ms``."""
        for s in self._series.values():
            if s.source == "trades" and s.forming is not None and now_ms > s.forming.close_time:
                self._roll(s, now_ms)

    def _roll(self, s: Series, t_ms: int) -> None:
        """Close the forming bar and the flat bars of empty intervals before ``t_ms``."""
        f = s.forming
        while f.close_time < t_ms:
            self._emit(s, f)
            nxt = f.open_time + s.step
            f = Bar(nxt, nxt + s.step - 1, f.close, f.close, f.close, f.close)
            s._forming_trades = 0
        s.forming = f

    # ------------------------------------------------------------ REST backfill

    async def _fetch_range(self, s: Series, fetch: Fetch, budget: Budget, start: int,
                           end: int) -> list[Bar]:
        """Bars of a gap: all closed, since a closed bar came after them."""
        out: list[Bar] = []
        while start <= end:
            limit = min(KLINES_MAX_LIMIT, (end - start) // s.step + 1)
            await budget.acquire(KLINES_WEIGHT)
            rows = await fetch(s.symbol, s.interval, start, end, limit)
            bars = [bar_from_rest(r) for r in rows]
            if not bars:
                break
            out.extend(bars)
            start = bars[-1].open_time + s.step
            if len(rows) < limit:
                break
        return out

    async def warm_up(self, fetch: Fetch, budget: Budget, bars: int,
                      now_ms: int) -> dict[tuple[str, str], int]:
        """Backfill the ``bars`` newest closed bars of every tracked series, newest page first
        (``endTime`` anchored, so the exchange's own newest bar decides where history ends,
        whatever the local clock says). The exchange's newest row is still forming when it
        closes at or after ``now_ms`` (server time) and is dropped: the stream closes it."""
        added = {}
        for s in self._series.values():
            got: list[Bar] = []
            end: int | None = None
            while len(got) < bars:
                limit = min(KLINES_MAX_LIMIT, bars - len(got) + (1 if end is None else 0))
                await budget.acquire(KLINES_WEIGHT)
                rows = await fetch(s.symbol, s.interval, None, end, limit)
                page = [bar_from_rest(r) for r in rows]
                if end is None and page and page[-1].close_time >= now_ms:
                    page.pop()
                if not page:
                    break
                got[:0] = page[-(bars - len(got)):]
                end = page[0].open_time - 1
                if len(rows) < limit:
                    break                           # the exchange has no older bars
            added[(s.symbol, s.interval)] = len(s._merge(got))
            s.ready = True
            if s.bars:
                s.seen_to = s.bars[-1].open_time
        return added

    async def repair(self, fetch: Fetch, budget: Budget) -> dict[tuple[str, str], list[Bar]]:
        """Refill the gaps the stream left (e.g. across a reconnect), each tried once: what
        the exchange has no bars for moves to ``unfilled``. Returns, per series, the bars
        on_close has not seen yet, oldest first (refilled and held ones); they are released
        from ``held``, and the caller gives them to the strategies."""
        released = {}
        for s in self._series.values():
            if not s.gaps:
                continue
            got: list[Bar] = []
            for first, last in s.gaps:
                got += await self._fetch_range(s, fetch, budget, first, last)
            added = s._merge(got)
            s.unfilled += s.gaps
            s.gaps = []
            unseen = sorted([b for b in added if b.open_time > s.seen_to] + s.held,
                            key=lambda b: b.open_time)
            s.held = []
            if unseen:
                s.seen_to = unseen[-1].open_time
                released[(s.symbol, s.interval)] = unseen
        return released


def realized_volatility_pct(closes: list[float]) -> float | None:
    """Population standard deviation of log returns, in percent; None under two returns."""
    rets = [math.log(b / a) for a, b in zip(closes, closes[1:]) if a > 0 and b > 0]
    if len(rets) < 2:
        return None
    mean = sum(rets) / len(rets)
    return 100.0 * math.sqrt(sum((r - mean) ** 2 for r in rets) / len(rets))

