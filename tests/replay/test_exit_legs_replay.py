"""strategy.exit legs in the replay: the C loop (woken only by the trades the C band flags)
fires exactly the exit legs the per-frame loop (every trade through Python, as live) fires,
with the same ids; a Freqtrade export's ROI take-profit fires; the live journal of the same
decisions diffs clean against the replay's."""
import pathlib
import subprocess
import sys
from collections import Counter

from pyengine.engine.strategies import StrategySpec
from pyengine.replay import SessionConfig, replay
from pyengine.replay.diff import compare
from pyengine.replay.perframe import replay_per_frame

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SYMS = ["BTCUSDT", "ETHUSDT"]


def _legs(result) -> Counter:
    return Counter(r["risk"]["reason"] for r in result.records if r["kind"] == "exit_leg")


def test_c_loop_fires_the_exit_legs_of_the_per_frame_loop(recording, tmp_path):
    cfg = SessionConfig([StrategySpec("trail", HERE / "trailing.pine", SYMS, "1s", "trades")])
    c = replay(recording, cfg, tmp_path / "c")
    ref = replay(recording, cfg, tmp_path / "ref", loop=replay_per_frame)
    assert c.decisions_path.read_bytes() == ref.decisions_path.read_bytes()
    legs = _legs(c)
    print(f"\n{c.summary()}\nexit legs: {dict(legs)}; Python woken {c.stats.wakeups} times")
    assert legs["TRAIL"] >= 3 and legs["STOP"] >= 1
    assert all(r["fills"] and r["order"]["side"] == "SELL" and r["client_order_id"].endswith("-2")
               for r in c.records if r["kind"] == "exit_leg")
    # what a live session journaled for the same decisions compares equal, exit legs included
    assert compare(c.records, tmp_path / "c" / "journal.sqlite") == []


def test_exported_roi_table_fires_as_a_take_profit(recording, tmp_path):
    hyperopt = tmp_path / "EmaCrossTrailing.json"
    hyperopt.write_text('{"params": {"roi": {"0": 0.0005}, "stoploss": {"stoploss": -0.01}, '
                        '"trailing": {"trailing_stop": true, "trailing_stop_positive": 0.0003, '
                        '"trailing_stop_positive_offset": 0.0006, '
                        '"trailing_only_offset_is_reached": true}}}')
    pine = tmp_path / "ema.pine"
    subprocess.run([sys.executable, "-m", "pyengine.cli", "ft-export",
                    str(ROOT / "tests/bridge/strategies/EmaCrossTrailing.py"),
                    "--hyperopt-result", str(hyperopt), "--fee", "0", "-o", str(pine)],
                   check=True, capture_output=True)
    cfg = SessionConfig([StrategySpec("ema_roi", pine, SYMS, "1s", "trades")])
    c = replay(recording, cfg, tmp_path / "c")
    ref = replay(recording, cfg, tmp_path / "ref", loop=replay_per_frame)
    assert c.decisions_path.read_bytes() == ref.decisions_path.read_bytes()
    assert _legs(c)["TAKE_PROFIT"] >= 1
