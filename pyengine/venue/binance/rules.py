"""Symbol rules from ``exchangeInfo``: fixed-point formatting and client-side validation.

Every check Binance makes on a single order that can be made without account state is made
here before the order leaves, with Binance's own error code and message (digest 5.2-5.4, 6.2,
8.1), in Binance's order: parameter matrix, symbol and order-type permissions, then the symbol
filters in the order exchangeInfo lists them, then symbol status and open-order counts.
Arithmetic is on scaled integers only (filter values are converted exactly from their decimal
strings; bounds that fall between two representable values are rounded inwards).
"""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Mapping

from pyengine.symbols import SymbolSpec, spec_from_info
from pyengine.venue.binance.errors import FilterError
from pyengine.venue.binance.orders import (CLIENT_ID_PATTERN, MARKET_LIKE, MATRIX, PARAM_NAMES,
                                           RESP_TYPES, SIDES, STOP_TYPES, TIME_IN_FORCE, TYPES,
                                           Order, valid_client_order_id)

_PARAM = dict(PARAM_NAMES)
_NOT_SUPPORTED = {
    "MARKET": "Market orders are not supported for this symbol.",
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
}


def formatter(scale: int):
    """A function int -> exact decimal string with ``scale`` decimals (no float involved)."""
    if scale == 0:
        return str

    def fmt(v: int) -> str:
        if v < 0:
            return "-" + fmt(-v)
        s = str(v)
        if len(s) <= scale:
            s = s.rjust(scale + 1, "0")
        return s[:-scale] + "." + s[-scale:]
    return fmt


def _scaled(value: Any, scale: int, rounding) -> int:
    return int((Decimal(str(value)).scaleb(scale)).to_integral_value(rounding=rounding))


def _ratio(value: Any) -> tuple[int, int]:
    """A decimal multiplier as numerator/denominator integers."""
    sign, digits, exp = Decimal(str(value)).normalize().as_tuple()
    num = int("".join(map(str, digits))) * (-1 if sign else 1)
    return (num * 10 ** exp, 1) if exp >= 0 else (num, 10 ** -exp)


def _reject(code: int, msg: str, detail: str = "") -> FilterError:
    return FilterError(code, msg, detail)


class _Range:
    """min/max/step of a price or quantity filter, scaled; a zero part disables that check."""
    __slots__ = ("lo", "hi", "step", "step_exact", "scale")

    def __init__(self, lo: Any, hi: Any, step: Any, scale: int):
        self.scale = scale
        self.lo = _scaled(lo, scale, ROUND_CEILING)
        self.hi = _scaled(hi, scale, ROUND_FLOOR)
        s = Decimal(str(step)).scaleb(scale)
        self.step = int(s) if s == s.to_integral_value() else 0
        self.step_exact = None if self.step or s == 0 else Decimal(str(step))

    def ok(self, v: int) -> bool:
        if self.lo and v < self.lo:
            return False
        if self.hi and v > self.hi:
            return False
        if self.step:
            return v % self.step == 0
        if self.step_exact is not None:
            return Decimal(v).scaleb(-self.scale) % self.step_exact == 0
        return True


class SymbolRules:
    """Formatting and validation for one symbol, from its exchangeInfo entry."""

    def __init__(self, entry: Mapping[str, Any], exchange_filters: Mapping[str, Mapping] = {}):
        self.spec: SymbolSpec = spec_from_info(entry)
        self.symbol = self.spec.symbol
        self.status = entry.get("status", "TRADING")
        self.order_types = frozenset(entry.get("orderTypes", TYPES))
        self.iceberg_allowed = entry.get("icebergAllowed", True)
        self.quote_market_allowed = entry.get("quoteOrderQtyMarketAllowed", True)
        self.trailing_allowed = entry.get("allowTrailingStop", False)
        self.stp_modes = frozenset(entry.get("allowedSelfTradePreventionModes", ()))
        ps, qs = self.spec.price_scale, self.spec.qty_scale
        self.fmt_price = formatter(ps)
        self.fmt_qty = formatter(qs)
        self.filters = [f for f in entry.get("filters", ())]
        self._checks = [c for c in (self._compile(f) for f in self.filters) if c is not None]
        self._exchange_max_orders = exchange_filters.get("EXCHANGE_MAX_NUM_ORDERS", {}).get("maxNumOrders")
        self._exchange_max_algo = exchange_filters.get("EXCHANGE_MAX_NUM_ALGO_ORDERS", {}).get("maxNumAlgoOrders")
        self.max_orders = next((f["maxNumOrders"] for f in self.filters if f["filterType"] == "MAX_NUM_ORDERS"), None)
        self.max_algo = next((f["maxNumAlgoOrders"] for f in self.filters
                              if f["filterType"] == "MAX_NUM_ALGO_ORDERS"), None)

    # -- formatting ------------------------------------------------------------
    def params(self, o: Order) -> list[tuple[str, str]]:
        """The order's request parameters (without timestamp/signature), values as sent."""
        out = []
        for field, name in PARAM_NAMES:
            v = getattr(o, field)
            if v is None:
                continue
            if field in ("price", "stop_price", "quote_qty"):
                v = self.fmt_price(v)
            elif field in ("quantity", "iceberg_qty"):
                v = self.fmt_qty(v)
            else:
                v = str(v)
            out.append((name, v))
        return out

    # -- validation ------------------------------------------------------------
    def check(self, o: Order, *, ref_price: int | None = None, open_orders: int | None = None,
              open_algo_orders: int | None = None, account_open_orders: int | None = None) -> None:
        """Raise :class:`FilterError` exactly as Binance would reject ``o``.

        ``ref_price`` (scaled like prices) is the exchange's reference/average price; checks
        that need it (PERCENT_PRICE*, notional of MARKET orders) are skipped without it.
        Open-order counts (this symbol, its stop orders, the whole account) enable the
        MAX_NUM_* checks."""
        self._check_syntax(o)
        self._check_permissions(o)
        for check in self._checks:
            check(o, ref_price)
        self.check_open(o, open_orders, open_algo_orders, account_open_orders)

    def check_open(self, o: Order, open_orders: int | None = None,
                   open_algo_orders: int | None = None,
                   account_open_orders: int | None = None) -> None:
        """The checks of :meth:`check` that depend on the market and the account now (symbol
        status, open-order caps), not on the order's own fields and the symbol's filters."""
        if self.status != "TRADING":
            raise _reject(-2010, "Market is closed.", f"{self.symbol} status is {self.status}")
        algo = o.type in STOP_TYPES
        if open_orders is not None and self.max_orders is not None and open_orders + 1 > self.max_orders:
            raise _reject(-2010, "Filter failure: MAX_NUM_ORDERS", f"{open_orders} open, max {self.max_orders}")
        if algo and open_algo_orders is not None and self.max_algo is not None \
                and open_algo_orders + 1 > self.max_algo:
            raise _reject(-2010, "Filter failure: MAX_NUM_ALGO_ORDERS",
                          f"{open_algo_orders} open, max {self.max_algo}")
        if account_open_orders is not None and self._exchange_max_orders is not None \
                and account_open_orders + 1 > self._exchange_max_orders:
            raise _reject(-2010, "Filter failure: EXCHANGE_MAX_NUM_ORDERS")

    def _check_syntax(self, o: Order) -> None:
        if o.side not in SIDES:
            raise _reject(-1117, "Invalid side.", repr(o.side))
        if o.type not in TYPES:
            raise _reject(-1116, "Invalid orderType.", repr(o.type))
        if o.time_in_force is not None and o.time_in_force not in TIME_IN_FORCE:
            raise _reject(-1115, "Invalid timeInForce.", repr(o.time_in_force))
        if o.resp_type is not None and o.resp_type not in RESP_TYPES:
            raise _reject(-1130, "Data sent for parameter 'newOrderRespType' is not valid.")
        required, forbidden = MATRIX[o.type]
        for field in forbidden:
            if getattr(o, field) is not None:
                if field == "time_in_force":
                    raise _reject(-1114, "TimeInForce parameter sent when not required.")
                raise _reject(-1106, f"Parameter '{_PARAM[field]}' sent when not required.")
        for field in required:
            if getattr(o, field) is None:
                raise _reject(-1102, f"Mandatory parameter '{_PARAM[field]}' was not sent, "
                                     "was empty/null, or malformed.")
        if o.type == "MARKET":
            if o.quantity is None and o.quote_qty is None:
                raise _reject(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                     "but both were empty/null!")
            if o.quantity is not None and o.quote_qty is not None:
                raise _reject(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        if o.type in STOP_TYPES and o.stop_price is None and o.trailing_delta is None:
            raise _reject(-1102, "Param 'stopPrice' or 'trailingDelta' must be sent, "
                                 "but both were empty/null!")
        for field in ("quantity", "price", "stop_price", "quote_qty", "iceberg_qty"):
            v = getattr(o, field)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise TypeError(f"Order.{field} must be a scaled int, got {type(v).__name__}")
        if o.client_order_id is not None and not valid_client_order_id(o.client_order_id):
            raise _reject(-1100, "Illegal characters found in parameter 'newClientOrderId'; "
                                 f"legal range is '{CLIENT_ID_PATTERN}'.", repr(o.client_order_id))

    def _check_permissions(self, o: Order) -> None:
        if o.symbol != self.symbol:
            raise _reject(-1121, "Invalid symbol.", repr(o.symbol))
        if o.type not in self.order_types:
            raise _reject(-2010, _NOT_SUPPORTED.get(o.type, "Unsupported order combination"), o.type)
        if o.iceberg_qty is not None:
            if not self.iceberg_allowed:
                raise _reject(-2010, "Iceberg orders are not supported for this symbol.")
            if o.quantity is not None and o.iceberg_qty >= o.quantity:
                raise _reject(-2010, "IcebergQty exceeds QTY.")
            if o.type != "LIMIT_MAKER" and o.time_in_force != "GTC":
                raise _reject(-1014, "Unsupported order combination.", "iceberg orders need GTC")
        if o.quote_qty is not None and not self.quote_market_allowed:
            raise _reject(-2010, "Quote order qty market orders are not support for this symbol.")
        if o.trailing_delta is not None and not self.trailing_allowed:
            raise _reject(-2010, "Trailing stop orders are not supported for this symbol.")
        if o.stp_mode is not None and self.stp_modes and o.stp_mode not in self.stp_modes:
            raise _reject(-1130, "Data sent for parameter 'selfTradePreventionMode' is not valid.")

    # -- filters ---------------------------------------------------------------
    def _compile(self, f: Mapping[str, Any]):
        kind = f["filterType"]
        ps, qs = self.spec.price_scale, self.spec.qty_scale
        if kind == "PRICE_FILTER":
            rng = _Range(f["minPrice"], f["maxPrice"], f["tickSize"], ps)

            def price_filter(o: Order, ref):
                for v in (o.price, o.stop_price):
                    if v is not None and not rng.ok(v):
                        raise _reject(-1013, "Filter failure: PRICE_FILTER", self.fmt_price(v))
            return price_filter
        if kind in ("LOT_SIZE", "MARKET_LOT_SIZE"):
            rng = _Range(f["minQty"], f["maxQty"], f["stepSize"], qs)
            market_only = kind == "MARKET_LOT_SIZE"

            def lot_size(o: Order, ref):
                if market_only and o.type != "MARKET":
                    return
                for v in (o.quantity, None if market_only else o.iceberg_qty):
                    if v is not None and not rng.ok(v):
                        raise _reject(-1013, f"Filter failure: {kind}", self.fmt_qty(v))
            return lot_size
        if kind in ("PERCENT_PRICE", "PERCENT_PRICE_BY_SIDE"):
            if kind == "PERCENT_PRICE":
                bounds = {s: (_ratio(f["multiplierDown"]), _ratio(f["multiplierUp"])) for s in SIDES}
            else:
                bounds = {"BUY": (_ratio(f["bidMultiplierDown"]), _ratio(f["bidMultiplierUp"])),
                          "SELL": (_ratio(f["askMultiplierDown"]), _ratio(f["askMultiplierUp"]))}

            def percent_price(o: Order, ref):
                if ref is None or o.price is None:
                    return
                (dn, dd), (un, ud) = bounds[o.side]
                if o.price * dd < ref * dn or o.price * ud > ref * un:
                    raise _reject(-1013, f"Filter failure: {kind}",
                                  f"price {self.fmt_price(o.price)} vs reference {self.fmt_price(ref)}")
            return percent_price
        if kind in ("MIN_NOTIONAL", "NOTIONAL"):
            ns = ps + qs
            lo = _scaled(f.get("minNotional", 0), ns, ROUND_CEILING)
            hi = _scaled(f["maxNotional"], ns, ROUND_FLOOR) if kind == "NOTIONAL" else 0
            lo_market = f.get("applyToMarket", False) if kind == "MIN_NOTIONAL" else f.get("applyMinToMarket", False)
            hi_market = f.get("applyMaxToMarket", False)

            def notional(o: Order, ref):
                market = o.type in MARKET_LIKE
                if o.quote_qty is not None:
                    value = o.quote_qty * 10 ** qs
                elif not market:
                    value = o.price * o.quantity
                elif ref is not None and o.quantity is not None:
                    value = ref * o.quantity
                else:
                    return
                if lo and value < lo and (lo_market or not market):
                    raise _reject(-1013, f"Filter failure: {kind}")
                if hi and value > hi and (hi_market or not market):
                    raise _reject(-1013, f"Filter failure: {kind}")
            return notional
        if kind == "ICEBERG_PARTS":
            limit = int(f["limit"])

            def iceberg_parts(o: Order, ref):
                if o.iceberg_qty and o.quantity is not None and -(-o.quantity // o.iceberg_qty) > limit:
                    raise _reject(-1013, "Filter failure: ICEBERG_PARTS")
            return iceberg_parts
        if kind == "TRAILING_DELTA":
            above = (int(f["minTrailingAboveDelta"]), int(f["maxTrailingAboveDelta"]))
            below = (int(f["minTrailingBelowDelta"]), int(f["maxTrailingBelowDelta"]))

            def trailing_delta(o: Order, ref):
                if o.trailing_delta is None:
                    return
                is_above = (o.type.startswith("STOP_LOSS")) == (o.side == "BUY")
                lo_, hi_ = above if is_above else below
                if not lo_ <= o.trailing_delta <= hi_:
                    raise _reject(-1013, "Filter failure: TRAILING_DELTA")
            return trailing_delta
        return None   # count filters are checked in check(); others are not order-level


class ExchangeRules:
    """All symbols of one exchangeInfo reply, plus its advertised rate limits."""

    def __init__(self, info: Mapping[str, Any]):
        xf = {f["filterType"]: f for f in info.get("exchangeFilters", ())}
        self.symbols = {s["symbol"]: SymbolRules(s, xf) for s in info["symbols"]}
        self.rate_limits = list(info.get("rateLimits", ()))

    def __getitem__(self, symbol: str) -> SymbolRules:
        try:
            return self.symbols[symbol]
        except KeyError:
            raise FilterError(-1121, "Invalid symbol.", repr(symbol)) from None

    def __contains__(self, symbol: str) -> bool:
        return symbol in self.symbols
