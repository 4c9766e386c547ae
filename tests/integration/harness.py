"""Shared set-up of the engine's integration tests: an engine on a simulator (in-process or
a separate ``pyengine sim``), and independent views of the exchange to check it against."""
from __future__ import annotations

import contextlib
import os
import pathlib
import re
import subprocess
import sys
import threading
from decimal import Decimal
from typing import AsyncIterator

import trio

from pyengine.config import default_config
from pyengine.engine import Engine, EngineOptions, StrategySpec
from pyengine.engine.paper import PAPER_BALANCES, paper_data
from pyengine.journal import JournalReader
from pyengine.sim.server import SimConfig
from pyengine.sim.testing import running_sim
from pyengine.venue.binance import Endpoints, HmacSigner, open_client, signer_from_pem

LIBRARY = pathlib.Path(__file__).resolve().parents[2] / "dsl" / "library"
LONG = os.environ.get("PYENGINE_LONG") == "1"


def engine_config(tmp: pathlib.Path):
    cfg = default_config()
    cfg.journal.path = tmp / "journal.sqlite"
    cfg.telemetry.sqlite.path = str(tmp / "telemetry.sqlite")
    cfg.telemetry.dashboard.enabled = False
    return cfg


def fast_strategies(symbols=("BTCUSDT", "ETHUSDT")) -> list[StrategySpec]:
    """Dual MA on 1 s bars from trades, quick enough to trade often in a short session."""
    return [StrategySpec("ma_fast", LIBRARY / "dual_ma_trend.pine", list(symbols), "1s", "trades",
                         {"Fast EMA": 3, "Slow EMA": 8}),
            StrategySpec("bb_fast", LIBRARY / "bollinger_mean_reversion.pine", list(symbols), "1s",
                         "trades", {"Length": 10})]


@contextlib.asynccontextmanager
async def engine_on_sim(tmp: pathlib.Path, strategies, *, speed: float | str = 100,
                        options: EngineOptions | None = None, **engine_kw
                        ) -> AsyncIterator[tuple[object, Engine]]:
    data, _ = paper_data(tmp)
    async with running_sim(SimConfig(data=data, speed=speed, balances=dict(PAPER_BALANCES),
                                     pace_to_readers=True)) as sim:
        endpoints = Endpoints.local(sim.rest_url, sim.ws_api_url, sim.stream_url, "sim")
        signer = signer_from_pem(sim.ed25519_key.key, sim.ed25519_key.private_pem)
        symbols = sorted({s for spec in strategies for s in spec.symbols})
        opts = options or EngineOptions(status_every_s=0, handle_signals=False, end_grace_s=1.0)
        engine = Engine(engine_config(tmp), endpoints, signer, strategies, symbols, options=opts,
                        data_done=sim.replay_done.wait, **engine_kw)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sim.hold_market_until, engine.ready.wait)
            yield sim, engine
            nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def exchange_view(rest_url: str, ws_api_url: str, stream_url: str, key: str, secret: str):
    async with open_client(Endpoints.local(rest_url, ws_api_url, stream_url, "sim"),
                           HmacSigner(key, secret), use_ws_api=False) as client:
        yield client


async def exchange_facts(client, symbols) -> dict:
    """Everything the exchange knows about the account: orders, trades, balances."""
    account = await client.account()
    orders, trades = [], []
    for s in symbols:
        orders += await client.rest.request("GET", "/api/v3/allOrders", {"symbol": s, "limit": 1000},
                                            signed=True)
        trades += await client.my_trades(s, from_id=0)
    balances = {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in account["balances"]}
    return {"orders": orders, "trades": trades, "balances": balances}


def journal_records(path: pathlib.Path, kind: str) -> list:
    with JournalReader(path) as r:
        return list(r.records(kinds=[kind]))


def net_from_trades(trades: list[dict], marks: dict[str, Decimal], quote: str = "USDT") -> Decimal:
    """Account PnL recomputed from the exchange's own trade list: quote cash change plus the
    base bought (net of base commission) valued at the marks."""
    net = Decimal(0)
    for t in trades:
        qty, quote_qty, fee = Decimal(t["qty"]), Decimal(t["quoteQty"]), Decimal(t["commission"])
        base_fee = fee if t["commissionAsset"] != quote else Decimal(0)
        quote_fee = fee if t["commissionAsset"] == quote else Decimal(0)
        mark = marks[t["symbol"]]
        if t["isBuyer"]:
            net += (qty - base_fee) * mark - quote_qty - quote_fee
        else:
            net += quote_qty - qty * mark - quote_fee
    return net


class SimProcess:
    """``pyengine sim`` in its own process, so it outlives an engine killed with -9."""

    def __init__(self, speed: str, key: str, secret: str, data: dict[str, pathlib.Path],
                 balances: dict[str, str]):
        args = [sys.executable, "-m", "pyengine.cli", "sim", "--port", "0", "--speed", speed]
        for sym, p in data.items():
            args += ["--data", f"{sym}={p}"]
        for a, v in balances.items():
            args += ["--balance", f"{a}={v}"]
        env = dict(os.environ, PYENGINE_SIM_API_KEY=key, PYENGINE_SIM_API_SECRET=secret)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        for line in self.proc.stdout:
            m = re.search(rb"on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        else:
            raise RuntimeError("pyengine sim did not start")
        self.output: list[bytes] = []
        threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True).start()
        self.rest_url = f"http://127.0.0.1:{self.port}"
        self.stream_url = f"ws://127.0.0.1:{self.port}"
        self.ws_api_url = f"ws://127.0.0.1:{self.port}/ws-api/v3"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
