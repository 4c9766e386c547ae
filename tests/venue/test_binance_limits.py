"""Weight/order-count throttling and 429/418 handling, on trio's virtual clock."""
from __future__ import annotations

import pytest
import trio

from pyengine.venue.binance.errors import IpBanned, RateLimited
from pyengine.venue.binance.limits import RateLimiter

LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 10},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 1000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 6100},
]


def server_ms() -> int:
    # server clock = trio's (virtual) clock, starting 5 s into a minute
    return int(trio.current_time() * 1000) + 5_000


def test_configure_keeps_weight_and_orders_only():
    rl = RateLimiter(LIMITS, now_ms=lambda: 0)
    assert [(w.kind, w.interval_ms, w.limit) for w in rl.windows] == [
        ("REQUEST_WEIGHT", 60_000, 100), ("ORDERS", 10_000, 10), ("ORDERS", 86_400_000, 1000)]


async def test_weight_throttles_before_limit_until_next_minute(autojump_clock):
    rl = RateLimiter(LIMITS, now_ms=server_ms, headroom=0.9)
    t0 = trio.current_time()
    for _ in range(9):
        await rl.acquire(10)
    assert rl.used("REQUEST_WEIGHT", 60_000) == 90 and trio.current_time() == t0
    await rl.acquire(10)            # 100 > 90: waits for the next calendar minute (55 s away)
    assert rl.throttled == 1
    assert server_ms() // 60_000 == 1 and trio.current_time() - t0 == pytest.approx(55, abs=0.01)
    assert rl.used("REQUEST_WEIGHT", 60_000) == 10


async def test_weight_wait_longer_than_allowed_raises(autojump_clock):
    rl = RateLimiter(LIMITS, now_ms=server_ms, headroom=0.9)
    await rl.acquire(90)
    with pytest.raises(RateLimited, match="REQUEST_WEIGHT 100 per 60 s"):
        await rl.acquire(1, max_wait=1.0)


async def test_order_count_throttles_on_10s_window(autojump_clock):
    rl = RateLimiter(LIMITS, now_ms=server_ms, headroom=1.0)
    for _ in range(10):
        await rl.acquire(1, orders=1)
    t0 = trio.current_time()
    await rl.acquire(1, orders=1)
    assert 0 < trio.current_time() - t0 <= 10.01
    assert rl.used("ORDERS", 10_000) == 1 and rl.used("ORDERS", 86_400_000) == 11


async def test_headers_and_ws_counts_correct_the_estimate(autojump_clock):
    rl = RateLimiter(LIMITS, now_ms=server_ms)
    await rl.acquire(5, orders=1)
    rl.update_from_headers({"X-MBX-USED-WEIGHT-1M": "42", "x-mbx-order-count-10s": "7",
                            "X-MBX-ORDER-COUNT-1D": "300", "content-type": "application/json"})
    assert rl.used("REQUEST_WEIGHT", 60_000) == 42
    assert rl.used("ORDERS", 10_000) == 7 and rl.used("ORDERS", 86_400_000) == 300
    rl.update_from_ws([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                        "limit": 100, "count": 61}])
    assert rl.used("REQUEST_WEIGHT", 60_000) == 61


async def test_429_blocks_until_retry_after(autojump_clock):
    rl = RateLimiter(LIMITS, now_ms=server_ms)
    rl.on_too_many(3.0)
    t0 = trio.current_time()
    with pytest.raises(RateLimited) as exc:
        await rl.acquire(1, max_wait=1.0)
    assert exc.value.retry_at == pytest.approx(t0 + 3.0)
    await rl.acquire(1, max_wait=5.0)
    assert trio.current_time() - t0 == pytest.approx(3.0)


async def test_418_is_a_full_stop(autojump_clock):
    rl = RateLimiter(LIMITS, now_ms=server_ms)
    rl.on_ban(120.0)
    with pytest.raises(IpBanned, match="418"):
        await rl.acquire(1, max_wait=60.0)
    t0 = trio.current_time()
    await rl.acquire(1, max_wait=200.0)
    assert trio.current_time() - t0 == pytest.approx(120.0)
