"""``--diff``: a replay against a journal of the same decisions, doctored: a changed fill price,
a dropped decision, a changed quantity, an order the replay never made and one its risk gate
refused."""
import shutil
import sqlite3
import subprocess
import sys

import orjson

from pyengine.replay.diff import compare


def doctored(first_replay, tmp_path):
    path = tmp_path / "live.sqlite"
    shutil.copy(first_replay.decisions_path.parent / "journal.sqlite", path)
    sent = [r for r in first_replay.records
            if r["kind"] != "protective_exit" and r["status"] == "FILLED"]
    repriced, dropped, resized = sent[0], sent[1], sent[2]
    db = sqlite3.connect(path)
    for seq, data in db.execute("SELECT seq, data FROM records WHERE kind='fill' AND "
                                "client_order_id=?", (repriced["client_order_id"],)).fetchall():
        fill = orjson.loads(data)
        fill["price"] = "12345.67"
        db.execute("UPDATE records SET data=? WHERE seq=?", (orjson.dumps(fill).decode(), seq))
    db.execute("DELETE FROM records WHERE client_order_id=?", (dropped["client_order_id"],))
    seq, data = db.execute("SELECT seq, data FROM records WHERE kind='intent' AND "
                           "client_order_id=?", (resized["client_order_id"],)).fetchone()
    intent = orjson.loads(data)
    intent["qty"] = "0.5"
    db.execute("UPDATE records SET data=? WHERE seq=?", (orjson.dumps(intent).decode(), seq))
    # an order the replay never made: a decision two bars after the last one, same strategy
    last = first_replay.records[-1]
    from pyengine.ids import client_order_id, decision_seq
    ghost = client_order_id(last["strategy"], last["symbol"], decision_seq(last["bar"] + 2000, 0),
                            0, "pyengine")
    db.execute("INSERT INTO records (kind, wall_ms, mono_ns, strategy_id, symbol, "
               "client_order_id, trade_id, data) VALUES ('intent', 0, 0, ?, ?, ?, NULL, ?)",
               (last["strategy"], last["symbol"], ghost,
                orjson.dumps({"side": "BUY", "type": "MARKET", "qty": "0.01", "price": None,
                              "stop_price": None}).decode()))
    # the live gate let through an order the replay's gate refused
    refused = next(r for r in first_replay.records if r["risk"]["verdict"] == "refused")
    db.execute("INSERT INTO records (kind, wall_ms, mono_ns, strategy_id, symbol, "
               "client_order_id, trade_id, data) VALUES ('intent', 0, 0, ?, ?, ?, NULL, ?)",
               (refused["strategy"], refused["symbol"], refused["client_order_id"],
                orjson.dumps({"side": "SELL", "type": "MARKET", "qty": "0.1", "price": None,
                              "stop_price": None}).decode()))
    db.commit()
    db.close()
    return path, repriced, dropped, resized, ghost, refused


def test_the_undoctored_journal_has_no_difference(first_replay):
    assert compare(first_replay.records,
                   first_replay.decisions_path.parent / "journal.sqlite") == []


def test_every_doctored_decision_is_listed_with_both_values(first_replay, tmp_path):
    path, repriced, dropped, resized, ghost, refused = doctored(first_replay, tmp_path)
    diffs = compare(first_replay.records, path)
    got = sorted((d.client_order_id, d.what) for d in diffs)
    assert got == sorted([(repriced["client_order_id"], "fill price differs"),
                          (dropped["client_order_id"], "extra in replay"),
                          (resized["client_order_id"], "quantity differs"),
                          (ghost, "missing in replay"),
                          (refused["client_order_id"], "risk verdict differs")])
    by = {d.client_order_id: d for d in diffs}
    assert by[repriced["client_order_id"]].live == "12345.67"
    assert by[resized["client_order_id"]].live == "0.5"
    assert by[resized["client_order_id"]].replay == resized["order"]["qty"].rstrip("0")
    assert by[dropped["client_order_id"]].bar == dropped["bar"]
    assert by[ghost].bar == first_replay.records[-1]["bar"] + 2000
    why = by[refused["client_order_id"]]
    assert refused["risk"]["reason"] in why.replay and why.live == "sent SELL 0.1"


def test_cli_prints_the_differences_and_exits_1(first_replay, recording_dir, config_file, tmp_path):
    path, repriced, dropped, _, _, _ = doctored(first_replay, tmp_path)
    out = subprocess.run([sys.executable, "-m", "pyengine.cli", "replay", str(recording_dir),
                          "--config", str(config_file), "--out", str(tmp_path / "b"),
                          "--diff", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(repriced["client_order_id"] in x and "fill price differs" in x and "12345.67" in x
               for x in lines)
    assert any(dropped["client_order_id"] in x and "extra in replay" in x for x in lines)
    assert "5 differences" in out.stdout
    assert (tmp_path / "b" / "decisions.jsonl").read_bytes() == first_replay.decisions_path.read_bytes()
    assert len((tmp_path / "b" / "diff.jsonl").read_bytes().splitlines()) == 5


def test_a_journal_of_other_market_data_is_called_out(first_replay, recording, tmp_path):
    from pyengine.ids import client_order_id, decision_seq
    from pyengine.replay.diff import span_note
    live = first_replay.decisions_path.parent / "journal.sqlite"
    assert span_note(live, recording.first_ns, recording.last_ns) is None
    path = tmp_path / "paper.sqlite"
    shutil.copy(live, path)
    db = sqlite3.connect(path)
    db.execute("DELETE FROM records")
    far = recording.last_ns // 1_000_000 + 86_400_000      # a session a day later
    db.execute("INSERT INTO records (kind, wall_ms, mono_ns, strategy_id, symbol, "
               "client_order_id, trade_id, data) VALUES ('intent', 0, 0, 'ma_trend_1s', "
               "'BTCUSDT', ?, NULL, '{\"side\":\"BUY\",\"qty\":\"0.01\"}')",
               (client_order_id("ma_trend_1s", "BTCUSDT", decision_seq(far, 0), 0, "pyengine"),))
    db.commit()
    db.close()
    note = span_note(path, recording.first_ns, recording.last_ns)
    assert note is not None and "outside the recording (2024-08-08 23:54" in note
