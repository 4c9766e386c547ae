"""``pyengine run --config FILE`` whose [[strategies]] entry names a .pine file written by
``pyengine ft-export``: ``pyengine config check`` accepts it and names its exit legs, and the
engine trades it against a separate ``pyengine sim`` (as it would the testnet), journaling
the strategy's exit legs, until SIGTERM stops it cleanly."""
import os
import signal
import subprocess
import sys
import time

from pyengine import bundled
from pyengine.journal import JournalReader

from tests.integration.harness import SimProcess
from tests.integration.test_exit_legs_sim import export

KEY, SECRET = "pineKey123", "pineSecret456"
BALANCES = {"USDT": "10000", "BTC": "0", "ETH": "0"}


def _journal(path, kind):
    if not path.exists():
        return []
    with JournalReader(path) as r:
        return list(r.records(kinds=[kind]))


def test_run_with_a_config_naming_an_exported_pine_file(tmp_path):
    pine = export(tmp_path)
    sim = SimProcess("20", KEY, SECRET, {"BTCUSDT": bundled.BTCUSDT_FEED,
                                         "ETHUSDT": bundled.ETHUSDT_FEED}, BALANCES)
    try:
        cfg = tmp_path / "paper.toml"
        cfg.write_text(f"""
[venue]
kind = "sim"
rest_url = "{sim.rest_url}"
ws_api_url = "{sim.ws_api_url}"
stream_url = "{sim.stream_url}"
key_type = "hmac"
api_key = "env:BINANCE_API_KEY"
private_key = "env:BINANCE_PRIVATE_KEY"
[universe]
symbols = ["BTCUSDT", "ETHUSDT"]
[[strategies]]
id = "ema_roi"
pine = "{pine.name}"
symbols = ["BTCUSDT", "ETHUSDT"]
interval = "1s"
[journal]
path = "state/journal.sqlite"
[telemetry.sqlite]
path = "state/telemetry.sqlite"
[telemetry.dashboard]
enabled = false
""")
        env = dict(os.environ, BINANCE_API_KEY=KEY, BINANCE_PRIVATE_KEY=SECRET)
        check = subprocess.run([sys.executable, "-m", "pyengine.cli", "config", "check", str(cfg)],
                               capture_output=True, text=True, env=env)
        assert check.returncode == 0, check.stderr
        assert "strategy.exit legs: stop, take-profit, trailing (engine-side" in check.stdout
        log = open(tmp_path / "engine.log", "wb")
        p = subprocess.Popen([sys.executable, "-m", "pyengine.cli", "run", "--config", str(cfg),
                              "--no-status"], stdout=log, stderr=subprocess.STDOUT, env=env)
        journal = tmp_path / "state" / "journal.sqlite"
        deadline = time.monotonic() + 180
        # wait for the strategy to hold a position with its exit legs live
        while not any(r.data["opened"] and r.data["leg"] for r in _journal(journal, "exit")):
            assert p.poll() is None, (tmp_path / "engine.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "engine.log").read_text()[-3000:]
            time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0, (tmp_path / "engine.log").read_text()[-3000:]
        log.close()
    finally:
        sim.stop()
    intents = _journal(journal, "intent")
    assert any(r.data["side"] == "BUY" for r in intents)
    assert all(r.strategy_id == "ema_roi" for r in intents)


def test_paper_mode_trades_an_exported_pine_file_to_the_end_of_the_data(tmp_path):
    pine = export(tmp_path)
    state = tmp_path / "state"
    p = subprocess.run([sys.executable, "-m", "pyengine.cli", "run", "--strategy", str(pine),
                        "--speed", "100", "--no-status", "--state-dir", str(state)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "1 strategies" not in p.stdout and "stopped (end of data)" in p.stdout
    fired = [r.data for r in _journal(state / "journal.sqlite", "note")
             if r.data.get("event") == "exit_leg"]
    print(p.stdout[-800:], fired)
    assert any(f["reason"] == "TAKE_PROFIT" for f in fired)
    assert {r.strategy_id for r in _journal(state / "journal.sqlite", "intent")} <= {
        "ema_cross_trailing_1s", "ema_cross_trailing_1m"}
