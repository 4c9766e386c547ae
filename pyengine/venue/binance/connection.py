"""A WebSocket that stays up: jittered exponential backoff on failure, a proactive reconnect
before Binance's 24 h cut, and a ping watchdog that notices a silently dead peer.

Binance pings every 20 s and trio-websocket answers those pongs itself; the client's own
pings (one per ``ping_interval``, well inside the 5 messages/s inbound limit) detect a
connection that has died without a close frame.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import trio
from trio_websocket import (ConnectionClosed, HandshakeError, WebSocketConnection,
                            open_websocket_url)

log = logging.getLogger("pyengine.venue.binance")



class Reconnect(Exception):
    """Raised inside a session to ask for a fresh connection (e.g. ``serverShutdown``)."""


CONNECTION_ERRORS = (OSError, HandshakeError, ConnectionClosed, trio.BrokenResourceError,
                     trio.ClosedResourceError, Reconnect)


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(is_connection_error(e) for e in exc.exceptions)
    return isinstance(exc, CONNECTION_ERRORS)


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, or of each leaf of an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Backoff:
    """Full-jitter exponential backoff: uniform(0, min(cap, base * 2**attempt))."""
    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next(self) -> float:
        delay = self.rng.uniform(0, min(self.cap, self.base * 2 ** self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class ConnectionStats:
    connects: int = 0
    failures: int = 0            # connect attempts that failed + connections that broke
    proactive_reconnects: int = 0
    ping_timeouts: int = 0


async def keep_connected(url: str | Callable[[], str],
                         session: Callable[[WebSocketConnection], Awaitable[None]], *,
                         stats: ConnectionStats, on_down: Callable[[], None],
                         max_age: float = 23.5 * 3600, ping_interval: float = 30.0,
                         ping_timeout: float = 10.0, backoff: Backoff | None = None,
                         max_message_size: int = 16 * 2**20,
                         retire: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run ``session(ws)`` on a connection to ``url`` forever, reconnecting as needed.

    ``on_down`` is called (synchronously) each time a connection ends, before any wait, so
    state that depends on the connection (books, pending requests) is invalidated at once.
    ``retire`` (optional) runs when the connection reaches ``max_age``, while the session is
    still running (e.g. to let requests in flight finish); the connection closes after it."""
    backoff = backoff or Backoff()
    while True:
        target = url() if callable(url) else url
        try:
            async with open_websocket_url(target, max_message_size=max_message_size,
                                          message_queue_size=256, connect_timeout=10,
                                          disconnect_timeout=2) as ws:
                stats.connects += 1
                backoff.reset()
                aged = await _run_session(ws, session, stats, max_age, ping_interval, ping_timeout,
                                          retire)
                if aged:
                    stats.proactive_reconnects += 1
                    log.info("proactive reconnect of %s before the 24 h limit", target)
        except BaseException as exc:
            if not is_connection_error(exc):
                on_down()
                raise
            stats.failures += 1
            log.warning("websocket %s: %s", target, describe(exc))
            on_down()
            await trio.sleep(backoff.next())
            continue
        on_down()


async def _run_session(ws, session, stats, max_age, ping_interval, ping_timeout, retire) -> bool:
    """True if the connection was retired for its age."""
    aged = False

    async def age_limit(scope: trio.CancelScope) -> None:
        nonlocal aged
        await trio.sleep(max_age)
        aged = True
        if retire is not None:
            await retire()
        scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watchdog, ws, stats, ping_interval, ping_timeout, nursery.cancel_scope)
        nursery.start_soon(age_limit, nursery.cancel_scope)
        await session(ws)
        nursery.cancel_scope.cancel()
    if aged:
        return True
    if ws.closed is not None:
        raise ConnectionClosed(ws.closed)
    raise Reconnect("session ended")


async def _watchdog(ws: WebSocketConnection, stats: ConnectionStats, interval: float,
                    timeout: float, scope: trio.CancelScope) -> None:
    while True:
        await trio.sleep(interval)
        with trio.move_on_after(timeout) as cs:
            await ws.ping()
        if cs.cancelled_caught:
            stats.ping_timeouts += 1
            await ws.aclose()
            raise Reconnect("no pong within %.1f s" % timeout)
