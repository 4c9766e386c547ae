"""Exceptions raised by the Binance connector.

Exchange rejections keep Binance's own ``code`` and ``msg`` verbatim, and client-side rejections
(filters checked before sending) use the same codes and wording, so callers handle both alike.
"""
from __future__ import annotations


class BinanceError(Exception):
    """Base class of every connector error."""


class APIError(BinanceError):
    """Binance answered with ``{"code": ..., "msg": ...}`` (or the connector pre-empted it)."""

    def __init__(self, code: int, msg: str, status: int = 400, *, local: bool = False,
                 data: object = None):
        where = "rejected before sending" if local else f"HTTP {status}"
        super().__init__(f"Binance error {code} ({where}): {msg}")
        self.code, self.msg, self.status, self.local, self.data = code, msg, status, local, data


class FilterError(APIError):
    """An order breaks a symbol rule; raised locally with Binance's code and message."""

    def __init__(self, code: int, msg: str, detail: str = ""):
        super().__init__(code, msg, 400, local=True)
        self.detail = detail
        if detail:
            self.args = (f"{self.args[0]} [{detail}]",)


class RateLimited(BinanceError):
    """A request would exceed (or exceeded) a limit and waiting for the window is not allowed."""

    def __init__(self, message: str, retry_at: float):
        super().__init__(message)
        self.retry_at = retry_at   # trio.current_time() at which the limit clears


class IpBanned(RateLimited):
    """HTTP 418: the IP is banned until ``retry_at``; nothing may be sent before then."""


class UnknownOrderStatus(BinanceError):
    """The order request may or may not have reached the matching engine (-1007, 5xx,
    timeout, connection lost) and querying it did not settle the question."""

    def __init__(self, message: str, symbol: str, client_order_id: str):
        super().__init__(message)
        self.symbol, self.client_order_id = symbol, client_order_id


class OutcomeUnknown(BinanceError):
    """The request may have been executed (-1007, 5xx, no answer): establish its outcome by a
    query before doing anything that assumes either result."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.cause = cause


class ConnectionLost(BinanceError):
    """The WebSocket API is not connected (``sent=False``: the request never left) or closed
    while the request was in flight (``sent=True``: its outcome is unknown)."""

    def __init__(self, message: str, sent: bool):
        super().__init__(message)
        self.sent = sent
