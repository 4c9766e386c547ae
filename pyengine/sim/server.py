"""The simulator: markets, engine, limits, keys and the servers on one port."""
from __future__ import annotations

import copy
import heapq
import os
import pathlib
import random
import sys
import traceback
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import orjson
import trio

from pyengine import bundled
from pyengine.sim import api
from pyengine.sim.auth import ApiKey, new_ed25519_key, new_hmac_key, verify_rest
from pyengine.sim.clock import MarketClock, ServerClock
from pyengine.sim.engine import Engine
from pyengine.sim.errors import ApiError, mandatory
from pyengine.sim.faults import Faults
from pyengine.sim.feeds import KlineFeed, RecordedFeed
from pyengine.sim.http import serve_connection
from pyengine.sim.market import Market
from pyengine.sim.numbers import NotDecimal, parse_scaled
from pyengine.sim.ratelimit import Limits, RateLimiter
from pyengine.sim.streams import QUEUE, StreamHub
from pyengine.symbols import spec_from_info

JSON_CT = ("Content-Type", "application/json;charset=UTF-8")
DEFAULT_DATA = {"BTCUSDT": bundled.BTCUSDT_FEED, "ETHUSDT": bundled.ETHUSDT_FEED, "ZECUSDT": bundled.ZECUSDT_1M}
DEFAULT_BALANCES = {"USDT": "100000", "BTC": "1", "ETH": "10", "ZEC": "100", "SOL": "100", "DOGE": "100000",
                    "BNB": "0"}
ACCOUNT = "main"
INTERNAL = {"code": -1000, "msg": "An unknown error occurred while processing the request."}


@dataclass
class SimConfig:
    """Everything a simulator run can be told. ``data`` maps a symbol to a recording
    (``*.jsonl[.gz]``) or a 1m kline file (``*.csv[.gz]``); symbols of the bundled
    exchangeInfo without data have an empty book."""
    host: str = "127.0.0.1"
    port: int = 0
    data: dict[str, pathlib.Path] = field(default_factory=lambda: dict(DEFAULT_DATA))
    speed: float | str = 1.0
    rebase: bool = True                     # shift data times so the replay starts now
    kline_start_bar: int = 1000
    balances: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    commission: str = "0.001"
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    api_secret: str | None = None
    lenient_signatures: bool = False
    latency_ms: float = 0.0                 # mean extra delay before an order is processed
    latency_jitter_ms: float = 0.0
    seed: int = 0
    # paper trading: market time waits for a slow stream reader (a loaded machine) instead of
    # Binance's behaviour of disconnecting it
    pace_to_readers: bool = False
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    connection_lifetime_s: float = 86_400.0


def _modernise(entry: dict) -> dict:
    """A 2021 exchangeInfo symbol with the fields current clients expect (digest 6.1)."""
    e = copy.deepcopy(entry)
    e.update({"icebergAllowed": False, "ocoAllowed": True, "otoAllowed": True, "opoAllowed": False,
              "quoteOrderQtyMarketAllowed": e.get("quoteOrderQtyMarketAllowed", True),
              "allowTrailingStop": False, "cancelReplaceAllowed": True, "amendAllowed": False,
              "pegInstructionsAllowed": False, "isSpotTradingAllowed": True,
              "isMarginTradingAllowed": e.get("isMarginTradingAllowed", False),
              "permissionSets": [e.get("permissions") or ["SPOT"]], "permissions": [],
              "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
              "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH",
                                                  "DECREMENT"]})
    e["filters"] = [f for f in e["filters"] if f["filterType"] != "ICEBERG_PARTS"]
    return e


class Simulator:
    """A local Binance-spot-compatible exchange. Create, then ``await nursery.start(sim.serve)``
    (or use :func:`pyengine.sim.testing.running_sim`)."""

    def __init__(self, config: SimConfig | None = None):
        self.config = cfg = config or SimConfig()
        info = bundled.exchange_info()
        self._info_base = info
        self.symbols = {s["symbol"]: _modernise(s) for s in info["symbols"]}
        self.clock = ServerClock()
        self.limiter = RateLimiter(cfg.limits)
        self.markets = {sym: Market(spec_from_info(e), e) for sym, e in self.symbols.items()}
        start = self.clock.now_ms()
        self.market_clock = MarketClock(start, cfg.speed)
        self.hub = StreamHub(self)
        self.faults = Faults(self)
        from pyengine.sim.wsapi import WsApi
        self.ws_api = WsApi(self)
        self.sources = []
        for sym, path in cfg.data.items():
            if sym not in self.markets:
                raise ValueError(f"no exchangeInfo for data symbol {sym!r}; known: {sorted(self.markets)}")
            path = pathlib.Path(path)
            rebase_to = start if cfg.rebase else None
            name = path.name.lower()
            if name.endswith((".csv", ".csv.gz")):
                src = KlineFeed(path, self.markets[sym], rebase_to, start_bar=cfg.kline_start_bar)
            elif name.endswith((".jsonl", ".jsonl.gz")):
                src = RecordedFeed(path, self.markets[sym], rebase_to)
                self.hub._recorded_book_ticker.add(sym)
            else:
                raise ValueError(f"{path}: data must be a recording (.jsonl[.gz]) or klines (.csv[.gz])")
            self.sources.append(src)
        if not cfg.rebase and self.sources:
            self.market_clock = MarketClock(min(s.first_time for s in self.sources), cfg.speed)
        for m in self.markets.values():
            m.publisher = self.hub
        self.engine = Engine(self.markets, self.symbols, self.clock.now_ms,
                             on_first_fill=lambda acct: self.limiter.first_fill(acct, self.clock.now_ms()))
        rate = parse_scaled(cfg.commission, 8)[0]
        acct = self.engine.account(ACCOUNT)
        acct.maker_rate = acct.taker_rate = rate
        for asset, amount in cfg.balances.items():
            acct.bal(asset)[0] = parse_scaled(str(amount), 8)[0]
        self.keys: dict[str, ApiKey] = {}
        hmac_key = new_hmac_key(ACCOUNT, cfg.api_key or os.environ.get("PYENGINE_SIM_API_KEY"),
                                cfg.api_secret or os.environ.get("PYENGINE_SIM_API_SECRET"))
        self.hmac_key = self.add_key(hmac_key)
        self.ed25519_key = self.add_key(new_ed25519_key(ACCOUNT))
        self._rng = random.Random(cfg.seed)
        self.port = 0
        self.replay_done = trio.Event()

    # -- setup ---------------------------------------------------------------------------
    def add_key(self, key: ApiKey) -> ApiKey:
        self.keys[key.key] = key
        return key

    def add_account(self, account: str, balances: dict[str, str]) -> ApiKey:
        """A second account (e.g. a counterparty) with its own HMAC key."""
        acct = self.engine.account(account)
        acct.maker_rate = acct.taker_rate = parse_scaled(self.config.commission, 8)[0]
        for asset, amount in balances.items():
            acct.bal(asset)[0] = parse_scaled(str(amount), 8)[0]
        return self.add_key(new_hmac_key(account))

    def deposit(self, asset: str, amount: str, account: str = ACCOUNT) -> None:
        """Credit (negative: debit) an account; emits ``balanceUpdate``."""
        value = parse_scaled(amount.lstrip("-"), 8)[0]
        self.engine.deposit(account, asset, -value if amount.startswith("-") else value)

    def market_now(self) -> int:
        return self.market_clock.now_ms()

    def exchange_info(self, now: int) -> dict:
        return {"timezone": "UTC", "serverTime": now, "rateLimits": self.limiter.limits.rate_limits(),
                "exchangeFilters": [], "symbols": list(self.symbols.values())}

    @property
    def rest_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    @property
    def ws_api_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/ws-api/v3"

    # -- running -------------------------------------------------------------------------
    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.config.port, host=self.config.host)
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            nursery.start_soon(self._replay)
            task_status.started(self)

    async def _handle(self, stream) -> None:
        await serve_connection(stream, self.rest, self._ws)

    async def _ws(self, request, ip: str, stream) -> None:
        path = request.path.partition("?")[0].rstrip("/")
        if path.startswith("/ws-api/v3"):
            await self.ws_api.serve(request, ip, stream)
        elif path == "/ws" or path.startswith("/ws/") or path == "/stream":
            await self.hub.serve(request, stream)
        else:
            await request.reject(404)

    async def _replay(self) -> None:
        merged = heapq.merge(*(s.events() for s in self.sources), key=lambda ev: ev[0])
        clock = self.market_clock
        n = 0
        for t, apply in merged:
            await clock.wait_until(t)
            apply()
            n += 1
            if n % 64 == 0:
                if self.config.pace_to_readers and self.hub.backlog() > QUEUE // 4:
                    await self._wait_for_readers()
                await trio.lowlevel.checkpoint()
        clock.finished()
        self.replay_done.set()

    async def hold_market_until(self, ready) -> None:
        """Market time stands still until ``await ready()`` returns, so that a slow client
        start-up (a loaded machine) skips no data."""
        self.market_clock.pause()
        try:
            await ready()
        finally:
            self.market_clock.resume()

    async def _wait_for_readers(self) -> None:
        self.market_clock.pause()
        try:
            while self.hub.backlog() > QUEUE // 16:
                await trio.sleep(0.01)
        finally:
            self.market_clock.resume()

    async def advance(self, ms: int) -> None:
        """Manual clock: replay ``ms`` of market time and return when it has been applied."""
        await self.market_clock.advance(ms)

    async def latency(self) -> None:
        cfg = self.config
        if cfg.latency_ms or cfg.latency_jitter_ms:
            await trio.sleep(max(0.0, self._rng.gauss(cfg.latency_ms, cfg.latency_jitter_ms)) / 1000)

    # -- authentication -----------------------------------------------------------------
    def check_timestamp(self, params: dict, now: int) -> None:
        ts_text = params.get("timestamp")
        if ts_text in (None, ""):
            raise mandatory("timestamp")
        try:
            ts = int(str(ts_text))
        except ValueError:
            raise ApiError(-1100, "Illegal characters found in parameter 'timestamp'; legal range is "
                                  "'^[0-9]{1,20}$'.") from None
        if ts > 10 ** 14:
            ts //= 1000
        rw_text = params.get("recvWindow")
        rw = 5000 * 1000
        if rw_text not in (None, ""):
            try:
                rw, exact = parse_scaled(str(rw_text), 3)
            except NotDecimal:
                raise ApiError(-1100, "Illegal characters found in parameter 'recvWindow'; legal range is "
                                      "'^[0-9]{1,20}(\\.[0-9]{1,3})?$'.") from None
            if not exact:
                raise ApiError(-1111, "Parameter 'recvWindow' has too much precision.")
            if rw > 60_000 * 1000:
                raise ApiError(-1131, "recvWindow must be less than 60000")
        if ts >= now + 1000:
            raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if (now - ts) * 1000 > rw or ts < 1483228800000:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")

    def key_for(self, key: str | None, security: str) -> ApiKey:
        if not key or not key.isascii() or not key.isalnum() or len(key) > 128:
            raise ApiError(-2014, "API-key format invalid.", http=401)
        k = self.keys.get(key)
        if k is None or (security == api.TRADE and not k.can_trade):
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", http=401)
        return k

    # -- REST transport ------------------------------------------------------------------
    async def rest(self, method: str, path: str, query: bytes, headers: dict[str, str], body: bytes,
                   ip: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if self.faults.take_drop_rest():
            return None
        await self.faults.rest_delay()
        if path.startswith("/sim/admin/"):
            return await self._admin(path, query, body)
        now = self.clock.now_ms()
        ep = api.ENDPOINTS.get((method, path))
        if path in ("/api/v3/userDataStream", "/api/v1/userDataStream"):
            # listenKey streams were switched off on 2026-02-20 (digest 14)
            return 410, [JSON_CT], orjson.dumps({"code": -1020, "msg": "This operation is not supported."})
        if ep is None:
            if any(p == path for _, p in api.ENDPOINTS):
                return 405, [JSON_CT], orjson.dumps({"code": -1000, "msg": "Method not allowed."})
            return 404, [("Content-Type", "text/html")], b"<html><body><h2>404 Not found</h2></body></html>"
        out_headers: list[tuple[str, str]] = [JSON_CT]
        ctx = api.Ctx(now, ip)
        weight = 0
        try:
            params = self._params(query, body, headers)
            weight = ep.weight(params)
            self.limiter.charge(ip, weight, now)
            fault = self.faults.take_error(path)
            if ep.security != api.NONE:
                k = self.key_for(headers.get("x-mbx-apikey"), ep.security)
                self.check_timestamp(params, now)
                if "signature" not in params:
                    raise mandatory("signature")
                if not verify_rest(k, query, body if self._is_form(headers) else b"",
                                   lenient=self.config.lenient_signatures):
                    raise ApiError(-1022, "Signature for this request is not valid.")
                ctx.account = k.account
            if ep.order:
                await self.latency()
            if fault is not None:
                if fault.execute:
                    try:
                        ep.fn(self, ctx, params)
                    except ApiError:
                        pass
                hdr = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s else {}
                raise ApiError(fault.code, fault.msg, http=fault.status, headers=hdr)
            micros = api.time_unit(headers.get("x-mbx-time-unit"))
            result = ep.fn(self, ctx, params)
            if micros:
                result = api.to_micros(orjson.loads(orjson.dumps(result)), path)
            status = 200
            payload = orjson.dumps(result)
            if ep.order:
                self.limiter.refund(ip, weight, now)
        except ApiError as exc:
            status, payload = exc.http, orjson.dumps(exc.body())
            out_headers += list(exc.headers.items())
        except Exception:                      # a simulator bug must not take the exchange down
            traceback.print_exc(file=sys.stderr)
            status, payload = 500, orjson.dumps(INTERNAL)
        used = self.limiter.used_weight(ip, now)
        out_headers += [("X-MBX-USED-WEIGHT-1M", str(used)), ("x-mbx-used-weight", str(used))]
        if ctx.order_counted:
            c10, cday = self.limiter.order_counts(ctx.account, now)
            out_headers += [("X-MBX-ORDER-COUNT-10S", str(c10)), ("X-MBX-ORDER-COUNT-1D", str(cday))]
        return status, out_headers, payload

    @staticmethod
    def _pairs(raw: bytes) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            if k in out:
                raise ApiError(-1101, f"Duplicate values for parameter '{k}'.")
            out[k] = v
        return out

    @staticmethod
    def _is_form(headers: dict[str, str]) -> bool:
        ct = headers.get("content-type", "application/x-www-form-urlencoded")
        return ct.startswith("application/x-www-form-urlencoded")

    def _params(self, query: bytes, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        params: dict[str, str] = {}
        if body and self._is_form(headers):
            params.update(self._pairs(body))
        params.update(self._pairs(query))        # the query string wins over the body
        for k, v in params.items():
            if v == "" and k != "signature":
                raise ApiError(-1105, f"Parameter '{k}' was empty.")
        return params

    async def _admin(self, path: str, query: bytes, body: bytes) -> tuple[int, list, bytes]:
        """Out-of-process control (no auth: the simulator only listens on loopback)."""
        try:
            spec: Any = orjson.loads(body) if body else {}
            if path == "/sim/admin/fault":
                self.faults.apply(spec)
                result: Any = {}
            elif path == "/sim/admin/advance":
                await self.advance(int(spec["ms"]))
                result = {"marketTime": self.market_now()}
            elif path == "/sim/admin/deposit":
                self.deposit(spec["asset"], str(spec["amount"]), spec.get("account", ACCOUNT))
                result = {}
            elif path == "/sim/admin/state":
                result = {"marketTime": self.market_now(), "serverTime": self.clock.now_ms(),
                          "replayDone": self.replay_done.is_set(),
                          "updateIds": {s: m.update_id for s, m in self.markets.items()}}
            else:
                return 404, [JSON_CT], orjson.dumps({"error": f"unknown admin path {path}"})
        except (ValueError, KeyError, TypeError, RuntimeError, orjson.JSONDecodeError) as exc:
            return 400, [JSON_CT], orjson.dumps({"error": str(exc)})
        return 200, [JSON_CT], orjson.dumps(result)
