"""Helpers for the risk tests: a clean test symbol, a manager factory, quotes."""
from __future__ import annotations

from decimal import Decimal

import pytest

from pyengine.bundled import EXCHANGE_INFO
from risk import Quote, RiskConfig, RiskManager, SqliteRiskStore, SymbolRules, load_exchange_info

# 2024-08-08 00:00 UTC, a Thursday
T0 = 1_723_075_200_000_000_000
SECOND = 1_000_000_000
DAY = 86_400 * SECOND

# Round numbers make the boundaries exact: prices in cents, quantities in hundredths,
# no notional or percent-price limits unless a test sets them.
TEST = SymbolRules(symbol="TESTUSDT", status="TRADING", price_scale=2, qty_scale=2,
                   min_price=1, max_price=100_000_000, tick=1, min_qty=1, max_qty=10_000_000,
                   step=1)


def config(**kw) -> RiskConfig:
    base = dict(fee_pct=Decimal(0), stop_slippage_pct=Decimal(0),
                symbols=("TESTUSDT", "TEST2USDT", "BTCUSDT", "ETHUSDT"))
    base.update(kw)
    return RiskConfig(**base)


def rules(**overrides) -> dict[str, SymbolRules]:
    out = dict(load_exchange_info(EXCHANGE_INFO))
    out["TESTUSDT"] = SymbolRules(**{**TEST.__dict__, **overrides})
    out["TEST2USDT"] = SymbolRules(**{**TEST.__dict__, "symbol": "TEST2USDT"})
    return out


@pytest.fixture
def make(tmp_path):
    """make(cfg=..., rules=..., cash="10000", wall=T0) -> RiskManager on a fresh SQLite file."""
    counter = iter(range(1000))

    def _make(cfg: RiskConfig | None = None, symbol_rules=None, cash="10000", wall=T0,
              path=None, events=None) -> RiskManager:
        p = path or str(tmp_path / f"risk{next(counter)}.db")
        return RiskManager(cfg or config(), symbol_rules or rules(), SqliteRiskStore(p),
                           wall_ns=wall, initial_cash=Decimal(cash),
                           on_event=events.append if events is not None else None)
    return _make


def quote(mid_cents: int, half_spread: int = 1, now: int = 10 * SECOND) -> Quote:
    """A synced book around mid (in cents) updated just now."""
    return Quote(bid=mid_cents - half_spread, ask=mid_cents + half_spread, synced=True,
                 updated_ns=now)
