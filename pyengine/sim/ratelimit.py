"""Request-weight and unfilled-order-count limits (digest 4), calendar-aligned windows.

Weight is per IP (REST and WS-API share it), order counts per account. A client that keeps
sending after a 429 in the same window is banned (HTTP 418) for ``ban_ms``, doubling for
each later ban up to three days.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pyengine.sim.errors import ApiError

MIN_BAN_MS = 120_000
MAX_BAN_MS = 3 * 86_400_000


@dataclass
class Limits:
    weight_per_minute: int = 6000
    raw_per_5min: int = 300_000
    orders_per_10s: int = 50
    orders_per_day: int = 160_000
    requests_after_429_before_ban: int = 10

    def rate_limits(self) -> list[dict]:
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": self.weight_per_minute},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": self.orders_per_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": self.orders_per_day},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
             "limit": self.raw_per_5min},
        ]


@dataclass
class _Ip:
    minute: int = -1
    weight: int = 0
    raw_window: int = -1
    raw: int = 0
    over_in_window: int = 0
    banned_until: int = 0
    bans: int = 0


@dataclass
class _Orders:
    w10: int = -1
    c10: int = 0
    day: int = -1
    cday: int = 0


@dataclass
class RateLimiter:
    limits: Limits = field(default_factory=Limits)
    _ips: dict[str, _Ip] = field(default_factory=dict)
    _orders: dict[str, _Orders] = field(default_factory=dict)

    def _ip(self, ip: str, now: int) -> _Ip:
        st = self._ips.setdefault(ip, _Ip())
        minute = now // 60_000
        if st.minute != minute:
            st.minute, st.weight, st.over_in_window = minute, 0, 0
        raw_window = now // 300_000
        if st.raw_window != raw_window:
            st.raw_window, st.raw = raw_window, 0
        return st

    def used_weight(self, ip: str, now: int) -> int:
        return self._ip(ip, now).weight

    def charge(self, ip: str, weight: int, now: int) -> int:
        """Count one request of ``weight``; raises 429/418 errors. Returns the used weight."""
        st = self._ip(ip, now)
        if st.banned_until > now:
            raise self._banned(st, now)
        st.raw += 1
        st.weight += weight
        lim = self.limits
        if st.weight > lim.weight_per_minute or st.raw > lim.raw_per_5min:
            st.over_in_window += 1
            if st.over_in_window > lim.requests_after_429_before_ban + 1:
                st.bans += 1
                st.banned_until = now + min(MAX_BAN_MS, MIN_BAN_MS * 2 ** (st.bans - 1))
                raise self._banned(st, now)
            retry = (st.minute + 1) * 60_000 - now
            raise ApiError(-1003, f"Too much request weight used; current limit is "
                                  f"{lim.weight_per_minute} request weight per 1 MINUTE. Please use "
                                  f"WebSocket Streams for live updates to avoid polling the API.",
                           http=429, headers={"Retry-After": str(max(1, -(-retry // 1000)))},
                           data={"serverTime": now, "retryAfter": now + retry})
        return st.weight

    def refund(self, ip: str, weight: int, now: int) -> None:
        """Successful order placements and cancels cost 0 (2026-04-02)."""
        st = self._ip(ip, now)
        st.weight = max(0, st.weight - weight)

    def ban(self, ip: str, now: int, ms: int) -> None:
        st = self._ip(ip, now)
        st.bans += 1
        st.banned_until = now + ms

    def _banned(self, st: _Ip, now: int) -> ApiError:
        return ApiError(-1003, f"Way too much request weight used; IP banned until {st.banned_until}. "
                               f"Please use WebSocket Streams for live updates to avoid bans.",
                        http=418, headers={"Retry-After": str(max(1, -(-(st.banned_until - now) // 1000)))},
                        data={"serverTime": now, "retryAfter": st.banned_until})

    # -- unfilled order count ---------------------------------------------------------
    def _acct(self, account: str, now: int) -> _Orders:
        st = self._orders.setdefault(account, _Orders())
        w10, day = now // 10_000, now // 86_400_000
        if st.w10 != w10:
            st.w10, st.c10 = w10, 0
        if st.day != day:
            st.day, st.cday = day, 0
        return st

    def check_orders(self, account: str, n: int, now: int) -> None:
        """Raise -1015 if ``n`` more orders would exceed a window."""
        st, lim = self._acct(account, now), self.limits
        if st.cday + n > lim.orders_per_day:
            raise self._too_many(lim.orders_per_day, "1 DAY", (st.day + 1) * 86_400_000 - now, now)
        if st.c10 + n > lim.orders_per_10s:
            raise self._too_many(lim.orders_per_10s, "10 SECOND", (st.w10 + 1) * 10_000 - now, now)

    @staticmethod
    def _too_many(limit: int, what: str, retry_ms: int, now: int) -> ApiError:
        return ApiError(-1015, f"Too many new orders; current limit is {limit} orders per {what}.",
                        http=429, headers={"Retry-After": str(max(1, -(-retry_ms // 1000)))},
                        data={"serverTime": now, "retryAfter": now + retry_ms})

    def count_orders(self, account: str, n: int, now: int) -> None:
        st = self._acct(account, now)
        st.cday += n
        if st.cday <= self.limits.orders_per_day:
            st.c10 += n

    def first_fill(self, account: str, now: int) -> None:
        st = self._acct(account, now)
        st.c10, st.cday = max(0, st.c10 - 1), max(0, st.cday - 1)

    def order_counts(self, account: str, now: int) -> tuple[int, int]:
        st = self._acct(account, now)
        return st.c10, st.cday
