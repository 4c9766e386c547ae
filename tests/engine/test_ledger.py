import bisect
import csv
import functools
import gzip
import itertools

import orjson
import pytest
import trio

from pyengine import bundled
from pyengine.ledger import (Bar, KlineLedger, WeightBudget, bar_from_rest, bar_open,
                             interval_ms, realized_volatility_pct)

M = 60_000


def k(t, o, h, l, c, v=1.0):
    return Bar(t, t + M - 1, o, h, l, c, v, v * c, 1)


def test_bar_alignment():
    assert bar_open(1723161255342, "1m") == 1723161240000
    monday = 1722816000000                     # 2024-08-05 00:00 UTC, a Monday
    assert bar_open(monday + 3 * 86_400_000 + 5, "1w") == monday
    assert bar_open(monday - 1, "1w") == monday - 7 * 86_400_000
    with pytest.raises(ValueError, match="1M"):
        interval_ms("1M")


def test_kline_stream_append_correct_late_and_gaps():
    closes = []
    ledger = KlineLedger(capacity=5, on_close=lambda s, i, b: closes.append((s, i, b.open_time)))
    s = ledger.track("BTCUSDT", "1m")
    ledger.on_kline("BTCUSDT", "1m", k(0, 1, 2, 0.5, 1.5), closed=False)
    assert s.forming.close == 1.5 and len(s) == 0
    ledger.on_kline("BTCUSDT", "1m", k(0, 1, 2, 0.5, 1.6), closed=True)
    ledger.on_kline("BTCUSDT", "1m", k(M, 1.6, 2, 1, 1.7), closed=True)
    ledger.on_kline("BTCUSDT", "1m", k(M, 1.6, 2, 1, 1.8), closed=True)   # correction
    ledger.on_kline("BTCUSDT", "1m", k(0, 1, 1, 1, 1), closed=True)       # late
    ledger.on_kline("BTCUSDT", "1m", k(4 * M, 2, 2, 2, 2), closed=True)   # 2 bars missing
    ledger.on_kline("ETHUSDT", "1m", k(0, 1, 1, 1, 1), closed=True)       # untracked
    assert closes == [("BTCUSDT", "1m", 0), ("BTCUSDT", "1m", M), ("BTCUSDT", "1m", 4 * M)]
    assert s.column("close") == [1.6, 1.8, 2.0]
    assert (s.corrections, s.late, s.gaps) == (1, 1, [(2 * M, 3 * M)])
    assert s.forming is None
    for t in range(5, 12):
        ledger.on_kline("BTCUSDT", "1m", k(t * M, 1, 1, 1, 1), closed=True)
    assert len(s) == 5 and s[0].open_time == 7 * M          # capacity


def test_kline_stream_payload():
    ledger = KlineLedger()
    s = ledger.track("BNBBTC", "1m")
    ledger.on_kline_event({"e": "kline", "E": 123456789, "s": "BNBBTC", "k": {
        "t": 0, "T": M - 1, "s": "BNBBTC", "i": "1m", "f": 100, "L": 200, "o": "0.0010",
        "c": "0.0020", "h": "0.0025", "l": "0.0015", "v": "1000", "n": 100, "x": True,
        "q": "1.0000", "V": "500", "Q": "0.500", "B": "123456"}})
    assert (s[-1].open, s[-1].high, s[-1].trades, s[-1].quote_volume) == (0.001, 0.0025, 100, 1.0)


def trades_from_feed():
    with gzip.open(bundled.BTCUSDT_FEED, "rb") as f:
        for line in f:
            msg = orjson.loads(line)["msg"]
            if msg.get("stream") == "btcusdt@trade":
                d = msg["data"]
                yield float(d["p"]), float(d["q"]), d["T"]


def test_bars_from_the_real_trade_stream_match_a_recomputation():
    closes = []
    ledger = KlineLedger(on_close=lambda s, i, b: closes.append(b))
    s = ledger.track("BTCUSDT", "1m", source="trades")
    trades = list(trades_from_feed())
    for p, q, t in trades:
        ledger.on_trade("BTCUSDT", p, q, t)
    ledger.tick(bar_open(trades[-1][2], "1m") + M)     # the last minute ends
    expect = []
    for minute, group in itertools.groupby(trades, key=lambda x: x[2] // M * M):
        g = list(group)
        expect.append((minute, g[0][0], max(x[0] for x in g), min(x[0] for x in g), g[-1][0],
                       round(sum(x[1] for x in g), 8), len(g)))
    got = [(b.open_time, b.open, b.high, b.low, b.close, round(b.volume, 8), b.trades)
           for b in s.bars]
    assert got == expect and len(got) >= 10
    assert closes == list(s.bars)


def test_trade_bars_fill_empty_intervals_and_close_on_tick():
    ledger = KlineLedger()
    s = ledger.track("X", "1m", source="trades")
    ledger.on_trade("X", 10.0, 1.0, 5)
    ledger.on_trade("X", 12.0, 1.0, 30_000)
    ledger.tick(M - 1)
    assert len(s) == 0
    ledger.tick(M)                              # the minute is over: closed on time
    assert s.column("close") == [12.0]
    ledger.tick(3 * M + 1)                      # two empty minutes: flat bars
    assert [(b.open, b.close, b.volume, b.trades) for b in s.bars][1:] == \
        [(12.0, 12.0, 0.0, 0), (12.0, 12.0, 0.0, 0)]
    ledger.on_trade("X", 9.0, 2.0, 3 * M + 10)  # first trade resets the flat bar's open
    ledger.on_trade("X", 1.0, 2.0, 5)           # late
    ledger.tick(4 * M)
    assert (s[-1].open, s[-1].low, s[-1].volume, s.late) == (9.0, 9.0, 2.0, 1)


@functools.cache
def zec_rows():
    with gzip.open(bundled.ZECUSDT_1M, "rt") as f:
        rows = list(itertools.islice(csv.DictReader(f), 6000))
    return [[int(r["open_time"]), r["open"], r["high"], r["low"], r["close"], "0",
             int(r["close_time"]), "0", 0, "0", "0", "0"] for r in rows]


class FakeRest:
    """GET /api/v3/klines over the bundled real ZECUSDT 1m bars (the file has no volumes)."""

    def __init__(self, now_ms=None):
        self.rows = zec_rows()
        self.calls = []
        self.now_ms = now_ms             # the exchange's clock: its newest bar is forming

    async def __call__(self, symbol, interval, start, end, limit):
        self.calls.append((symbol, interval, start, end, limit, trio.current_time()))
        assert interval == "1m" and limit <= 1000
        if start is None:                # Binance: the newest `limit` bars up to endTime
            hi = bisect.bisect_right(self.rows, self.now_ms if end is None else end,
                                     key=lambda r: r[0])
            return self.rows[max(0, hi - limit):hi]
        i = bisect.bisect_left(self.rows, start, key=lambda r: r[0])
        return [r for r in self.rows[i:i + limit] if r[0] <= end]


async def test_warm_up_within_weight_budget_then_stream_only(autojump_clock):
    now = zec_rows()[5000][0] + 30_000            # mid-bar: bar 5000 is not closed
    rest = FakeRest(now)
    ledger = KlineLedger(capacity=3000)
    s = ledger.track("ZECUSDT", "1m")
    budget = WeightBudget(per_minute=4)            # two kline requests a minute
    added = await ledger.warm_up(rest, budget, bars=2500, now_ms=now)
    assert added == {("ZECUSDT", "1m"): 2500} and s.ready
    assert [b.open_time for b in s.bars] == [r[0] for r in rest.rows[2500:5000]]
    assert s[-1].close == float(rest.rows[4999][4])
    times = [c[-1] for c in rest.calls]
    assert len(times) == 3 and times[2] - times[0] >= 60      # the third waited for the window
    assert [c[2:5] for c in rest.calls] == [(None, None, 1000), (None, rest.rows[4001][0] - 1, 1000),
                                            (None, rest.rows[3001][0] - 1, 501)]
    # after warm-up: history only from the stream
    n_calls = len(rest.calls)
    ledger.on_kline("ZECUSDT", "1m", bar_from_rest(rest.rows[5000]), closed=True)
    assert s[-1].open_time == rest.rows[5000][0] and len(rest.calls) == n_calls
    assert realized_volatility_pct(s.column("close", 60)) > 0


async def test_warm_up_anchors_on_the_exchange_newest_bar(autojump_clock):
    """A simulator running ahead of the server clock (accelerated market time): history
    still ends at the exchange's newest closed bar, and short history stops the paging."""
    rest = FakeRest(zec_rows()[120][0] + 10)      # bars 0..120 exist; 120 is forming
    ledger = KlineLedger()
    s = ledger.track("ZECUSDT", "1m")
    added = await ledger.warm_up(rest, WeightBudget(), bars=500, now_ms=rest.rows[10][0])
    assert added == {("ZECUSDT", "1m"): 120}
    assert [b.open_time for b in s.bars] == [r[0] for r in rest.rows[:120]]
    assert len(rest.calls) == 1


async def test_repair_refills_gaps(autojump_clock):
    rest = FakeRest()
    ledger = KlineLedger()
    s = ledger.track("ZECUSDT", "1m")
    for i in (100, 101, 107, 108):
        ledger.on_kline("ZECUSDT", "1m", bar_from_rest(rest.rows[i]), closed=True)
    assert s.gaps == [(rest.rows[102][0], rest.rows[106][0])]
    released = await ledger.repair(rest, WeightBudget())
    assert released == {} and s.gaps == []          # not warmed up: nothing was held back
    assert [b.open_time for b in s.bars] == [r[0] for r in rest.rows[100:109]]


async def test_after_warm_up_a_gap_holds_bars_until_repaired(autojump_clock):
    rest = FakeRest(zec_rows()[100][0] + 30_000)
    seen = []
    ledger = KlineLedger(on_close=lambda sym, i, b: seen.append(b.open_time))
    s = ledger.track("ZECUSDT", "1m")
    await ledger.warm_up(rest, WeightBudget(), bars=50, now_ms=rest.now_ms)
    rows = list(rest.rows)
    t = [r[0] for r in rows]
    ledger.on_kline("ZECUSDT", "1m", bar_from_rest(rows[100]), closed=True)
    for i in (103, 104):                            # 101 and 102 were lost by the stream
        ledger.on_kline("ZECUSDT", "1m", bar_from_rest(rows[i]), closed=True)
    assert seen == [t[100]] and [b.open_time for b in s.held] == [t[103], t[104]]
    with trio.fail_after(1):
        await ledger.wait_for_held()
    del rest.rows[102]                              # the exchange itself has no bar 102
    released = await ledger.repair(rest, WeightBudget())
    assert [b.open_time for b in released[("ZECUSDT", "1m")]] == [t[101], t[103], t[104]]
    assert s.held == [] and s.gaps == [] and s.unfilled == [(t[101], t[102])]
    ledger.on_kline("ZECUSDT", "1m", bar_from_rest(rows[105]), closed=True)   # the next bar
    assert seen == [t[100], t[105]]


def test_volatility():
    assert realized_volatility_pct([100.0]) is None
    assert realized_volatility_pct([100.0, 100.0, 100.0]) == 0.0
    assert realized_volatility_pct([100.0, 110.0, 100.0]) == pytest.approx(
        100 * abs(__import__("math").log(1.1)), rel=1e-12)
