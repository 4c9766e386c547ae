"""Risk manager: the user's hard limits, checked before every order.

Limits (``RiskConfig``; defaults are the user's numbers, which may only be tightened):
a trade may lose strictly less than 1 % of equity at its stop (fees and expected
slippage included); day and ISO-week loss (realised + marked-to-market) at most 3 %;
at most 70 % of equity deployed (positions + open buy orders); spot only.

Engine integration (all prices/quantities are the book's scaled ints; quote amounts are
ints scaled by 10^config.quote_scale)::

    from risk import RiskConfig, RiskManager, SqliteRiskStore, Quote, load_exchange_info
    from risk import BUY, SELL, LIMIT, MARKET, RESIZE, PROTECTIVE

    rm = RiskManager(RiskConfig(), load_exchange_info(path), SqliteRiskStore("risk.db"),
                     wall_ns=time.time_ns(), initial_cash=Decimal("10000"))  # restores if saved
    i = rm.index("BTCUSDT")
    quote = Quote()                     # one per symbol, updated in place from the C book:
    quote.bid, quote.ask, quote.synced, quote.updated_ns = bid, ask, True, frame_mono_ns
    quote.buy_impact = avg_buy_px - ask  # pe_book_impact for the intended size
    quote.sell_impact = bid - avg_sell_px

    # hot path, before every order (no I/O; ~1 us):
    code = rm.check(client_id, i, BUY, LIMIT, price, qty, stop_px_or_0, quote,
                    time.monotonic_ns(), time.time_ns())       # flags=RESIZE by default
    if code == 0:
        send(qty=rm.result.qty, stop=rm.result.stop_px)      # qty may have been cut down
    # else: refused; the event (reason code + sentence) is already journaled

    # off the hot path, from the state manager / user-data stream:
    rm.on_order_done(client_id)                   # cancelled, rejected, expired
    actions = rm.on_fill(client_id, qty, price, wall_ns, fee_quote=..., fee_base=...)
    actions = rm.on_mark(i, mark_price, wall_ns)  # bar close or throttled ticks
    rm.on_clock(wall_ns)                          # once a second: rollover, journal refusals
    actions = rm.poll_operator(wall_ns)           # halt/resume queued by the CLI
    actions = rm.halt("reason", "telegram:123", wall_ns); rm.resume("operator", wall_ns)

Every ``Action`` must be carried out: ``exit`` -> a MARKET SELL of ``qty`` through
``rm.check(..., flags=PROTECTIVE)`` (allowed while REDUCING/HALTED, on stale books and
above our order-rate caps); ``stop`` -> an exchange STOP_LOSS_LIMIT (stop_mode
"exchange"); ``cancel_all`` -> cancel every open order, reporting each with
``on_order_done`` before any flatten exit. After crash recovery call ``rm.reconcile``
with the exchange's balances and ``rm.adopt_order`` for each open order the manager does
not know; the day's and week's loss anchors are never reset.
Events (``RiskEvent``) go to the store and to ``on_event`` (alerts, dashboard); a
refusal is queued by ``check`` and explained/journaled by ``flush_events`` (``on_clock``
and every slow-path call run it), one per reason and symbol per second, all counted in
``rm.refusals``. ``rm.metrics()`` gives the telemetry gauges (loss budget used, deployed
%), ``rm.summary()`` the human view (``Controls.risk``). The journal can be read while the
engine runs: ``pyengine risk show --journal PATH``; ``pyengine risk halt|resume`` queue
operator commands that ``poll_operator`` applies.
"""
from risk.config import RiskConfig, RiskConfigError
from risk.manager import (ACTIVE, BUY, HALTED, LIMIT, MARKET, PROTECTIVE, REDUCING, RESIZE,
                          SELL, STOP_LIMIT, Action, Quote, RiskManager)
from risk.reasons import BY_NAME as REASON_CODES
from risk.store import MemoryRiskStore, RiskEvent, RiskStore, SqliteRiskStore
from risk.symbols import SymbolRules, load_exchange_info

__all__ = ["ACTIVE", "BUY", "HALTED", "LIMIT", "MARKET", "PROTECTIVE", "REDUCING", "RESIZE",
           "SELL", "STOP_LIMIT", "Action", "Quote", "REASON_CODES", "RiskConfig",
           "RiskConfigError", "RiskEvent", "RiskManager", "RiskStore", "MemoryRiskStore",
           "SqliteRiskStore",
           "SymbolRules", "load_exchange_info"]
