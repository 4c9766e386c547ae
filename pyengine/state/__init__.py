"""Engine state: orders and their status machine (``orders``), balances, positions and PnL
(``portfolio``), the journaled state manager (``manager``) and recovery against the exchange
(``reconcile``). Each module documents its engine-facing API at its top."""
from pyengine.state.manager import EXTERNAL, StateManager
from pyengine.state.orders import (Fill, IllegalTransition, Order, OrderFact, OrderStatus,
                                   fact_from_execution_report, fact_from_order_query,
                                   fill_from_my_trade, fills_from_order_response)
from pyengine.state.portfolio import (Balance, Balances, PnL, Portfolio, Position,
                                      balances_from_account, balances_from_account_position,
                                      symbol_assets_from_exchange_info)
from pyengine.state.reconcile import ReconcileReport, Venue, reconcile, recover, resolve_unknown

__all__ = ["EXTERNAL", "StateManager", "Fill", "IllegalTransition", "Order", "OrderFact",
           "OrderStatus", "fact_from_execution_report", "fact_from_order_query",
           "fill_from_my_trade", "fills_from_order_response", "Balance", "Balances", "PnL", "Portfolio", "Position",
           "balances_from_account", "balances_from_account_position",
           "symbol_assets_from_exchange_info", "ReconcileReport", "Venue", "reconcile", "recover",
           "resolve_unknown"]
