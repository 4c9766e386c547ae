"""Crash-recovery torture: the engine process is killed with SIGKILL at random points of a
paper session against a simulator running in its own process, and restarted each time. At
the end: no order was sent twice, no fill was lost, the journal's balances and positions
equal the exchange's, and the journal is consistent (every order on the exchange and every
fill has its intent). 5 kills by default, 50 with PYENGINE_LONG=1."""
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

import trio

from pyengine import bundled
from pyengine.journal import JournalReader
from pyengine.state import Portfolio, StateManager, symbol_assets_from_exchange_info
from pyengine.state.orders import OrderStatus

from tests.integration.harness import (LIBRARY, LONG, SimProcess, exchange_facts, exchange_view)

import orjson

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
KEY, SECRET = "tortureKey123", "tortureSecret456"
BALANCES = {"USDT": "10000", "BTC": "0", "ETH": "0", "ZEC": "0", "SOL": "0", "DOGE": "0", "BNB": "0"}


def write_config(tmp, sim: SimProcess):
    cfg = tmp / "engine.toml"
    cfg.write_text(f"""
[engine]
id = "torture"
[venue]
kind = "sim"
rest_url = "{sim.rest_url}"
ws_api_url = "{sim.ws_api_url}"
stream_url = "{sim.stream_url}"
api_key = "env:TORTURE_API_KEY"
private_key = "env:TORTURE_API_SECRET"
key_type = "hmac"
[universe]
symbols = {SYMBOLS!r}
[[strategies]]
id = "ma_fast"
pine = "{LIBRARY / 'dual_ma_trend.pine'}"
symbols = {SYMBOLS!r}
interval = "1s"
inputs = {{ "Fast EMA" = 3, "Slow EMA" = 8 }}
[[strategies]]
id = "bb_fast"
pine = "{LIBRARY / 'bollinger_mean_reversion.pine'}"
symbols = {SYMBOLS!r}
interval = "1s"
inputs = {{ "Length" = 10 }}
[journal]
path = "{tmp / 'journal.sqlite'}"
flush_interval_ms = 50
[telemetry.sqlite]
path = "{tmp / 'telemetry.sqlite'}"
[telemetry.dashboard]
enabled = false
""")
    return cfg


def start_engine(cfg, log, **extra_env):
    env = dict(os.environ, TORTURE_API_KEY=KEY, TORTURE_API_SECRET=SECRET, **extra_env)
    return subprocess.Popen([sys.executable, "-m", "pyengine.cli", "run", "--config", str(cfg),
                             "--no-status"], stdout=log, stderr=subprocess.STDOUT, env=env)


def test_kill_9_at_random_points_then_recover(tmp_path):
    kills = 50 if LONG else 5
    rng = random.Random(int(os.environ.get("PYENGINE_TORTURE_SEED", "5")))
    data = {"BTCUSDT": bundled.BTCUSDT_FEED, "ETHUSDT": bundled.ETHUSDT_FEED}
    sim = SimProcess("2" if LONG else "10", KEY, SECRET, data, BALANCES)
    try:
        cfg = write_config(tmp_path, sim)
        log = open(tmp_path / "engine.log", "ab")
        points = []
        for i in range(kills):
            p = start_engine(cfg, log)
            delay = rng.uniform(0.3, 5.0)
            time.sleep(delay)
            if p.poll() is not None:
                raise AssertionError(f"engine exited by itself ({p.returncode}) on run {i}: "
                                     + (tmp_path / "engine.log").read_text()[-3000:])
            p.send_signal(signal.SIGKILL)
            p.wait()
            points.append(round(delay, 2))
        # a last run recovers, trades a little, and stops cleanly on SIGTERM
        # (SIGTERM only once it is up: before that, Python's default action kills it)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind(str(tmp_path / "notify.sock"))
            notify.settimeout(120)
            p = start_engine(cfg, log, NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
            while not notify.recv(4096).startswith(b"READY=1"):
                pass
            time.sleep(4.0)
            p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0, (tmp_path / "engine.log").read_text()[-3000:]
        log.close()
        facts = trio.run(_facts, sim)
    finally:
        sim.stop()
    _check(tmp_path / "journal.sqlite", facts, kills, points)


async def _facts(sim):
    async with exchange_view(sim.rest_url, sim.ws_api_url, sim.stream_url, KEY, SECRET) as c:
        return await exchange_facts(c, SYMBOLS)


def _check(journal_path, ex, kills, points):
    with JournalReader(journal_path) as r:
        records = list(r.records())
    intents = [x.client_order_id for x in records if x.kind == "intent"]
    fills = [x for x in records if x.kind == "fill"]
    orders = ex["orders"]
    print(f"\n{kills} kills at {points} s; exchange: {len(orders)} orders, {len(ex['trades'])} "
          f"fills; journal: {len(intents)} intents, {len(fills)} fills")
    assert len(orders) >= 2, "the engine should have traded during the session"

    # zero duplicate orders: one exchange order per client order id, each journaled first
    coids = Counter(o["clientOrderId"] for o in orders)
    assert max(coids.values()) == 1
    assert len(intents) == len(set(intents))
    assert set(coids) <= set(intents), set(coids) - set(intents)

    # zero lost fills: every exchange trade is in the journal exactly once, and no other
    ex_trades = sorted((t["symbol"], t["id"]) for t in ex["trades"])
    assert sorted((f.symbol, f.trade_id) for f in fills) == ex_trades

    # the journal rebuilds balances and positions equal to the exchange's
    info = orjson.loads(bundled.EXCHANGE_INFO.read_bytes())
    state = StateManager(Portfolio(symbol_assets_from_exchange_info(info)))
    state.replay(records)
    for asset, total in ex["balances"].items():
        b = state.balances.get(asset)
        assert b is not None and b.total == total, (asset, b, total)
    for sym, base in (("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")):
        held = sum((p.qty for p in state.portfolio.positions() if p.symbol == sym), Decimal(0))
        assert held == ex["balances"][base], (sym, held, ex["balances"][base])

    # journal consistent: every fill belongs to a journaled intent; every order's final state
    # is the exchange's
    assert all(f.client_order_id in set(intents) for f in fills)
    by_coid = {o["clientOrderId"]: o for o in orders}
    for coid, o in state.orders.items():
        if coid in by_coid:
            assert o.status is OrderStatus.from_binance(by_coid[coid]["status"]), coid
            assert o.executed_qty == Decimal(by_coid[coid]["executedQty"]), coid
        else:          # journaled, never reached the exchange (killed in between): closed
            assert o.status.is_terminal, (coid, o.status)
