"""Reason codes of the gate (numbered in csrc/risk.h) and the sentence each one produces."""
from __future__ import annotations

from decimal import Decimal
from typing import Callable, NamedTuple

from pyengine._core import lib

CODES: dict[int, str] = {getattr(lib, n): n[len("PE_RISK_R_"):]
                         for n in dir(lib) if n.startswith("PE_RISK_R_")}
CODES[lib.PE_RISK_OK] = "OK"
BY_NAME: dict[str, int] = {name: code for code, name in CODES.items()}


class Context(NamedTuple):
    """What a sentence may mention; amounts are already Decimals in their real units."""
    action: str           # e.g. "BUY 0.01500 BTCUSDT at 61234.56"
    limit: Decimal        # meaning depends on the code, see _SENTENCES
    value: Decimal
    equity: str           # e.g. "10000.00 USDT"
    quote: str            # quote asset, e.g. "USDT"
    pct: Callable[[Decimal], str]   # an amount as a percentage of equity


def _k(ctx: Context, x: Decimal) -> str:
    return f"{x:.2f} {ctx.quote}"


_SENTENCES: dict[str, Callable[[Context], str]] = {
    "BAD_ORDER": lambda c: f"{c.action} refused: the order is malformed (quantity, price or type).",
    "SYMBOL": lambda c: f"{c.action} refused: the symbol is not on the risk allow-list or not trading.",
    "ROLLOVER_DUE": lambda c: f"{c.action} refused: the day/week boundary has passed and the loss counters must roll over first.",
    "HALTED": lambda c: f"{c.action} refused: trading is HALTED by the kill switch; only an operator can resume.",
    "REDUCING": lambda c: f"{c.action} refused: a loss limit was hit, so only exits and cancels are allowed until the next day/week boundary.",
    "BOOK": lambda c: f"{c.action} refused: the order book is out of sync or empty, no decision is made on it.",
    "STALE": lambda c: f"{c.action} refused: market data is {c.value / 1_000_000:.0f} ms old, older than the {c.limit / 1_000_000:.0f} ms allowed.",
    "RATE_SECOND": lambda c: f"{c.action} refused: already {c.limit} orders in the last second (our cap, below Binance's).",
    "RATE_10S": lambda c: f"{c.action} refused: already {c.limit} orders in the last 10 seconds (Binance allows 50).",
    "RATE_DAY": lambda c: f"{c.action} refused: {c.value} orders today reached the daily cap of {c.limit}.",
    "PRICE_BAND": lambda c: f"{c.action} refused: it would trade {c.value / 100:.2f} % through the mid (buying above or selling below it), beyond the {c.limit / 100:.2f} % fat-finger band.",
    "STOP_INVALID": lambda c: f"{c.action} refused: the protective stop {c.value} is not below the entry price {c.limit}.",
    "EQUITY": lambda c: f"{c.action} refused: account equity is not positive ({c.equity}).",
    "DAY_LOSS": lambda c: f"{c.action} refused: today's loss {_k(c, c.value)} ({c.pct(c.value)}) has reached the daily limit {_k(c, c.limit)}.",
    "WEEK_LOSS": lambda c: f"{c.action} refused: this week's loss {_k(c, c.value)} ({c.pct(c.value)}) has reached the weekly limit {_k(c, c.limit)}.",
    "LOSS_BUDGET": lambda c: f"{c.action} refused: the loss at its stop ({_k(c, c.value)}) plus the open positions' stop losses would exceed what is left of the daily/weekly loss budget ({_k(c, c.limit)}).",
    "TRADE_LOSS": lambda c: f"{c.action} refused: the loss at the stop incl. fees and slippage would be {_k(c, c.value)} = {c.pct(c.value)} of equity {c.equity}; a single trade must lose less than {c.pct(c.limit)}.",
    "EXPOSURE": lambda c: f"{c.action} refused: it would deploy {_k(c, c.value)} more while only {_k(c, c.limit)} remain under the exposure cap (equity {c.equity}).",
    "SHORT": lambda c: f"{c.action} refused: spot only, there is no position to sell (no shorting).",
    "OVERSELL": lambda c: f"{c.action} refused: it sells more than the {c.limit} held and not already being sold.",
    "PRICE_FILTER": lambda c: f"{c.action} refused: a price is outside PRICE_FILTER (range or tick size).",
    "PERCENT_PRICE": lambda c: f"{c.action} refused: the price is outside the exchange's PERCENT_PRICE band (limit {c.limit}).",
    "LOT_SIZE": lambda c: f"{c.action} refused: the quantity breaks LOT_SIZE (min, max or step).",
    "MARKET_LOT_SIZE": lambda c: f"{c.action} refused: the quantity breaks MARKET_LOT_SIZE.",
    "MIN_NOTIONAL": lambda c: f"{c.action} refused: its value {_k(c, c.value)} is below the minimum notional {_k(c, c.limit)}.",
    "MAX_NOTIONAL": lambda c: f"{c.action} refused: its value {_k(c, c.value)} is above the maximum notional {_k(c, c.limit)}.",
}

# Which unit each code's limit/value are in, so the manager can convert before formatting.
K_UNITS = {"DAY_LOSS", "WEEK_LOSS", "LOSS_BUDGET", "TRADE_LOSS", "EXPOSURE"}   # quote * 10^4
QUOTE_UNITS = {"MIN_NOTIONAL", "MAX_NOTIONAL"}


def sentence(name: str, ctx: Context) -> str:
    return _SENTENCES[name](ctx)


def missing_sentences() -> list[str]:
    return [n for n in CODES.values() if n != "OK" and n not in _SENTENCES]
