"""REST kline backfill (``GET /api/v3/klines``) that stays inside the request-weight limit.

Each call costs weight 2 and returns up to 1000 klines. The client keeps its own count and
trusts ``X-MBX-USED-WEIGHT-1M`` when the server sends it; before a call that would pass
``max_weight_per_min`` it waits for the next minute window (Binance's windows start on the
minute). A 429 is honoured by waiting ``Retry-After`` seconds; after three 429s in a row, or on
any 418 (IP ban), it stops rather than risk a longer ban.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx

from pyengine.errors import UserError
from pyengine.history.klines import INTERVAL_MS, Kline, parse_row

DEFAULT_REST_URL = "https://api.binance.com"
KLINES_WEIGHT = 2
KLINES_LIMIT = 1000


class RestError(Exception):
    """A REST failure that retrying now would not fix (ban, repeated 429, bad reply)."""


class RestKlines:
    def __init__(self, client: httpx.Client, base_url: str = DEFAULT_REST_URL, *,
                 max_weight_per_min: int = 3000, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        if max_weight_per_min < KLINES_WEIGHT:
            raise UserError(f"--max-weight {max_weight_per_min}: must be at least {KLINES_WEIGHT}")
        self.client = client
        self.url = base_url.rstrip("/") + "/api/v3/klines"
        self.max_weight = max_weight_per_min
        self.sleep = sleep
        self.clock = clock
        self.used = 0
        self.window = int(clock() // 60)
        self.calls = 0
        self.waits: list[float] = []

    def klines(self, symbol: str, interval: str, start_ms: int,
               end_ms: int) -> Iterator[list[Kline]]:
        """Pages of closed klines opening in ``[start_ms, end_ms)``."""
        step = INTERVAL_MS[interval]
        while start_ms < end_ms:
            rows = self._call({"symbol": symbol, "interval": interval, "startTime": start_ms,
                               "endTime": end_ms - 1, "limit": KLINES_LIMIT})
            now_ms = int(self.clock() * 1000)
            page = []
            for i, row in enumerate(rows):
                if not isinstance(row, list):
                    raise RestError(f"{self.url}: kline {i} is not an array")
                k = parse_row([str(v) for v in row], f"{self.url} {symbol} row {i}", step)
                if start_ms <= k.open_time < end_ms and k.close_time < now_ms:
                    page.append(k)
            if not page:
                return
            yield page
            start_ms = page[-1].open_time + step
            if len(rows) < KLINES_LIMIT:
                return

    def _wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.sleep(seconds)

    def _call(self, params: dict) -> list:
        throttled = 0
        while True:
            now = self.clock()
            if int(now // 60) != self.window:
                self.window, self.used = int(now // 60), 0
            if self.used + KLINES_WEIGHT > self.max_weight:
                self._wait(60 - now % 60 + 0.05)
                continue
            self.used += KLINES_WEIGHT
            self.calls += 1
            try:
                r = self.client.get(self.url, params=params)
            except httpx.TransportError as exc:
                throttled += 1
                if throttled >= 3:
                    raise RestError(f"{self.url}: {exc.__class__.__name__}: {exc}") from None
                self._wait(2.0 ** throttled)
                continue
            header = r.headers.get("x-mbx-used-weight-1m")
            if header and header.isdigit():
                self.used = int(header)
            if r.status_code == 200:
                try:
                    body = r.json()
                except ValueError:
                    raise RestError(f"{self.url}: reply is not JSON") from None
                if not isinstance(body, list):
                    raise RestError(f"{self.url}: expected a JSON array, got {body!r:.100}")
                return body
            detail = _detail(r)
            if r.status_code == 418:
                raise RestError(f"{self.url}: IP banned by Binance (418): {detail}; "
                                f"Retry-After {r.headers.get('retry-after', '?')} s")
            if r.status_code == 429 or r.status_code >= 500:
                throttled += 1
                if throttled >= 3:
                    raise RestError(f"{self.url}: HTTP {r.status_code} three times: {detail}")
                retry = r.headers.get("retry-after", "")
                self._wait(float(retry) if retry.isdigit() else 2.0 ** throttled)
                continue
            raise RestError(f"{self.url} {params.get('symbol')}: HTTP {r.status_code}: {detail}")


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
        return f"{body.get('code')} {body.get('msg')}"
    except (ValueError, AttributeError):
        return r.text[:200]
