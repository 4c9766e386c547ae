"""Clear errors (exit 2, what and where, no traceback) for recordings that cannot be replayed."""
import gzip
import subprocess
import sys

import pytest

from pyengine import bundled
from pyengine.errors import UserError
from pyengine.replay import replay, source
from pyengine.replay.plan import plan


def cli(*args):
    return subprocess.run([sys.executable, "-m", "pyengine.cli", "replay", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def first_lines(n: int) -> list[bytes]:
    with gzip.open(bundled.BTCUSDT_FEED, "rb") as fh:
        return [fh.readline() for _ in range(n)]


def test_missing_recording(tmp_path):
    out = cli(tmp_path / "nope.jsonl.gz")
    assert out.returncode == 2
    assert "nope.jsonl.gz: no such file or directory" in out.stderr
    assert "Traceback" not in out.stderr


def test_directory_without_recordings(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    out = cli(tmp_path)
    assert out.returncode == 2 and "no recording files" in out.stderr


def test_not_gzip_data(tmp_path):
    bad = tmp_path / "btc.jsonl.gz"
    bad.write_bytes(b"this is not gzip data at all\n" * 10)
    out = cli(bad)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "btc.jsonl.gz" in out.stderr and "no complete record" in out.stderr


def test_line_that_is_not_a_recording_line(tmp_path):
    bad = tmp_path / "btc.jsonl"
    bad.write_bytes(b"".join(first_lines(3)) + b"garbage\n")
    with pytest.raises(UserError, match=r"btc.jsonl:4: not a JSON object line"):
        source.load(bad)


def test_corrupt_frame_names_the_record(tmp_path):
    lines = first_lines(40)
    i = next(k for k, line in enumerate(lines) if b'"e":"trade"' in line)
    lines[i] = lines[i].replace(b'"p":"', b'"p":"x', 1)
    bad = tmp_path / "btc.jsonl"
    bad.write_bytes(b"".join(lines))
    rec = source.load(bad)
    cfg, _ = plan(rec, None, None)
    with pytest.raises(UserError, match=rf"btc.jsonl: record {i + 1} \(received 2024-08-08 "
                                        r"[0-9:.]+\): corrupt frame: .*\(field p \(price\)\)"):
        replay(rec, cfg, tmp_path / "out")
    out = cli(bad, "--out", tmp_path / "out2")
    assert out.returncode == 2 and f"record {i + 1}" in out.stderr


def test_unknown_symbol_and_bad_arguments(tmp_path):
    out = cli(bundled.path("feeds/binance_spot_multi_20211012_ws.jsonl"))
    assert out.returncode == 2 and "NKNUSDT" in out.stderr and "no exchangeInfo" in out.stderr
    out = cli(bundled.BTCUSDT_FEED, "--speed", "fast")
    assert out.returncode == 2 and "--speed" in out.stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "decisions.jsonl").write_text("")
    out = cli(bundled.BTCUSDT_FEED, "--out", tmp_path / "used")
    assert out.returncode == 2 and "holds an earlier replay" in out.stderr
    out = cli(bundled.BTCUSDT_FEED, "--diff", tmp_path / "no.sqlite")
    assert out.returncode == 2 and "no such journal" in out.stderr


def test_recording_without_snapshot_acts_on_nothing(tmp_path):
    out = cli(bundled.path("feeds/binance_spot_btcusdt_20230405T0000_0006_nosnapshot.jsonl.gz"),
              "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "BTCUSDT: the recording holds no usable depth snapshot" in out.stdout
    from pyengine.replay.log import read_decisions
    records = read_decisions(tmp_path / "decisions.jsonl")
    assert records and all(r["book"] == "out_of_sync" and r["order"] is None for r in records)
