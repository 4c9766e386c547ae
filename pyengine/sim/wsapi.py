"""The WebSocket API (``/ws-api/v3``, digest 12): the REST endpoints as JSON methods,
``session.logon`` and user-data subscriptions whose events arrive on the same socket."""
from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING

import orjson
import trio
import trio_websocket

from pyengine.sim import api
from pyengine.sim.auth import ED25519, ApiKey, verify, ws_payload, ws_value
from pyengine.sim.errors import ApiError, mandatory

if TYPE_CHECKING:
    from pyengine.sim.server import Simulator

METHODS = {
    "ping": ("GET", "/api/v3/ping"), "time": ("GET", "/api/v3/time"),
    "exchangeInfo": ("GET", "/api/v3/exchangeInfo"), "depth": ("GET", "/api/v3/depth"),
    "trades.recent": ("GET", "/api/v3/trades"), "trades.historical": ("GET", "/api/v3/historicalTrades"),
    "trades.aggregate": ("GET", "/api/v3/aggTrades"), "klines": ("GET", "/api/v3/klines"),
    "uiKlines": ("GET", "/api/v3/uiKlines"), "avgPrice": ("GET", "/api/v3/avgPrice"),
    "ticker.24hr": ("GET", "/api/v3/ticker/24hr"), "ticker.price": ("GET", "/api/v3/ticker/price"),
    "ticker.book": ("GET", "/api/v3/ticker/bookTicker"), "ticker": ("GET", "/api/v3/ticker"),
    "order.place": ("POST", "/api/v3/order"), "order.test": ("POST", "/api/v3/order/test"),
    "order.status": ("GET", "/api/v3/order"), "order.cancel": ("DELETE", "/api/v3/order"),
    "order.cancelReplace": ("POST", "/api/v3/order/cancelReplace"),
    "openOrders.status": ("GET", "/api/v3/openOrders"), "openOrders.cancelAll": ("DELETE", "/api/v3/openOrders"),
    "allOrders": ("GET", "/api/v3/allOrders"), "account.status": ("GET", "/api/v3/account"),
    "account.rateLimits.orders": ("GET", "/api/v3/rateLimit/order"),
    "account.commission": ("GET", "/api/v3/account/commission"), "myTrades": ("GET", "/api/v3/myTrades"),
    "orderList.place.oco": ("POST", "/api/v3/orderList/oco"),
    "orderList.place.oto": ("POST", "/api/v3/orderList/oto"),
    "orderList.place.otoco": ("POST", "/api/v3/orderList/otoco"),
    "orderList.place": ("POST", "/api/v3/order/oco"),
    "orderList.cancel": ("DELETE", "/api/v3/orderList"), "orderList.status": ("GET", "/api/v3/orderList"),
    "openOrderLists.status": ("GET", "/api/v3/openOrderList"), "allOrderLists": ("GET", "/api/v3/allOrderList"),
}
SESSION_WEIGHT = 2


class Session:
    def __init__(self, ws: trio_websocket.WebSocketConnection, ip: str, now: int, rate_limits: bool,
                 stream: trio.abc.Stream):
        self.ws, self.ip, self.stream = ws, ip, stream
        self.connected_since = now
        self.key: ApiKey | None = None
        self.authorized_since: int | None = None
        self.return_rate_limits = rate_limits
        self.subs: dict[int, tuple[str, object]] = {}       # id -> (account, callback)
        self.next_sub = 0
        self.logon_sub: int | None = None        # the subscription session.logout ends
        self.micros = False                      # timeUnit=MICROSECOND
        self.held: bytes | None = None           # a response held back by the reorder fault
        self.send_ch, self.recv_ch = trio.open_memory_channel(20_000)

    def push(self, frame: bytes) -> None:
        try:
            self.send_ch.send_nowait(frame)
        except (trio.WouldBlock, trio.ClosedResourceError):
            pass


class WsApi:
    def __init__(self, sim: "Simulator"):
        self.sim = sim
        self.sessions: set[Session] = set()

    async def serve(self, request: trio_websocket.WebSocketRequest, ip: str, stream: trio.abc.Stream) -> None:
        query = request.path.partition("?")[2]
        ws = await request.accept()
        sim = self.sim
        s = Session(ws, ip, sim.clock.now_ms(), "returnRateLimits=false" not in query, stream)
        s.micros = "timeUnit=MICROSECOND" in query or "timeUnit=microsecond" in query
        self.sessions.add(s)
        try:
            sim.limiter.charge(ip, SESSION_WEIGHT, sim.clock.now_ms())
        except ApiError as exc:
            await ws.send_message(orjson.dumps({"id": None, "status": exc.http, "error": exc.body()}).decode())
            await ws.aclose()
            self.sessions.discard(s)
            return
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, s, nursery.cancel_scope)
                with trio.move_on_after(sim.config.connection_lifetime_s):
                    while True:
                        try:
                            text = await ws.get_message()
                        except trio_websocket.ConnectionClosed:
                            break
                        nursery.start_soon(self._answer, s, text) if sim.config.latency_ms else \
                            await self._answer(s, text)
                nursery.cancel_scope.cancel()
        finally:
            self._unsubscribe_all(s)
            self.sessions.discard(s)
            s.send_ch.close()
            with trio.move_on_after(2):          # a peer that never answers the close handshake
                await ws.aclose()

    async def _writer(self, s: Session, scope: trio.CancelScope) -> None:
        try:
            async for frame in s.recv_ch:
                if not frame:            # after an IP ban (418) the socket is closed
                    break
                await s.ws.send_message(frame.decode())
        except trio_websocket.ConnectionClosed:
            pass
        scope.cancel()

    async def _answer(self, s: Session, text) -> None:
        reply = await self.handle(s, text)
        faults = self.sim.faults
        if faults.ws_api_delay_s:
            await trio.sleep(faults.ws_api_delay_s)
        if reply is None:
            return
        frame = orjson.dumps(reply)
        held = s.held
        if faults.reorder_ws_api and held is None:
            faults.reorder_ws_api -= 1
            s.held = frame
            return
        s.push(frame)
        if held is not None:
            s.held = None
            s.push(held)
        if reply.get("status") == 418:
            s.push(b"")

    def _rate_limits(self, s: Session, account: str, now: int) -> list[dict]:
        lim = self.sim.limiter
        out = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                "limit": lim.limits.weight_per_minute, "count": lim.used_weight(s.ip, now)}]
        if account:
            c10, cday = lim.order_counts(account, now)
            out = [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                    "limit": lim.limits.orders_per_10s, "count": c10},
                   {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
                    "limit": lim.limits.orders_per_day, "count": cday}] + out
        return out

    async def handle(self, s: Session, text) -> dict | None:
        sim = self.sim
        now = sim.clock.now_ms()
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {"id": None, "status": 400, "error": {"code": -1013, "msg": "Invalid JSON"}}
        if not isinstance(msg, dict):
            return {"id": None, "status": 400, "error": {"code": -1013, "msg": "Invalid JSON"}}
        rid = msg.get("id")
        method = str(msg.get("method", ""))
        if method.startswith("v3/"):
            method = method[3:]
        raw = msg.get("params") or {}
        want_limits = s.return_rate_limits and raw.get("returnRateLimits", True) is not False
        ctx = api.Ctx(now, s.ip)
        try:
            if not isinstance(raw, dict):
                raise ApiError(-1104, "Not all sent parameters were read")
            params = {k: ws_value(v) for k, v in raw.items() if k != "returnRateLimits"}
            fault = sim.faults.take_error(method)
            if method.startswith(("session.", "userDataStream.")):
                sim.limiter.charge(s.ip, SESSION_WEIGHT, now)
                if fault is not None:
                    if fault.execute:
                        self._session(s, method, raw, params, now)
                    raise _injected(fault, now)
                result = self._session(s, method, raw, params, now)
            else:
                route = METHODS.get(method)
                if route is None:
                    raise ApiError(-1020, "This operation is not supported." if method else "Invalid request")
                ep = api.ENDPOINTS[route]
                weight = ep.weight(params)
                sim.limiter.charge(s.ip, weight, now)
                if ep.security != api.NONE:
                    ctx.account = self._auth(s, raw, params, ep.security, now).account
                if ep.order:
                    await sim.latency()
                if fault is not None:
                    if fault.execute:
                        try:
                            ep.fn(sim, ctx, params)
                        except ApiError:
                            pass
                    raise _injected(fault, now)
                result = ep.fn(sim, ctx, params)
                if s.micros:
                    result = api.to_micros(orjson.loads(orjson.dumps(result)), route[1])
                if ep.order:
                    sim.limiter.refund(s.ip, weight, now)
            reply = {"id": rid, "status": 200, "result": result}
        except ApiError as exc:
            err = exc.body()
            if exc.http in (418, 429) and exc.data:
                err["data"] = exc.data
            reply = {"id": rid, "status": exc.http, "error": err}
        except Exception:                      # a simulator bug must not take the exchange down
            traceback.print_exc(file=sys.stderr)
            reply = {"id": rid, "status": 500, "error": {"code": -1000, "msg": "An unknown error occurred while "
                                                                              "processing the request."}}
        if want_limits:
            reply["rateLimits"] = self._rate_limits(s, ctx.account, now)
        return reply

    def _auth(self, s: Session, raw: dict, params: dict, security: str, now: int) -> ApiKey:
        sim = self.sim
        if "signature" in raw:
            if "apiKey" not in raw:
                raise mandatory("apiKey")
            k = sim.key_for(params["apiKey"], security)
            sim.check_timestamp(params, now)
            if not verify(k, ws_payload(raw), str(raw["signature"])):
                raise ApiError(-1022, "Signature for this request is not valid.")
            return k
        if s.key is None:
            if "apiKey" not in raw:
                raise mandatory("apiKey")
            raise mandatory("signature")
        if s.key.key not in sim.keys:
            s.key = None
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", http=401)
        sim.check_timestamp(params, now)
        return s.key

    def _status(self, s: Session, now: int) -> dict:
        return {"apiKey": s.key.key if s.key else None, "authorizedSince": s.authorized_since,
                "connectedSince": s.connected_since, "returnRateLimits": s.return_rate_limits,
                "serverTime": now, "userDataStream": bool(s.subs)}

    def _session(self, s: Session, method: str, raw: dict, params: dict, now: int):
        sim = self.sim
        if method == "session.logon":
            if "apiKey" not in raw:
                raise mandatory("apiKey")
            k = sim.key_for(params["apiKey"], api.USER_DATA)
            if k.kind != ED25519:
                raise ApiError(-4056, "HMAC_SHA256 API key is not supported.")
            sim.check_timestamp(params, now)
            if "signature" not in raw:
                raise mandatory("signature")
            if not verify(k, ws_payload(raw), str(raw["signature"])):
                raise ApiError(-1022, "Signature for this request is not valid.")
            s.key, s.authorized_since = k, now
            return self._status(s, now)
        if method == "session.status":
            return self._status(s, now)
        if method == "session.logout":
            for sid, (_, _) in list(s.subs.items()):
                if sid == s.logon_sub:
                    self._end_sub(s, sid, now)
            s.key = s.authorized_since = None
            return self._status(s, now)
        if method == "session.subscriptions":
            return [{"subscriptionId": sid} for sid in sorted(s.subs)]
        if method == "userDataStream.subscribe":
            if s.key is None:
                raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", http=401)
            if any(acct == s.key.account for acct, _ in s.subs.values()):
                raise ApiError(-2035, "User Data Stream subscription already active.")
            sid = self._add_sub(s, s.key.account)
            s.logon_sub = sid
            return {"subscriptionId": sid}
        if method == "userDataStream.subscribe.signature":
            k = self._auth(s, raw, params, api.USER_DATA, now) if "signature" in raw else None
            if k is None:
                raise mandatory("signature")
            if any(acct == k.account for acct, _ in s.subs.values()):
                raise ApiError(-2035, "User Data Stream subscription already active.")
            return {"subscriptionId": self._add_sub(s, k.account)}
        if method == "userDataStream.unsubscribe":
            sid = raw.get("subscriptionId")
            if sid is None:
                if not s.subs:
                    raise ApiError(-2036, "User Data Stream subscription not active.")
                for sub in list(s.subs):
                    self._end_sub(s, sub, now)
            else:
                if sid not in s.subs:
                    raise ApiError(-2036, "User Data Stream subscription not active.")
                self._end_sub(s, sid, now)
            return {}
        raise ApiError(-1020, "This operation is not supported.")

    def _add_sub(self, s: Session, account: str) -> int:
        sid = s.next_sub
        s.next_sub += 1

        def deliver(events: list[dict], sid=sid) -> None:
            for ev in events:
                s.push(orjson.dumps({"subscriptionId": sid, "event": ev}))
        s.subs[sid] = (account, deliver)
        self.sim.engine.listeners.setdefault(account, []).append(deliver)
        return sid

    def _end_sub(self, s: Session, sid: int, now: int) -> None:
        account, cb = s.subs.pop(sid)
        lst = self.sim.engine.listeners.get(account, [])
        if cb in lst:
            lst.remove(cb)
        s.push(orjson.dumps({"subscriptionId": sid, "event": {"e": "eventStreamTerminated", "E": now}}))

    def _unsubscribe_all(self, s: Session) -> None:
        for sid, (account, cb) in list(s.subs.items()):
            lst = self.sim.engine.listeners.get(account, [])
            if cb in lst:
                lst.remove(cb)
        s.subs.clear()

    def shutdown_notice(self, now: int) -> None:
        for s in list(self.sessions):
            s.push(orjson.dumps({"event": {"e": "serverShutdown", "E": now}}))

    async def drop_all(self) -> None:
        """Fault injection: cut every WS-API connection (TCP close, no close handshake)."""
        for s in list(self.sessions):
            await trio.aclose_forcefully(s.stream)


def _injected(fault, now: int) -> ApiError:
    """A fault's error as the WebSocket API words it: a 418/429 carries ``retryAfter``."""
    data = ({"serverTime": now, "retryAfter": now + fault.retry_after_s * 1000}
            if fault.retry_after_s else None)
    return ApiError(fault.code, fault.msg, http=fault.status, data=data)
