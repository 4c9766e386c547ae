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


def test_diff_matches_exit_legs_by_id(recording, tmp_path):
    import shutil
    import sqlite3

    import orjson

    from pyengine.ids import client_order_id, decision_seq

    cfg = SessionConfig([StrategySpec("trail", HERE / "trailing.pine", SYMS, "1s", "trades")])
    c = replay(recording, cfg, tmp_path / "c")
    live = tmp_path / "live.sqlite"
    shutil.copy(tmp_path / "c" / "journal.sqlite", live)
    legs = [r for r in c.records if r["kind"] == "exit_leg"]
    gone = legs[0]
    ghost = client_order_id("trail", gone["symbol"], decision_seq(1_723_161_500_123, 0), 2,
                            "pyengine")
    db = sqlite3.connect(live)
    db.execute("DELETE FROM records WHERE client_order_id=?", (gone["client_order_id"],))
    db.execute("INSERT INTO records (kind, wall_ms, mono_ns, strategy_id, symbol, client_order_id, "
               "trade_id, data) VALUES ('intent', 0, 0, 'trail', ?, ?, NULL, ?)",
               (gone["symbol"], ghost, orjson.dumps({"side": "SELL", "type": "MARKET",
                                                     "qty": "0.01", "price": None}).decode()))
    db.commit()
    db.close()
    diffs = {(d.client_order_id, d.what, d.replay) for d in compare(c.records, live)}
    assert (gone["client_order_id"], "extra in replay", f"sent SELL {gone['order']['qty']}") in diffs
    assert (ghost, "missing in replay", "no exit leg fired on this trade") in diffs
    assert len(diffs) == 2
