"""Exact decimal <-> fixed-point conversion for the simulator's wire format.

Inside the simulator every price, quantity and balance is an ``int`` at a known decimal
scale; Binance's wire format is a decimal string, padded to 8 decimals on output.
"""
from __future__ import annotations

import functools

WIRE_DECIMALS = 8          # Binance pads prices, quantities and balances to 8 decimals
ASSET_SCALE = 8            # balances are held in units of 1e-8 of the asset
_POW10 = [10 ** i for i in range(40)]
_ZERO = ["0"] + ["0." + "0" * d for d in range(1, 40)]


class NotDecimal(ValueError):
    """The text is not a plain non-negative decimal number."""


def parse_scaled(text: str, scale: int) -> tuple[int, bool]:
    """``("1.2300", 2) -> (123, True)``; the flag is False when precision was lost
    (the value has non-zero digits beyond ``scale``). Raises :class:`NotDecimal`."""
    if not text or len(text) > 40:
        raise NotDecimal(text)
    whole, dot, frac = text.partition(".")
    if (not whole and not frac) or (whole and not whole.isdigit()) or (frac and not frac.isdigit()) \
            or (dot and not frac and not whole):
        raise NotDecimal(text)
    if not whole.isascii() or not frac.isascii():
        raise NotDecimal(text)
    kept, dropped = frac[:scale], frac[scale:]
    value = int(whole or "0") * _POW10[scale] + int(kept.ljust(scale, "0") or "0")
    return value, not dropped.strip("0")


@functools.lru_cache(maxsize=1024)
def filter_value(text: str) -> int:
    """An exchangeInfo filter value at scale 8: the same few strings, checked on every order."""
    return parse_scaled(text, 8)[0]


def fmt(value: int, scale: int, decimals: int = WIRE_DECIMALS) -> str:
    """Scaled int -> decimal string with exactly ``decimals`` digits (truncating extra
    digits, which only happens when ``scale > decimals``)."""
    if not value:
        return _ZERO[decimals]          # most fields of an order event are zero
    if scale > decimals:
        value //= _POW10[scale - decimals]
        scale = decimals
    value *= _POW10[decimals - scale]
    sign = "-" if value < 0 else ""
    digits = str(abs(value))
    if decimals == 0:
        return sign + digits
    if len(digits) <= decimals:
        digits = digits.rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def rescale(value: int, from_scale: int, to_scale: int, round_up: bool = False) -> int:
    """Change the scale of a fixed-point value; precision lost is rounded down (or up)."""
    if to_scale >= from_scale:
        return value * _POW10[to_scale - from_scale]
    q, r = divmod(value, _POW10[from_scale - to_scale])
    return q + (1 if round_up and r else 0)


def scale_of(step: str) -> int:
    """Decimals needed for multiples of ``step`` ("0.01000000" -> 2, "1.00000000" -> 0)."""
    whole, _, frac = step.partition(".")
    frac = frac.rstrip("0")
    return len(frac)
