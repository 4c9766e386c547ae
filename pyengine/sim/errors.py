"""Binance error replies: ``{"code": <int>, "msg": <text>}`` with an HTTP status."""
from __future__ import annotations


class ApiError(Exception):
    """A request rejected with a Binance error code; ``http`` is the REST status."""

    def __init__(self, code: int, msg: str, http: int = 400, data: dict | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(msg)
        self.code, self.msg, self.http, self.data = code, msg, http, data
        self.headers = headers or {}

    def body(self) -> dict:
        out = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            out["data"] = self.data
        return out


def mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def not_required(name: str) -> ApiError:
    return ApiError(-1106, f"Parameter '{name}' sent when not required.")


def invalid_value(name: str) -> ApiError:
    return ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")


def rejected(msg: str) -> ApiError:
    return ApiError(-2010, msg)


def filter_failure(name: str) -> ApiError:
    return ApiError(-1013, f"Filter failure: {name}")


BAD_SYMBOL = (-1121, "Invalid symbol.")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
