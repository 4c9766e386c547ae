"""Warming the engine's kline ledger from the kline store before asking REST.

``store_first(store, rest_fetch)`` is a ``fetch`` for ``pyengine.ledger.KlineLedger.warm_up``
and ``repair``: when the store holds every kline asked for, with volumes, it answers from the
store (no request weight spent at the exchange); otherwise it asks REST and keeps the closed
klines it gets in the store, so the next start finds them there.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyengine.history.klines import INTERVAL_MS, Kline, align_up, parse_row
from pyengine.history.store import KlineStore

Fetch = Callable[[str, str, int | None, int | None, int], Awaitable[list[list[Any]]]]


def rest_row(k: Kline) -> list[Any]:
    """A stored kline as ``GET /api/v3/klines`` returns it."""
    return [k.open_time, k.open, k.high, k.low, k.close, k.volume, k.close_time,
            k.quote_volume, k.trades, k.taker_buy_base, k.taker_buy_quote, "0"]


def _complete(k: Kline) -> bool:
    return None not in (k.volume, k.quote_volume, k.trades, k.taker_buy_base, k.taker_buy_quote)


def store_first(store: KlineStore, rest_fetch: Fetch,
                clock: Callable[[], float] = time.time) -> Fetch:
    async def fetch(symbol: str, interval: str, start_ms: int | None, end_ms: int | None,
                    limit: int) -> list[list[Any]]:
        step = INTERVAL_MS[interval]
        now_ms = clock() * 1000
        span = None
        if start_ms is not None and end_ms is not None:
            first = align_up(start_ms, interval)
            span = first, min(end_ms + 1, first + limit * step)
        elif start_ms is None:
            # an end-anchored page (the ledger pages backwards from the newest bar); without
            # an end the newest bar is still forming, and only closed bars are ever stored
            stop = align_up(int(now_ms if end_ms is None else end_ms + 1), interval)
            if end_ms is None and stop > now_ms:
                stop -= step
            span = stop - (limit - (end_ms is None)) * step, stop
        if span is not None:
            first, stop = span
            want = max(0, -(-(stop - first) // step))
            rows = store.read(symbol, interval, first, stop)
            if want and len(rows) == want and all(map(_complete, rows)):
                return [rest_row(k) for k in rows]
        rows = await rest_fetch(symbol, interval, start_ms, end_ms, limit)
        closed = [parse_row([str(v) for v in r], f"REST {symbol} {interval}", step)
                  for r in rows]
        store.upsert(symbol, interval, [k for k in closed if k.close_time < now_ms], "rest")
        return rows

    return fetch
