import csv
import gzip
import itertools
from decimal import Decimal as D

import orjson
import pytest
import trio

from pyengine import bundled
from pyengine.config import config_from_dict
from pyengine.ledger import Bar, KlineLedger
from pyengine.selection import (MarketStats, SelectionRules, SymbolSelector, market_stats,
                                statuses_from_exchange_info)

UNIVERSE = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "ZECUSDT"]
GOOD = MarketStats(quote_volume_24h=D("1e9"), bid=D("100.00"), ask=D("100.01"),
                   volatility_pct=0.5)
RULES = SelectionRules(min_quote_volume_24h=D("1000000"), max_spread_bps=5.0,
                       min_volatility_pct=0.1, max_volatility_pct=2.0)


def statuses(**over):
    return {s: over.get(s, "TRADING") for s in UNIVERSE}


def test_only_the_universe_and_only_trading_symbols():
    sel = SymbolSelector(["BTCUSDT", "ETHUSDT"], SelectionRules())
    st = {"BTCUSDT": "TRADING", "ETHUSDT": "HALT", "XRPUSDT": "TRADING"}
    stats = {s: GOOD for s in st}
    r = sel.evaluate(st, stats)
    assert r.active == ("BTCUSDT",) and sel.is_active("BTCUSDT")
    assert not sel.is_active("XRPUSDT") and "XRPUSDT" not in r.rejected
    assert r.rejected == {"ETHUSDT": "exchange status is HALT, not TRADING"}
    r = sel.evaluate({"ETHUSDT": "TRADING"}, {"ETHUSDT": GOOD})
    assert r.rejected["BTCUSDT"] == "exchange status is unknown, not TRADING"
    assert sel.evaluate({"BTCUSDT": "TRADING"}, {}).rejected["BTCUSDT"] == "no market data"


@pytest.mark.parametrize("stats,reason", [
    (MarketStats(D("999999.99"), D("100"), D("100.01"), 0.5), "24 h quote volume"),
    (MarketStats(None, D("100"), D("100.01"), 0.5), "no 24 h volume"),
    (MarketStats(D("1e9"), D("100"), D("100.06"), 0.5), "spread 6.00 bps above 5"),
    (MarketStats(D("1e9"), D("100.01"), D("100"), 0.5), "no valid best bid/ask"),
    (MarketStats(D("1e9"), None, D("100"), 0.5), "no valid best bid/ask"),
    (MarketStats(D("1e9"), D("100"), D("100.01"), 0.09), "volatility 0.090 % below 0.1 %"),
    (MarketStats(D("1e9"), D("100"), D("100.01"), 2.01), "volatility 2.010 % above 2 %"),
    (MarketStats(D("1e9"), D("100"), D("100.01"), None), "fewer than 25 1h bars"),
])
def test_each_rule_rejects_with_a_reason(stats, reason):
    r = SymbolSelector(["BTCUSDT"], RULES).evaluate({"BTCUSDT": "TRADING"}, {"BTCUSDT": stats})
    assert r.active == () and r.rejected["BTCUSDT"].startswith(reason)


def test_boundaries_pass():
    edge = MarketStats(D("1000000"), D("99.975"), D("100.025"), 0.1)     # spread exactly 5 bps
    assert edge.spread_bps == pytest.approx(5.0)
    r = SymbolSelector(["BTCUSDT"], RULES).evaluate({"BTCUSDT": "TRADING"}, {"BTCUSDT": edge})
    assert r.active == ("BTCUSDT",)


def test_changes_are_reported():
    changes = []
    sel = SymbolSelector(UNIVERSE, SelectionRules(), on_change=lambda a, r: changes.append((a, r)))
    sel.evaluate(statuses(), {s: GOOD for s in UNIVERSE})
    sel.evaluate(statuses(), {s: GOOD for s in UNIVERSE})            # no change: no call
    sel.evaluate(statuses(SOLUSDT="BREAK"), {s: GOOD for s in UNIVERSE})
    assert changes == [(frozenset(UNIVERSE), frozenset()), (frozenset(), {"SOLUSDT"})]


async def test_periodic_reevaluation(autojump_clock):
    t0 = trio.current_time()

    async def provider():
        halted = "DOGEUSDT" if trio.current_time() - t0 >= 250 else None
        return statuses(**({halted: "HALT"} if halted else {})), {s: GOOD for s in UNIVERSE}

    sel = SymbolSelector(UNIVERSE, SelectionRules())
    async with trio.open_nursery() as n:
        first = await n.start(sel.run, provider, 100.0)
        assert first.active == tuple(UNIVERSE)
        await trio.sleep(250)
        assert sel.is_active("DOGEUSDT")
        await trio.sleep(100)
        assert not sel.is_active("DOGEUSDT")
        n.cancel_scope.cancel()


def test_config_rules_and_real_data():
    cfg = config_from_dict({"selection": {"max_spread_bps": 2, "min_volatility_pct": 0.01,
                                          "volatility_interval": "1m", "volatility_bars": 60}})
    rules = SelectionRules.from_config(cfg.selection)
    info = orjson.loads(bundled.EXCHANGE_INFO.read_bytes())
    st = statuses_from_exchange_info(info)
    assert set(UNIVERSE) <= set(st) and st["ZECUSDT"] == "TRADING"
    ledger = KlineLedger()
    ledger.track("ZECUSDT", "1m")
    with gzip.open(bundled.ZECUSDT_1M, "rt") as f:
        for r in itertools.islice(csv.DictReader(f), 1500):
            t = int(r["open_time"])
            ledger.on_kline("ZECUSDT", "1m", Bar(t, t + 59_999, float(r["open"]),
                                                 float(r["high"]), float(r["low"]),
                                                 float(r["close"])), closed=True)
    stats = market_stats(ledger, "ZECUSDT", rules, bid=D("220.66"), ask=D("220.67"))
    assert 0.01 < stats.volatility_pct < 5
    assert stats.quote_volume_24h == 0           # the bundled file carries no volumes
    sel = SymbolSelector(UNIVERSE, rules)
    r = sel.evaluate(st, {"ZECUSDT": stats})
    assert r.active == ("ZECUSDT",) and r.rejected["BTCUSDT"] == "no market data"
    assert market_stats(ledger, "BTCUSDT", rules, bid=None, ask=None).volatility_pct is None
