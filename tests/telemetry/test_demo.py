"""The dashboard demo: real bundled prices through the toy paper strategy, and the CLI."""
from __future__ import annotations

import subprocess
import sys


from pyengine.telemetry import Telemetry, TelemetryConfig
from pyengine.telemetry.config import DashboardConfig
from pyengine.telemetry.dashboard.demo import PX, QTY, DemoEngine, load_feed, run_demo


def test_feed_loads_real_prices():
    ticks = load_feed()
    books = [t for t in ticks if t.kind == "book"]
    assert len(ticks) > 90_000 and books
    # first bookTicker of the recording: 61837.63 / 61837.64
    assert (books[0].bid, books[0].ask) == (6_183_763, 6_183_764)


async def test_demo_trades_updates_the_dashboard_and_halt_stops_entries():
    tel = Telemetry(TelemetryConfig(sqlite=None, dashboard=DashboardConfig(enabled=False)))
    engine = DemoEngine(tel)
    ticks = load_feed()[:30_000]
    await run_demo(tel, engine, ticks, speed=1e6, loops=1)
    snap = tel.dashboard.snapshot()
    fills = snap["fills"]
    assert fills and {f["side"] for f in fills} == {"BUY", "SELL"}
    assert snap["series"]["equity"] and snap["series"]["price:BTCUSDT"]
    # the ledger balances: equity = cash + position at the bid, all in fixed point
    assert engine.cash + engine.qty * engine.bid == engine._equity()
    buys = sum(round(f["qty"] * QTY) for f in fills if f["side"] == "BUY")
    sells = sum(round(f["qty"] * QTY) for f in fills if f["side"] == "SELL")
    assert buys - sells == engine.qty
    assert tel.histogram("demo_tick_to_decision").count == 30_000
    assert engine.halt("test") == "halted: test"
    assert tel.dashboard.snapshot()["risk"]["state"] == "HALTED"
    n_buys = sum(1 for f in tel.dashboard.snapshot()["fills"] if f["side"] == "BUY")
    await run_demo(tel, engine, ticks, speed=1e6, loops=1)
    assert sum(1 for f in tel.dashboard.snapshot()["fills"] if f["side"] == "BUY") == n_buys
    assert engine.resume() == "resumed" and engine.risk()["state"] == "ACTIVE"
    assert isinstance(engine.cash, int) and isinstance(engine.realised, int) and PX == 100


def test_cli_without_demo_is_a_clear_error():
    r = subprocess.run([sys.executable, "-m", "pyengine.cli", "dashboard"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "pyengine: error:" in r.stderr and "--demo" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "pyengine.cli", "dashboard", "--demo", "--speed", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--speed must be > 0" in r.stderr


def test_cli_busy_port_is_a_clear_error():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "pyengine.cli", "dashboard", "--demo", "--port", str(port),
                            "--seconds", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"cannot serve the dashboard on 127.0.0.1:{port}" in r.stderr
