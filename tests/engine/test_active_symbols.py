"""The engine's view of symbol selection (``pyengine/engine/active.py``): the exchange status
and the rules decide, symbols without a strategy are reported, missing data is retried."""
from decimal import Decimal as D

import orjson

from pyengine import bundled
from pyengine.config import config_from_dict
from pyengine.engine.active import ActiveSymbols
from pyengine.ledger import KlineLedger
from pyengine.selection import MarketStats

GOOD = MarketStats(D("1e9"), D("100.00"), D("100.01"), 0.5)
INFO = orjson.loads(bundled.EXCHANGE_INFO.read_bytes())


def make(selection=None):
    notes = []
    cfg = config_from_dict({"selection": selection or {}})
    return ActiveSymbols(cfg, ["BTCUSDT", "ETHUSDT"], INFO, on_change=notes.append), notes


def test_status_and_rules_decide_and_changes_are_noted():
    a, notes = make({"max_spread_bps": 5})
    assert a.excluded()["BTCUSDT"] == "not evaluated yet" and not a.is_active("BTCUSDT")
    a.evaluate({"BTCUSDT": "TRADING", "ETHUSDT": "TRADING"}, {"BTCUSDT": GOOD, "ETHUSDT": GOOD})
    assert a.active == ["BTCUSDT", "ETHUSDT"] and len(notes) == 1
    assert notes[0]["excluded"] == {"SOLUSDT": "no strategy trades it",
                                    "DOGEUSDT": "no strategy trades it",
                                    "ZECUSDT": "no strategy trades it"}
    a.evaluate({"BTCUSDT": "TRADING", "ETHUSDT": "TRADING"}, {"BTCUSDT": GOOD, "ETHUSDT": GOOD})
    assert len(notes) == 1                                  # nothing changed: nothing noted
    wide = MarketStats(D("1e9"), D("100"), D("100.10"), 0.5)
    a.evaluate({"BTCUSDT": "TRADING", "ETHUSDT": "HALT"}, {"BTCUSDT": wide, "ETHUSDT": GOOD})
    assert a.active == [] and len(notes) == 2
    assert notes[1]["excluded"]["ETHUSDT"] == "exchange status is HALT, not TRADING"
    assert notes[1]["excluded"]["BTCUSDT"].startswith("spread 10.00 bps above 5")
    assert not a.missing                   # judged on data: the next look is a period away
    assert "ETHUSDT (exchange status is HALT, not TRADING)" in a.status_line()


def test_missing_data_is_retried_soon_and_volatility_series_are_tracked():
    a, _ = make({"min_volatility_pct": 0.1, "volatility_interval": "1h", "volatility_bars": 24})
    ledger = KlineLedger()
    assert a.track(ledger, [("BTCUSDT", "1s", "trades")]) == ["kline_1h"]
    assert ledger.series("ETHUSDT", "1h").source == "kline"
    a.evaluate({"BTCUSDT": "TRADING", "ETHUSDT": "TRADING"},
               {"BTCUSDT": MarketStats(None, None, None, None), "ETHUSDT": GOOD})
    assert a.missing == {"BTCUSDT"} and a.active == ["ETHUSDT"]
    disabled, _ = make({"enabled": False, "max_spread_bps": 1})
    assert disabled.track(KlineLedger(), []) == []
    disabled.evaluate({"BTCUSDT": "TRADING", "ETHUSDT": "BREAK"},
                      {"BTCUSDT": MarketStats(None, D(1), D(2), None), "ETHUSDT": GOOD})
    assert disabled.active == ["BTCUSDT"]   # rules off: the exchange status alone decides
