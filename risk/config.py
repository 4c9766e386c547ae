"""The risk limits. Defaults are the user's hard limits; a config may tighten them but any
attempt to loosen or disable one is refused when the config is built."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any, Mapping

from pyengine.errors import UserError

UNIVERSE = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "ZECUSDT")

# The user's limits: never loosened, never switched off.
HARD_CAPS_PCT = {
    "max_trade_loss_pct": Decimal("1"),
    "max_daily_loss_pct": Decimal("3"),
    "max_weekly_loss_pct": Decimal("3"),
    "max_exposure_pct": Decimal("70"),
}
# Binance spot's unfilled-order-count limits (50 per 10 s, 160,000 per day): ours stay below.
BINANCE_ORDERS_PER_10S = 50
BINANCE_ORDERS_PER_DAY = 160_000
_COST_ESTIMATES = ("fee_pct", "stop_slippage_pct")


class RiskConfigError(UserError):
    """A risk setting that is invalid or would loosen a hard limit."""


@dataclass(frozen=True)
class RiskConfig:
    max_trade_loss_pct: Decimal = Decimal("1")     # loss at the stop strictly below this
    max_daily_loss_pct: Decimal = Decimal("3")     # realised + unrealised, per day
    max_weekly_loss_pct: Decimal = Decimal("3")    # per ISO week
    max_exposure_pct: Decimal = Decimal("70")      # positions + open buy orders
    fee_pct: Decimal = Decimal("0.1")              # taker fee assumed on entry and exit
    stop_slippage_pct: Decimal = Decimal("0.1")    # floor of the slippage expected at a stop
    default_stop_pct: Decimal = Decimal("2")       # stop placed when a strategy gives none
    price_band_pct: Decimal = Decimal("5")         # fat-finger band around the mid
    resize_margin_pct: Decimal = Decimal("0.05")   # a cut-down entry risks at most 1 % - this
    stale_ms: int = 5000                           # book older than this: no decisions
    max_orders_per_second: int = 5
    max_orders_per_10s: int = 40
    max_orders_per_day: int = 100_000
    day_start_utc: str = "00:00"                   # HH:MM; ISO weeks start Monday at this time
    stop_mode: str = "engine"                      # "engine" (risk watches marks) or "exchange"
    flatten_on_halt: bool = False
    symbols: tuple[str, ...] = UNIVERSE            # allow-list for entries
    quote_scale: int = 8                           # quote amounts are ints scaled by 10^this

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.type in ("Decimal",):
                object.__setattr__(self, f.name, _decimal(f.name, getattr(self, f.name)))
        for key, cap in HARD_CAPS_PCT.items():
            value = getattr(self, key)
            if value <= 0:
                raise RiskConfigError(
                    f"risk.{key} = {value}: this limit cannot be disabled; it must be above 0 "
                    f"and at most {cap} %")
            if value > cap:
                raise RiskConfigError(
                    f"risk.{key} = {value}: may not exceed the hard cap of {cap} %; "
                    f"limits can only be tightened")
        _pct_range("fee_pct", self.fee_pct, Decimal(0), Decimal(5))
        _pct_range("stop_slippage_pct", self.stop_slippage_pct, Decimal(0), Decimal(10))
        _pct_range("default_stop_pct", self.default_stop_pct, Decimal("0.01"), Decimal(50))
        _pct_range("price_band_pct", self.price_band_pct, Decimal("0.01"), Decimal(50))
        _pct_range("resize_margin_pct", self.resize_margin_pct, Decimal(0), Decimal("0.5"))
        for key in ("max_trade_loss_pct", "max_daily_loss_pct", "max_weekly_loss_pct",
                    "max_exposure_pct", "default_stop_pct", "price_band_pct",
                    "resize_margin_pct"):
            _bps(key, getattr(self, key))
        _int_range("stale_ms", self.stale_ms, 1, 60_000)
        _int_range("max_orders_per_10s", self.max_orders_per_10s, 1, BINANCE_ORDERS_PER_10S - 1)
        _int_range("max_orders_per_second", self.max_orders_per_second, 1, self.max_orders_per_10s)
        _int_range("max_orders_per_day", self.max_orders_per_day, 1, BINANCE_ORDERS_PER_DAY - 1)
        _int_range("quote_scale", self.quote_scale, 0, 12)
        day_start_offset_ns(self.day_start_utc)
        if self.stop_mode not in ("engine", "exchange"):
            raise RiskConfigError(
                f"risk.stop_mode = {self.stop_mode!r}: must be \"engine\" or \"exchange\"")
        if not isinstance(self.flatten_on_halt, bool):
            raise RiskConfigError("risk.flatten_on_halt: must be true or false")
        symbols = tuple(self.symbols)
        if not symbols or not all(isinstance(s, str) and s.isalnum() and s.isupper()
                                  for s in symbols):
            raise RiskConfigError(
                f"risk.symbols = {list(symbols)!r}: must be a non-empty list of upper-case "
                f"symbols such as \"BTCUSDT\"")
        object.__setattr__(self, "symbols", symbols)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "risk") -> "RiskConfig":
        """Build from a parsed TOML table; unknown keys are errors naming the key."""
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise RiskConfigError(
                    f"{where}.{key}: unknown setting (known: {', '.join(sorted(names))})")
        return cls(**dict(data))

    def bps(self, key: str) -> int:
        """A percentage setting in basis points. Limits are exact multiples of 0.01 %; the
        cost estimates (fee, slippage) are rounded up, which only makes sizing stricter
        (Binance's 0.075 % BNB fee counts as 0.08 %)."""
        value = getattr(self, key)
        if key in _COST_ESTIMATES:
            return int((value * 100).to_integral_value(rounding=ROUND_CEILING))
        return _bps(key, value)


def _decimal(key: str, value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise RiskConfigError(f"risk.{key} = {value!r}: expected a number (percent)")
    try:
        d = Decimal(str(value)) if isinstance(value, (int, float, str)) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise RiskConfigError(f"risk.{key} = {value!r}: expected a number (percent)") from None
    if not d.is_finite():
        raise RiskConfigError(f"risk.{key} = {value!r}: expected a finite number")
    return d


def _bps(key: str, pct: Decimal) -> int:
    bps = pct * 100
    if bps != bps.to_integral_value():
        raise RiskConfigError(f"risk.{key} = {pct}: must be a multiple of 0.01 %")
    return int(bps)


def _pct_range(key: str, value: Decimal, lo: Decimal, hi: Decimal) -> None:
    if not lo <= value <= hi:
        raise RiskConfigError(f"risk.{key} = {value}: must be between {lo} and {hi} %")


def _int_range(key: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RiskConfigError(f"risk.{key} = {value!r}: expected a whole number")
    if not lo <= value <= hi:
        raise RiskConfigError(f"risk.{key} = {value}: must be between {lo} and {hi}")


def day_start_offset_ns(text: str) -> int:
    """"HH:MM" (UTC) as nanoseconds after midnight."""
    parts = text.split(":") if isinstance(text, str) else []
    if (len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts)
            or int(parts[0]) > 23 or int(parts[1]) > 59):
        raise RiskConfigError(f"risk.day_start_utc = {text!r}: expected \"HH:MM\" in UTC")
    return (int(parts[0]) * 3600 + int(parts[1]) * 60) * 1_000_000_000
