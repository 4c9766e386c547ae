"""REST client (httpx under trio): weights, signing, time sync, retries (digest 2-4).

Retry rules: a request is retried only when repeating it cannot create a second effect. GETs
are retried after 429 (honouring Retry-After), 5xx, timeouts and transport errors; requests that
change state are retried only when they provably never reached Binance (connection refused,
429/418, -1021 timestamp rejection). Anything else that leaves the outcome open (-1007, other
5xx, a timeout after sending) raises :class:`OutcomeUnknown`, which the order layer resolves by
querying the order by its client order id.
"""
from __future__ import annotations

import random
from typing import Any, Iterable, Mapping

import httpx
import orjson
import trio

from pyengine.venue.binance.clock import ServerClock
from pyengine.venue.binance.endpoints import Endpoints
from pyengine.venue.binance.errors import (APIError, BinanceError, IpBanned, OutcomeUnknown,
                                           RateLimited)
from pyengine.venue.binance.limits import RateLimiter
from pyengine.venue.binance.signing import Signer, rest_payload

UNKNOWN_CODES = frozenset({-1000, -1001, -1006, -1007, -1008})


def request_weight(method: str, path: str, params: Mapping[str, Any] | None = None) -> int:
    """Request weight per digest 4.4 (successful order placements/cancels are charged 0 by
    the exchange, but 1 is reserved here so a failing burst cannot overshoot)."""
    p = params or {}
    if path == "/api/v3/depth":
        limit = int(p.get("limit", 100))
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if path == "/api/v3/openOrders" and method == "GET":
        return 6 if "symbol" in p else 80
    if path == "/api/v3/myTrades":
        return 5 if "orderId" in p else 20
    if path == "/api/v3/ticker/24hr":
        if "symbol" in p:
            return 2
        if "symbols" in p:
            n = len(orjson.loads(p["symbols"]))
            return 2 if n <= 20 else 40 if n <= 100 else 80
        return 80
    if path == "/api/v3/order/test":
        return 20 if p.get("computeCommissionRates") in ("true", True) else 1
    return _WEIGHTS.get(path, 1)


_WEIGHTS = {
    "/api/v3/exchangeInfo": 20, "/api/v3/trades": 25, "/api/v3/historicalTrades": 25,
    "/api/v3/aggTrades": 4, "/api/v3/klines": 2, "/api/v3/uiKlines": 2, "/api/v3/avgPrice": 2,
    "/api/v3/account": 20, "/api/v3/allOrders": 20, "/api/v3/rateLimit/order": 40,
    "/api/v3/account/commission": 20, "/api/v3/openOrderList": 6, "/api/v3/allOrderList": 20,
    "/api/v3/order/amend/keepPriority": 4,
}
# GET /order is 4; POST/DELETE /order are 1 (0 when successful).
_ORDER_PATHS = {"/api/v3/order", "/api/v3/orderList"}


class RestClient:
    def __init__(self, endpoints: Endpoints, signer: Signer | None = None, *,
                 clock: ServerClock | None = None, limiter: RateLimiter | None = None,
                 recv_window: int = 5000, timeout: float = 10.0, retries: int = 3,
                 max_wait: float = 60.0, transport: httpx.AsyncBaseTransport | None = None):
        if not 0 < recv_window <= 60000:
            raise ValueError(f"recv_window must be in 1..60000 ms, got {recv_window}")
        self.endpoints = endpoints
        self.signer = signer
        self.clock = clock or ServerClock()
        self.limiter = limiter or RateLimiter(now_ms=self.clock.now_ms)
        self.recv_window = recv_window
        self.retries = retries
        self.max_wait = max_wait
        self._http = httpx.AsyncClient(base_url=endpoints.rest, timeout=timeout, transport=transport,
                                       headers={"X-MBX-APIKEY": signer.api_key} if signer else {})

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "RestClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # -- public helpers ------------------------------------------------------------
    async def sync_time(self, samples: int = 3) -> ServerClock:
        """Estimate the server-time offset from ``samples`` ``GET /api/v3/time`` round trips."""
        self.clock.reset()
        for _ in range(samples):
            sent = self.clock.wall_ms()
            body = await self.request("GET", "/api/v3/time")
            self.clock.add_sample(sent, int(body["serverTime"]), self.clock.wall_ms())
        return self.clock

    async def exchange_info(self, symbols: Iterable[str] | None = None) -> dict:
        params = {"symbols": orjson.dumps(list(symbols)).decode()} if symbols else None
        info = await self.request("GET", "/api/v3/exchangeInfo", params)
        if info.get("rateLimits"):
            self.limiter.configure(info["rateLimits"])
        return info

    async def depth_raw(self, symbol: str, limit: int = 1000) -> bytes:
        """The raw ``GET /api/v3/depth`` body (for the C book's snapshot loader)."""
        return await self.request("GET", "/api/v3/depth", {"symbol": symbol, "limit": str(limit)}, raw=True)

    # -- core ------------------------------------------------------------------------
    async def request(self, method: str, path: str, params: Mapping[str, Any] | Iterable | None = None,
                      *, signed: bool = False, orders: int = 0, raw: bool = False,
                      max_wait: float | None = None) -> Any:
        """Send one request; returns the decoded JSON body (bytes if ``raw``).

        Raises APIError for a Binance rejection, RateLimited/IpBanned when the wait for a
        limit exceeds ``max_wait``, OutcomeUnknown when a state-changing request may or may
        not have been executed."""
        items = list(params.items()) if isinstance(params, Mapping) else list(params or ())
        items = [(k, _str(v)) for k, v in items if v is not None]
        idempotent = method == "GET"
        weight = request_weight(method, path, dict(items))
        if path in _ORDER_PATHS and method == "GET":
            weight = 4
        wait_cap = self.max_wait if max_wait is None else max_wait
        if signed and self.signer is None:
            raise BinanceError(f"{method} {path} needs an API key: configure a signer")
        attempt = 0
        clock_retry = True
        while True:
            attempt += 1
            await self.limiter.acquire(weight, orders, max_wait=wait_cap)
            query = rest_payload(items + self._auth()) if signed else rest_payload(items)
            if signed:
                query += "&signature=" + _encode_sig(self.signer.sign(query))
            try:
                resp = await self._send(method, path, query)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # never reached the server: safe to repeat whatever the method
                if attempt > self.retries:
                    raise BinanceError(f"{method} {path}: cannot connect to {self.endpoints.rest}: {exc}") from exc
                await trio.sleep(_backoff(attempt))
                continue
            except httpx.TransportError as exc:
                if idempotent and attempt <= self.retries:
                    await trio.sleep(_backoff(attempt))
                    continue
                if idempotent:
                    raise BinanceError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
                raise OutcomeUnknown(f"{method} {path}: no answer ({type(exc).__name__}); outcome unknown",
                                     exc) from exc
            self.limiter.update_from_headers(resp.headers)
            status = resp.status_code
            if status < 300:
                return resp.content if raw else orjson.loads(resp.content)
            err = _api_error(resp)
            if status == 418:
                self.limiter.on_ban(_retry_after(resp))
                raise IpBanned(f"{method} {path}: {err.msg}", trio.current_time() + _retry_after(resp)) from err
            if status == 429:
                after = _retry_after(resp)
                self.limiter.on_too_many(after)
                if after > wait_cap or attempt > self.retries:
                    raise RateLimited(f"{method} {path}: {err.msg}", trio.current_time() + after) from err
                continue  # acquire() waits until Retry-After has passed
            if err.code == -1021 and clock_retry:
                # rejected on receipt, never executed: re-measure the clock and resend once
                clock_retry = False
                await self.sync_time()
                continue
            if status >= 500 or err.code in UNKNOWN_CODES:
                if idempotent and attempt <= self.retries:
                    await trio.sleep(_backoff(attempt))
                    continue
                if not idempotent:
                    raise OutcomeUnknown(f"{method} {path}: {err}", err) from err
            raise err

    def _auth(self) -> list[tuple[str, str]]:
        return [("recvWindow", str(self.recv_window)), ("timestamp", str(self.clock.now_ms()))]

    async def _send(self, method: str, path: str, query: str) -> httpx.Response:
        if method in ("POST", "PUT"):
            return await self._http.request(method, path, content=query.encode(),
                                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        return await self._http.request(method, f"{path}?{query}" if query else path)


def _str(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return v if isinstance(v, str) else str(v)


def _encode_sig(sig: str) -> str:
    # base64 (Ed25519/RSA) needs + / = encoded; hex passes through unchanged
    return sig.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def _retry_after(resp: httpx.Response) -> float:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _api_error(resp: httpx.Response) -> APIError:
    try:
        body = orjson.loads(resp.content)
        return APIError(int(body["code"]), str(body["msg"]), resp.status_code, data=body.get("data"))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        text = resp.text[:200].strip() or resp.reason_phrase
        return APIError(0, f"non-JSON answer: {text}", resp.status_code)


def _backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Full-jitter exponential backoff."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))
