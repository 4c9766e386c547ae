"""WebSocket API client (``/ws-api/v3``, digest 12): requests multiplexed by id over one
connection, ``session.logon`` with Ed25519 keys (per-request signatures with HMAC/RSA), and
the user-data subscription (``userDataStream.subscribe`` / ``.subscribe.signature``).

User-data events arrive on :attr:`WsApi.events` (a trio channel) unwrapped from their
``{"subscriptionId", "event"}`` envelope. After a reconnect the subscription is renewed and a
``{"e": "streamReset", "E": <server ms>}`` marker is queued first: events may have been missed,
so the consumer reconciles (open orders, trades) from that point.
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import orjson
import trio
from trio_websocket import WebSocketConnection

from pyengine.venue.binance.clock import ServerClock
from pyengine.venue.binance.connection import (Backoff, ConnectionStats, Reconnect,
                                               keep_connected)
from pyengine.venue.binance.direct import REFUSED, WRITTEN, DirectStream, install, write_text_now
from pyengine.venue.binance.endpoints import Endpoints
from pyengine.venue.binance.errors import (APIError, BinanceError, ConnectionLost, IpBanned,
                                           OutcomeUnknown, RateLimited)
from pyengine.venue.binance.frames import FrameBuilder
from pyengine.venue.binance.limits import RateLimiter
from pyengine.venue.binance.orders import Order
from pyengine.venue.binance.rest import UNKNOWN_CODES

log = logging.getLogger("pyengine.venue.binance")
STREAM_RESET = "streamReset"


@dataclass(slots=True)
class Reply:
    result: Any
    sent_ns: int      # monotonic ns after the request frame was written
    ack_ns: int       # monotonic ns when the response frame arrived


class _Pending:
    __slots__ = ("event", "msg", "ack_ns")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.msg: dict | None = None
        self.ack_ns = 0


@dataclass(slots=True)
class InFlight:
    """A request :meth:`WsApi.place_now` wrote without yielding; :meth:`WsApi.reply` waits
    for its answer."""
    rid: int
    pending: _Pending
    sent_ns: int          # monotonic ns right after the write; 0 while queued (send buffer full)
    deadline: float       # trio time after which the answer is overdue
    direct: DirectStream


class WsApi:
    def __init__(self, endpoints: Endpoints, frames: FrameBuilder, *, clock: ServerClock,
                 limiter: RateLimiter, user_data: bool = False, logon: bool = True,
                 request_timeout: float = 10.0, max_age: float = 23.5 * 3600,
                 ping_interval: float = 30.0, backoff: Backoff | None = None,
                 on_event: Callable[[dict], None] | None = None):
        self.endpoints = endpoints
        self.on_event = on_event   # sees every user-data event before it is queued
        self.frames = frames
        self.clock = clock
        self.limiter = limiter
        self.user_data = user_data
        self.logon = logon
        self.request_timeout = request_timeout
        self.max_age = max_age
        self.ping_interval = ping_interval
        self.backoff = backoff or Backoff()
        self.stats = ConnectionStats()
        self._events_in, self.events = trio.open_memory_channel(math.inf)
        self._ws: WebSocketConnection | None = None
        self._direct: DirectStream | None = None     # synchronous writes (plain ws:// only)
        self._ready = trio.Event()
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self.subscription_id: int | None = None

    # -- lifecycle -----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def wait_connected(self) -> None:
        await self._ready.wait()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Keep the connection (and logon, subscription) up; ``started`` after the first."""
        started = False

        async def session(ws: WebSocketConnection) -> None:
            nonlocal started
            async with trio.open_nursery() as nursery:
                direct = install(ws)
                if direct is not None:
                    nursery.start_soon(direct.run)
                nursery.start_soon(self._reader, ws)
                try:
                    await self._setup(ws)
                except BinanceError as exc:
                    if not started:
                        raise          # the first connection: bad key, bad clock... tell the caller
                    raise Reconnect(f"setup after reconnect failed: {exc}") from exc
                self._ws, self._direct = ws, direct
                self._ready.set()
                if not started:
                    started = True
                    task_status.started()
                await trio.sleep_forever()

        await keep_connected(self.endpoints.ws_api, session, stats=self.stats, on_down=self._on_down,
                             max_age=self.max_age, ping_interval=self.ping_interval,
                             backoff=self.backoff, retire=self._retire)

    async def _retire(self) -> None:
        """Age limit reached: new requests go elsewhere (REST) while those in flight finish."""
        self._ws = self._direct = None
        if self._ready.is_set():
            self._ready = trio.Event()
        with trio.move_on_after(self.request_timeout):
            while self._pending:
                await trio.sleep(0.005)

    def _on_down(self) -> None:
        self._ws = self._direct = None
        if self._ready.is_set():
            self._ready = trio.Event()
        self.frames.session = False
        for p in self._pending.values():
            p.msg = None
            p.event.set()

    async def _setup(self, ws: WebSocketConnection) -> None:
        signer = self.frames.signer
        if signer is not None and self.logon and signer.can_logon:
            for attempt in (1, 2):
                rid = next(self._ids)
                try:
                    await self._roundtrip(ws, rid, self.frames.logon(rid, self.clock.now_ms()), "session.logon")
                    break
                except APIError as exc:
                    if exc.code != -1021 or attempt == 2:
                        raise
                    await self._sync_time(ws)
            self.frames.session = True
        if self.user_data:
            method = "userDataStream.subscribe" if self.frames.session else "userDataStream.subscribe.signature"
            reply = await self._call(ws, method, signed=not self.frames.session, weight=2)
            self.subscription_id = reply.result["subscriptionId"]
            if self.stats.connects > 1:
                self._events_in.send_nowait({"e": STREAM_RESET, "E": self.clock.now_ms()})

    async def _reader(self, ws: WebSocketConnection) -> None:
        while True:
            raw = await ws.get_message()
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise Reconnect(f"malformed WS API frame: {raw[:100]!r}") from None
            rid = msg.get("id")
            if rid is not None:
                p = self._pending.get(rid)
                if p is not None:
                    p.msg, p.ack_ns = msg, time.monotonic_ns()
                    p.event.set()
                continue
            event = msg.get("event")
            if event is not None:
                if event.get("e") == "serverShutdown":
                    raise Reconnect("serverShutdown announced")
                if self.on_event is not None:
                    self.on_event(event)
                self._events_in.send_nowait(event)
            elif msg.get("status") == 401:
                raise Reconnect(f"session revoked: {msg.get('error')}")   # log on again

    # -- requests ------------------------------------------------------------------
    async def call(self, method: str, params: Mapping[str, Any] | None = None, *,
                   signed: bool = False, weight: int = 1, orders: int = 0,
                   max_wait: float = 10.0) -> Any:
        """One request; returns its ``result``. See :meth:`_result` for the errors."""
        ws = self._ws
        if ws is None:
            raise ConnectionLost(f"{method}: WebSocket API not connected", sent=False)
        return (await self._call(ws, method, params, signed=signed, weight=weight, orders=orders,
                                 max_wait=max_wait)).result

    async def _call(self, ws, method, params=None, *, signed=False, weight=1, orders=0,
                    max_wait=10.0, clock_retry=True) -> Reply:
        await self.limiter.acquire(weight, orders, max_wait=max_wait)
        rid = next(self._ids)
        frame = self.frames.request(rid, method, params, signed=signed, timestamp=self.clock.now_ms())
        try:
            return await self._roundtrip(ws, rid, frame, method)
        except APIError as exc:
            if exc.code != -1021 or not clock_retry:
                raise
        await self._sync_time(ws)   # rejected on receipt, never executed: re-measure, resend once
        return await self._call(ws, method, params, signed=signed, weight=weight, orders=orders,
                                max_wait=max_wait, clock_retry=False)

    async def place(self, order: Order, *, max_wait: float = 1.0) -> Reply:
        """``order.place`` through the fast frame builder (order already validated)."""
        ws = self._ws
        if ws is None:
            raise ConnectionLost("order.place: WebSocket API not connected", sent=False)
        await self.limiter.acquire(1, 1, max_wait=max_wait)
        rid = next(self._ids)
        return await self._roundtrip(ws, rid, self.frames.order_place(rid, order, self.clock.now_ms()),
                                     "order.place")

    def place_now(self, order: Order) -> InFlight | None:
        """Write ``order.place`` now, without yielding (the hot path): the frame is in the
        kernel's send buffer when this returns (``sent_ns`` set), or queued behind a full
        one. None when it cannot go now (not connected, TLS transport, another write in
        progress, rate limit window full): nothing was sent, use :meth:`place`."""
        ws, direct = self._ws, self._direct
        if ws is None or direct is None or not direct.ready() or not self.limiter.try_acquire(1, 1):
            return None
        rid = next(self._ids)
        frame = self.frames.order_place(rid, order, self.clock.now_ms())
        p = self._pending[rid] = _Pending()
        how, ns = write_text_now(ws, direct, frame)
        if how == REFUSED:
            del self._pending[rid]
            return None
        return InFlight(rid, p, ns if how == WRITTEN else 0,
                        trio.current_time() + self.request_timeout, direct)

    async def reply(self, f: InFlight) -> Reply:
        """The answer to a request written by :meth:`place_now` (errors as :meth:`place`)."""
        try:
            if not f.sent_ns:
                with trio.move_on_at(f.deadline):
                    await f.direct.wait_drained()
                f.sent_ns = time.monotonic_ns()
            return await self._await_reply(f.pending, "order.place", f.sent_ns, f.deadline)
        finally:
            self._pending.pop(f.rid, None)

    async def sync_time(self, samples: int = 3) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionLost("time: WebSocket API not connected", sent=False)
        await self._sync_time(ws, samples)

    async def _sync_time(self, ws, samples: int = 3) -> None:
        self.clock.reset()
        for _ in range(samples):
            await self.limiter.acquire(1)
            sent = self.clock.wall_ms()
            rid = next(self._ids)
            reply = await self._roundtrip(ws, rid, self.frames.request(rid, "time"), "time")
            self.clock.add_sample(sent, int(reply.result["serverTime"]), self.clock.wall_ms())

    async def _roundtrip(self, ws: WebSocketConnection, rid: int, frame: str, what: str) -> Reply:
        p = _Pending()
        self._pending[rid] = p
        try:
            try:
                await ws.send_message(frame)
            except Exception as exc:
                raise ConnectionLost(f"{what}: connection closed before sending", sent=False) from exc
            sent_ns = time.monotonic_ns()
            return await self._await_reply(p, what, sent_ns, trio.current_time() + self.request_timeout)
        finally:
            del self._pending[rid]

    async def _await_reply(self, p: _Pending, what: str, sent_ns: int, deadline: float) -> Reply:
        with trio.move_on_at(deadline):
            await p.event.wait()
        if not p.event.is_set():
            raise OutcomeUnknown(f"{what}: no answer within {self.request_timeout} s")
        if p.msg is None:
            raise ConnectionLost(f"{what}: connection lost while waiting for the answer", sent=True)
        return Reply(self._result(p.msg, what), sent_ns, p.ack_ns)

    def _result(self, msg: dict, what: str) -> Any:
        limits = msg.get("rateLimits")
        if limits:
            self.limiter.update_from_ws(limits)
        status = msg.get("status", 0)
        if status == 200:
            return msg.get("result")
        err = msg.get("error") or {}
        exc = APIError(int(err.get("code", 0)), str(err.get("msg", "")), status, data=err.get("data"))
        if status in (418, 429):
            data = err.get("data") or {}
            retry_at_ms = data.get("retryAfter")
            wait = max(0.0, (retry_at_ms - self.clock.now_ms()) / 1000) if retry_at_ms else 1.0
            if status == 418:
                self.limiter.on_ban(wait)
                raise IpBanned(f"{what}: {exc.msg}", trio.current_time() + wait) from exc
            self.limiter.on_too_many(wait)
            raise RateLimited(f"{what}: {exc.msg}", trio.current_time() + wait) from exc
        if status >= 500 or exc.code in UNKNOWN_CODES:
            raise OutcomeUnknown(f"{what}: {exc}", exc) from exc
        raise exc
