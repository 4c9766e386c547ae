"""How WS API answers map to results and errors (digest 12.1), without a connection."""
from __future__ import annotations

import pytest
import trio

from pyengine import bundled
from pyengine.venue.binance.clock import ServerClock
from pyengine.venue.binance.endpoints import TESTNET
from pyengine.venue.binance.errors import APIError, IpBanned, OutcomeUnknown, RateLimited
from pyengine.venue.binance.frames import FrameBuilder
from pyengine.venue.binance.limits import RateLimiter
from pyengine.venue.binance.rules import ExchangeRules
from pyengine.venue.binance.wsapi import WsApi

LIMITS = [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50, "count": 12},
          {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000,
           "count": 321}]


def make() -> WsApi:
    clock = ServerClock(_wall=lambda: 1_700_000_000.0)        # server time 1_700_000_000_000 ms
    limiter = RateLimiter(now_ms=clock.now_ms)
    return WsApi(TESTNET, FrameBuilder(ExchangeRules(bundled.exchange_info()), None), clock=clock,
                 limiter=limiter)


async def test_success_returns_result_and_updates_counts():
    ws = make()
    assert ws._result({"id": 1, "status": 200, "result": {"orderId": 5}, "rateLimits": LIMITS}, "x") == {"orderId": 5}
    assert ws.limiter.used("ORDERS", 10_000) == 12 and ws.limiter.used("REQUEST_WEIGHT", 60_000) == 321


async def test_rejection_keeps_code_and_message():
    ws = make()
    with pytest.raises(APIError) as exc:
        ws._result({"id": 1, "status": 400, "error": {"code": -2010, "msg": "Duplicate order sent."}}, "x")
    assert (exc.value.code, exc.value.msg, exc.value.status) == (-2010, "Duplicate order sent.", 400)


@pytest.mark.parametrize("status,code", [(503, -1007), (400, -1007), (500, -1000)])
async def test_unknown_outcomes(status, code):
    with pytest.raises(OutcomeUnknown):
        make()._result({"id": 1, "status": status, "error": {"code": code, "msg": "?"}}, "order.place")


async def test_429_and_418_use_retry_after_epoch_ms():
    ws = make()
    now = trio.current_time()
    err = {"code": -1003, "msg": "Way too much request weight used; IP banned until 1700000120000.",
           "data": {"serverTime": 1_700_000_000_000, "retryAfter": 1_700_000_120_000}}
    with pytest.raises(IpBanned):
        ws._result({"id": 1, "status": 418, "error": err}, "x")
    assert ws.limiter.banned_until == pytest.approx(now + 120, abs=0.5)
    err = {"code": -1015, "msg": "Too many new orders; current limit is 50 orders per 10 SECOND.",
           "data": {"serverTime": 1_700_000_000_000, "retryAfter": 1_700_000_004_000}}
    with pytest.raises(RateLimited):
        ws._result({"id": 2, "status": 429, "error": err}, "x")
    assert ws.limiter.blocked_until == pytest.approx(now + 4, abs=0.5)
