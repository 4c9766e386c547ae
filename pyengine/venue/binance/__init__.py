"""Binance spot connector: REST (httpx), market streams and the WebSocket API (trio-websocket).

Entry points: :func:`open_client` (orders, queries, user data, market data) and the pieces it
is built from, documented in ``README.md`` next to this file.
"""
from pyengine.venue.binance.client import BinanceClient, Placed, open_client
from pyengine.venue.binance.endpoints import DEMO, PRODUCTION, TESTNET, Endpoints, by_name
from pyengine.venue.binance.errors import (APIError, BinanceError, ConnectionLost, FilterError,
                                           IpBanned, OutcomeUnknown, RateLimited,
                                           UnknownOrderStatus)
from pyengine.venue.binance.market import MarketData
from pyengine.venue.binance.orders import Order
from pyengine.venue.binance.rules import ExchangeRules, SymbolRules
from pyengine.venue.binance.signing import (Ed25519Signer, HmacSigner, RsaSigner, signer_from_env,
                                            signer_from_pem)
from pyengine.venue.binance.wsapi import STREAM_RESET

__all__ = ["APIError", "BinanceClient", "BinanceError", "ConnectionLost", "DEMO", "Ed25519Signer",
           "Endpoints", "ExchangeRules", "FilterError", "HmacSigner", "IpBanned", "MarketData",
           "Order", "OutcomeUnknown", "PRODUCTION", "Placed", "RateLimited", "RsaSigner",
           "STREAM_RESET", "SymbolRules", "TESTNET", "UnknownOrderStatus", "by_name",
           "open_client", "signer_from_env", "signer_from_pem"]
