"""Limits may be tightened, never loosened or switched off."""
from __future__ import annotations

from decimal import Decimal

import pytest

from risk import RiskConfig, RiskConfigError


def test_defaults_are_the_users_limits():
    c = RiskConfig()
    assert (c.bps("max_trade_loss_pct"), c.bps("max_daily_loss_pct"),
            c.bps("max_weekly_loss_pct"), c.bps("max_exposure_pct")) == (100, 300, 300, 7000)
    assert c.symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "ZECUSDT")


@pytest.mark.parametrize("key,cap", [("max_trade_loss_pct", "1"), ("max_daily_loss_pct", "3"),
                                     ("max_weekly_loss_pct", "3"), ("max_exposure_pct", "70")])
def test_loosening_is_refused_naming_key_and_cap(key, cap):
    with pytest.raises(RiskConfigError) as err:
        RiskConfig(**{key: Decimal(cap) + Decimal("0.01")})
    assert f"risk.{key}" in str(err.value) and f"hard cap of {cap} %" in str(err.value)
    RiskConfig(**{key: Decimal(cap)})                       # the cap itself is allowed
    RiskConfig(**{key: Decimal(cap) / 2})                   # tightening is allowed


@pytest.mark.parametrize("key", ["max_trade_loss_pct", "max_daily_loss_pct",
                                 "max_weekly_loss_pct", "max_exposure_pct"])
@pytest.mark.parametrize("value", [0, -1, None, False])
def test_disabling_is_refused(key, value):
    with pytest.raises(RiskConfigError, match=f"risk.{key}"):
        RiskConfig(**{key: value})


def test_from_mapping_reads_toml_values_and_rejects_unknown_keys():
    c = RiskConfig.from_mapping({"max_trade_loss_pct": 0.5, "max_exposure_pct": "50",
                                 "day_start_utc": "08:00", "symbols": ["BTCUSDT"]})
    assert c.bps("max_trade_loss_pct") == 50 and c.bps("max_exposure_pct") == 5000
    assert c.symbols == ("BTCUSDT",)
    with pytest.raises(RiskConfigError, match="risk.max_loss: unknown setting"):
        RiskConfig.from_mapping({"max_loss": 1})
    with pytest.raises(RiskConfigError, match="risk.max_trade_loss_pct = 2: may not exceed"):
        RiskConfig.from_mapping({"max_trade_loss_pct": 2})


@pytest.mark.parametrize("kw,match", [
    ({"max_trade_loss_pct": Decimal("0.995")}, "multiple of 0.01 %"),
    ({"max_trade_loss_pct": "abc"}, "expected a number"),
    ({"day_start_utc": "8:00"}, "HH:MM"),
    ({"day_start_utc": "24:00"}, "HH:MM"),
    ({"stop_mode": "broker"}, "stop_mode"),
    ({"stale_ms": 0}, "stale_ms"),
    ({"max_orders_per_second": 41}, "max_orders_per_second"),
    ({"symbols": ("btcusdt",)}, "risk.symbols"),
    ({"price_band_pct": 0}, "price_band_pct"),
])
def test_bad_values_get_clear_errors(kw, match):
    with pytest.raises(RiskConfigError, match=match):
        RiskConfig(**kw)


def test_cost_estimates_round_up():
    assert RiskConfig(fee_pct=Decimal("0.075")).bps("fee_pct") == 8
    assert RiskConfig(stop_slippage_pct=Decimal("0.001")).bps("stop_slippage_pct") == 1
