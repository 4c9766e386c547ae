"""Market streams: ``/ws/<stream>``, ``/ws`` + SUBSCRIBE, ``/stream?streams=a/b`` (digest 11).

The hub receives every public market change from the markets and fans out frames to the
connections subscribed to the matching stream names. Recorded payloads are forwarded as
they are; everything else (aggTrade, kline, merged 1000 ms diffs, partial depth,
synthetic bookTicker) is built from the market state.
"""
from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING

import orjson
import trio
import trio_websocket

from pyengine.book import ASK, BID
from pyengine.sim.market import INTERVAL_MS, Market, Publisher, Trade, interval_end, interval_start
from pyengine.sim.numbers import fmt

if TYPE_CHECKING:
    from pyengine.sim.server import Simulator

STREAM_RE = re.compile(r"^[a-z0-9]+@(trade|aggTrade|bookTicker|ticker|miniTicker|avgPrice|"
                       r"depth(5|10|20)?(@100ms|@1000ms)?|kline_(" + "|".join(INTERVAL_MS) + r"))$")
MAX_STREAMS = 1024
QUEUE = 20_000


def _lv(levels) -> list[list[str]]:
    return [[fmt(p, 8), fmt(q, 8)] for p, q in levels]


class Conn:
    def __init__(self, ws: trio_websocket.WebSocketConnection, combined: bool, stream: trio.abc.Stream):
        self.ws, self.combined, self.stream = ws, combined, stream
        self.streams: set[str] = set()
        self.send_ch, self.recv_ch = trio.open_memory_channel(QUEUE)
        self.overflow = False

    def send(self, name: str, payload: bytes) -> None:
        frame = (b'{"stream":"' + name.encode() + b'","data":' + payload + b"}") if self.combined else payload
        try:
            self.send_ch.send_nowait(frame)
        except trio.WouldBlock:
            self.overflow = True           # a slow consumer is disconnected, as Binance does
        except trio.ClosedResourceError:
            pass


class StreamHub(Publisher):
    def __init__(self, sim: "Simulator"):
        self.sim = sim
        self.subs: dict[str, set[Conn]] = {}
        self.conns: set[Conn] = set()
        self._pending: dict[str, dict] = {}          # merged 1000 ms diff per symbol
        self._kline_open: dict[tuple[str, str], int] = {}
        self._recorded_book_ticker: set[str] = set()
        self._ticker_second: dict[str, int] = {}

    # -- subscriptions --------------------------------------------------------------
    def subscribe(self, conn: Conn, name: str) -> None:
        conn.streams.add(name)
        self.subs.setdefault(name, set()).add(conn)

    def unsubscribe(self, conn: Conn, name: str) -> None:
        conn.streams.discard(name)
        s = self.subs.get(name)
        if s:
            s.discard(conn)
            if not s:
                del self.subs[name]

    def _publish(self, name: str, payload: bytes) -> None:
        faults = self.sim.faults
        for conn in list(self.subs.get(name, ())):
            if faults.drop_stream_frame(name):
                continue
            conn.send(name, payload)

    def has(self, name: str) -> bool:
        return name in self.subs

    # -- market events --------------------------------------------------------------
    def depth(self, m: Market, first_id, last_id, bids, asks, event_time, payload) -> None:
        pre = m.stream_prefix
        name = pre + "depth@100ms"
        if name in self.subs:
            if self.sim.faults.take_depth_gap(m.symbol):
                pass                      # injected sequence gap: this diff is never sent
            else:
                if payload is None:
                    payload = orjson.dumps({"e": "depthUpdate", "E": event_time, "s": m.symbol, "U": first_id,
                                            "u": last_id, "b": _lv(bids), "a": _lv(asks)})
                self._publish(name, payload)
        for n in (5, 10, 20):
            name = f"{pre}depth{n}@100ms"
            if name in self.subs:
                self._publish(name, self._partial(m, n))
        if m.symbol not in self._recorded_book_ticker:
            name = pre + "bookTicker"
            if name in self.subs:
                bid, ask = m.best(BID) or (0, 0), m.best(ASK) or (0, 0)
                self._publish(name, orjson.dumps({"u": last_id, "s": m.symbol, "b": fmt(bid[0], 8),
                                                  "B": fmt(bid[1], 8), "a": fmt(ask[0], 8), "A": fmt(ask[1], 8)}))
        self._merge_second(m, first_id, last_id, bids, asks, event_time)

    def _partial(self, m: Market, n: int) -> bytes:
        return orjson.dumps({"lastUpdateId": m.update_id, "bids": _lv(m.levels(BID, n)),
                             "asks": _lv(m.levels(ASK, n))})

    def _merge_second(self, m: Market, first_id, last_id, bids, asks, event_time) -> None:
        pre = m.stream_prefix
        wanted = [pre + "depth", pre + "depth@1000ms"] + [f"{pre}depth{n}" for n in (5, 10, 20)] + \
                 [f"{pre}depth{n}@1000ms" for n in (5, 10, 20)]
        if not any(w in self.subs for w in wanted):
            self._pending.pop(m.symbol, None)
            return
        p = self._pending.get(m.symbol)
        if p is not None and p["E"] // 1000 != event_time // 1000:
            self._flush_second(m, p)
            p = None
        if p is None:
            p = self._pending[m.symbol] = {"U": first_id, "b": {}, "a": {}}
        p["u"], p["E"] = last_id, event_time
        p["b"].update(bids)
        p["a"].update(asks)

    def _flush_second(self, m: Market, p: dict) -> None:
        pre = m.stream_prefix
        body = orjson.dumps({"e": "depthUpdate", "E": p["E"], "s": m.symbol, "U": p["U"], "u": p["u"],
                             "b": _lv(sorted(p["b"].items(), reverse=True)), "a": _lv(sorted(p["a"].items()))})
        for name in (pre + "depth", pre + "depth@1000ms"):
            if name in self.subs:
                self._publish(name, body)
        for n in (5, 10, 20):
            for name in (f"{pre}depth{n}", f"{pre}depth{n}@1000ms"):
                if name in self.subs:
                    self._publish(name, self._partial(m, n))

    def trade(self, m: Market, t: Trade, agg_id: int, event_time: int, payload) -> None:
        pre = m.stream_prefix
        if pre + "trade" in self.subs:
            if payload is None:
                payload = orjson.dumps({"e": "trade", "E": event_time, "s": m.symbol, "t": t.id,
                                        "p": fmt(t.price, 8), "q": fmt(t.qty, 8), "T": t.time,
                                        "m": t.buyer_maker, "M": True})
            self._publish(pre + "trade", payload)
        if pre + "aggTrade" in self.subs:
            self._publish(pre + "aggTrade", orjson.dumps({
                "e": "aggTrade", "E": event_time, "s": m.symbol, "a": t.id, "p": fmt(t.price, 8),
                "q": fmt(t.qty, 8), "f": t.id, "l": t.id, "T": t.time, "m": t.buyer_maker, "M": True}))
        for interval in INTERVAL_MS:
            name = f"{pre}kline_{interval}"
            if name in self.subs:
                self._kline(m, interval, name, t, event_time)
        second = event_time // 1000
        if self._ticker_second.get(m.symbol) != second:
            self._ticker_second[m.symbol] = second      # 1000 ms cadence, as Binance's
            if pre + "ticker" in self.subs or pre + "miniTicker" in self.subs:
                self._tickers(m, event_time)
            if pre + "avgPrice" in self.subs:
                price = m.avg_price(5, event_time)
                self._publish(pre + "avgPrice", orjson.dumps({"e": "avgPrice", "E": event_time, "s": m.symbol,
                                                              "i": "5m", "w": fmt(price or 0, 8), "T": t.time}))

    def _tickers(self, m: Market, event_time: int) -> None:
        r = m.rolling(event_time, 86_400_000)
        mini = {"e": "24hrMiniTicker", "E": event_time, "s": m.symbol, "c": fmt(r["close"], 8),
                "o": fmt(r["open"], 8), "h": fmt(r["high"], 8), "l": fmt(r["low"], 8),
                "v": fmt(r["volume"], 8), "q": fmt(r["qv"], 16)}
        if m.stream_prefix + "miniTicker" in self.subs:
            self._publish(m.stream_prefix + "miniTicker", orjson.dumps(mini))
        if m.stream_prefix + "ticker" in self.subs:
            change = r["close"] - r["open"]
            pct = (change * 100_000 // r["open"]) if r["open"] else 0
            bid, ask = m.best(BID) or (0, 0), m.best(ASK) or (0, 0)
            self._publish(m.stream_prefix + "ticker", orjson.dumps({
                "e": "24hrTicker", "E": event_time, "s": m.symbol, "p": fmt(change, 8), "P": f"{pct / 1000:.3f}",
                "w": fmt(r["qv"] // r["volume"] if r["volume"] else r["close"], 8), "x": fmt(r["open"], 8),
                "c": fmt(r["close"], 8), "Q": fmt(r["last_qty"], 8), "b": fmt(bid[0], 8), "B": fmt(bid[1], 8),
                "a": fmt(ask[0], 8), "A": fmt(ask[1], 8), "o": fmt(r["open"], 8), "h": fmt(r["high"], 8),
                "l": fmt(r["low"], 8), "v": fmt(r["volume"], 8), "q": fmt(r["qv"], 16), "O": r["open_time"],
                "C": r["close_time"], "F": r["first_id"], "L": r["last_id"], "n": r["count"]}))

    def _kline(self, m: Market, interval: str, name: str, t: Trade, event_time: int) -> None:
        key = (m.symbol, interval)
        open_time = interval_start(t.time, interval)
        prev = self._kline_open.get(key)
        if prev is not None and prev < open_time:
            bars = m.klines(interval, prev, prev, 1)
            if bars:
                self._publish(name, self._kline_body(m, interval, bars[0], True, event_time))
        self._kline_open[key] = open_time
        bars = m.klines(interval, open_time, None, 1)
        if bars:
            self._publish(name, self._kline_body(m, interval, bars[0], False, event_time))

    @staticmethod
    def _kline_body(m: Market, interval: str, b, closed: bool, event_time: int) -> bytes:
        return orjson.dumps({"e": "kline", "E": event_time, "s": m.symbol, "k": {
            "t": b.open_time, "T": interval_end(b.open_time, interval), "s": m.symbol, "i": interval,
            "f": b.first_id, "L": b.last_id, "o": fmt(b.o, 8), "c": fmt(b.c, 8), "h": fmt(b.h, 8),
            "l": fmt(b.l, 8), "v": fmt(b.v, 8), "n": b.n, "x": closed, "q": fmt(b.qv, 16),
            "V": fmt(b.tbv, 8), "Q": fmt(b.tbqv, 16), "B": "0"}})

    def book_ticker(self, m: Market, payload) -> None:
        name = m.stream_prefix + "bookTicker"
        self._recorded_book_ticker.add(m.symbol)
        if name in self.subs and payload is not None:
            self._publish(name, payload)

    # -- connections ----------------------------------------------------------------
    async def serve(self, request: trio_websocket.WebSocketRequest, stream: trio.abc.Stream) -> None:
        path, _, query = request.path.partition("?")
        combined = path.rstrip("/") == "/stream"
        ws = await request.accept()
        conn = Conn(ws, combined, stream)
        self.conns.add(conn)
        names: list[str] = []
        if combined:
            for k, v in urllib.parse.parse_qsl(query):
                if k == "streams":
                    names += [n for n in v.split("/") if n]
        elif path.startswith("/ws/"):
            names += [urllib.parse.unquote(n) for n in path[4:].split("/") if n]
        for n in names:
            if STREAM_RE.match(n):          # arbitrary names (ccxt's connection labels) are tolerated
                self.subscribe(conn, n)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, conn, nursery.cancel_scope)
                nursery.start_soon(self._pinger, conn, nursery.cancel_scope)
                with trio.move_on_after(self.sim.config.connection_lifetime_s):
                    await self._reader(conn)
                nursery.cancel_scope.cancel()
        finally:
            for n in list(conn.streams):
                self.unsubscribe(conn, n)
            self.conns.discard(conn)
            conn.send_ch.close()
            with trio.move_on_after(2):          # a peer that never answers the close handshake
                await ws.aclose()

    def backlog(self) -> int:
        """Frames waiting for the slowest stream connection."""
        return max((c.send_ch.statistics().current_buffer_used for c in self.conns), default=0)

    async def _writer(self, conn: Conn, scope: trio.CancelScope) -> None:
        try:
            async for frame in conn.recv_ch:
                if conn.overflow:
                    break
                await conn.ws.send_message(frame.decode())
        except trio_websocket.ConnectionClosed:
            pass
        scope.cancel()

    async def _pinger(self, conn: Conn, scope: trio.CancelScope) -> None:
        try:
            while True:
                await trio.sleep(self.sim.config.ping_interval_s)
                with trio.move_on_after(self.sim.config.pong_timeout_s) as cs:
                    await conn.ws.ping()
                if cs.cancelled_caught:
                    break
        except (trio_websocket.ConnectionClosed, RuntimeError):
            pass
        scope.cancel()

    async def _reader(self, conn: Conn) -> None:
        while True:
            try:
                text = await conn.ws.get_message()
            except trio_websocket.ConnectionClosed:
                return
            reply = self._control(conn, text)
            if reply is not None:
                conn.send_ch.send_nowait(orjson.dumps(reply))

    def _control(self, conn: Conn, text) -> dict | None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}
        if not isinstance(msg, dict) or "method" not in msg:
            return {"code": 2, "msg": "Invalid request: missing field `method`"}
        rid = msg.get("id")
        if rid is not None and not isinstance(rid, (int, str)):
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer", "id": None}
        method, params = msg["method"], msg.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return {"code": 2, "msg": "Invalid request: invalid type: expected a sequence", "id": rid}
            for p in params:
                if not STREAM_RE.match(p):
                    return {"code": 2, "msg": f"Invalid request: unknown variant `{p}`", "id": rid}
            if method == "SUBSCRIBE":
                if len(conn.streams | set(params)) > MAX_STREAMS:
                    return {"code": 2, "msg": "Invalid request: too many streams", "id": rid}
                for p in params:
                    self.subscribe(conn, p)
            else:
                for p in params:
                    self.unsubscribe(conn, p)
            return {"result": None, "id": rid}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": rid}
        if method == "SET_PROPERTY":
            if not isinstance(params, list) or len(params) != 2 or params[0] != "combined":
                return {"code": 0, "msg": "Unknown property", "id": rid}
            if not isinstance(params[1], bool):
                return {"code": 1, "msg": "Invalid value type: expected Boolean", "id": rid}
            conn.combined = params[1]
            return {"result": None, "id": rid}
        if method == "GET_PROPERTY":
            if params != ["combined"]:
                return {"code": 0, "msg": "Unknown property", "id": rid}
            return {"result": conn.combined, "id": rid}
        return {"code": 2, "msg": f"Invalid request: unknown variant `{method}`", "id": rid}

    def shutdown_notice(self, now: int) -> None:
        event = orjson.dumps({"e": "serverShutdown", "E": now})
        for conn in list(self.conns):
            frame = (b'{"stream":"!serverShutdown","data":' + event + b"}") if conn.combined else event
            try:
                conn.send_ch.send_nowait(frame)
            except (trio.WouldBlock, trio.ClosedResourceError):
                pass

    async def drop_all(self) -> None:
        """Fault injection: cut every market-stream connection (TCP close, no close handshake)."""
        for conn in list(self.conns):
            await trio.aclose_forcefully(conn.stream)
