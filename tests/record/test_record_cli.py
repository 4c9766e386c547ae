"""``pyengine record`` from the command line: argument errors, --duration, --check, and a clean
stop on SIGINT/SIGTERM in a subprocess (the simulator runs in a thread: no internet)."""
from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time

import pytest

from pyengine.cli import main
from pyengine.record.check import check
from pyengine.sim.testing import running_sim_thread


@pytest.fixture(scope="module")
def sim_url():
    with running_sim_thread(speed=4) as st:
        yield st.sim.rest_url


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(["record", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("argv, message", [
    (["--symbols", "BTCUSDT", "--streams", "depth@100ms,trades"], "unknown stream 'trades'"),
    (["--symbols", "BTCUSDT", "--streams", "btcusdt@trade"], "without the symbol ('trade')"),
    (["--symbols", "BTCUSDT", "--streams", "depth,depth@100ms"], "depth and depth@100ms carry the same"),
    (["--symbols", "BTC/USDT"], "'BTC/USDT' is not a symbol name"),
    (["--symbols", "BTCUSDT", "--venue", "mainnet"], "--venue: expected demo|production|testnet or 'sim URL'"),
    (["--symbols", "BTCUSDT", "--venue", "sim"], "--venue sim: give the simulator's URL"),
    (["--symbols", "BTCUSDT", "--venue", "sim", "localhost:9000"], "is not a base URL"),
    (["--symbols", "BTCUSDT", "--snapshot-every", "often"], "--snapshot-every: 'often' is not a duration"),
    (["--symbols", "BTCUSDT", "--duration", "0s"], "--duration: '0s' must be longer than zero"),
    (["--symbols", "BTCUSDT", "--rotate-mb", "-1"], "--rotate-mb: '-1' must be a positive number"),
    (["--symbols", "BTCUSDT,ETHUSDT", "--budget-mb", "0.01"], "less than 8 KiB for each of 2 symbols"),
    (["--symbols", "BTCUSDT", "--snapshot-limit", "6000"], "--snapshot-limit 6000"),
    (["--out", "x"], "--symbols is required"),
])
def test_bad_arguments_are_clear_errors(capsys, tmp_path, argv, message):
    if "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path / "rec")]
    code, text = run_cli(capsys, *argv)
    assert code == 2
    assert message in text and "Traceback" not in text
    assert not (tmp_path / "rec").exists()


def test_unwritable_directory_is_a_clear_error(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, text = run_cli(capsys, "--symbols", "BTCUSDT", "--out", str(blocker / "rec"))
    assert code == 2 and f"--out {blocker / 'rec'}: cannot write there" in text
    code, text = run_cli(capsys, "--symbols", "BTCUSDT", "--out", str(blocker))
    assert code == 2 and "exists and is not a directory" in text


def test_unknown_symbol_is_named(capsys, tmp_path, sim_url):
    code, text = run_cli(capsys, "--symbols", "BTCUSDT,FOOUSDT", "--out", str(tmp_path),
                         "--venue", "sim", sim_url)
    assert code == 2
    assert f"unknown symbol on Binance sim ({sim_url}): FOOUSDT" in text and "Traceback" not in text
    assert list(tmp_path.glob("*.jsonl.gz")) == []


def test_duration_then_check(capsys, tmp_path, sim_url):
    code, text = run_cli(capsys, "--symbols", "BTCUSDT,ETHUSDT", "--out", str(tmp_path / "rec"),
                         "--venue", "sim", sim_url, "--duration", "2s",
                         "--streams", "depth@100ms,trade,bookTicker,aggTrade,kline_1m")
    assert code == 0, text
    assert "stopped: " in text
    code, text = run_cli(capsys, "--check", str(tmp_path / "rec"))
    assert code == 0, text
    assert "BTCUSDT: " in text and "ETHUSDT: " in text and "in sync at the end" in text
    assert text.rstrip().endswith("OK: 2 symbols checked")


def test_check_fails_for_a_recording_without_snapshot(capsys, tmp_path):
    from pyengine import bundled
    from pyengine.recording import records
    # the bundled recording minus its snapshot line: the book can never be rebuilt
    lines = [b'{"recv_ts_ns":%d,"msg":%s}' % (r.recv_ts_ns, r.msg)
             for r in records(bundled.BTCUSDT_FEED) if not r.msg.startswith(b'{"lastUpdateId"')][:3000]
    path = tmp_path / "nosnapshot.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    code, text = run_cli(capsys, "--check", str(path))
    assert code == 1 and "NOT in sync at the end" in text and "FAILED: BTCUSDT" in text


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_leaves_readable_files(tmp_path, sim_url, signum):
    out = tmp_path / "rec"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyengine.cli", "record", "--symbols", "BTCUSDT,ETHUSDT", "--out", str(out),
         "--venue", "sim", sim_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        deadline = time.monotonic() + 20
        # wait until both symbols' files have flushed data (the recorder flushes every second)
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(out.glob("*.jsonl.gz")) if out.exists() else []
            if len(files) == 2 and all(f.stat().st_size > 20_000 for f in files):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1].decode()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode()
    assert proc.returncode == 0, text
    assert f"{signal.Signals(signum).name}: closing the files" in text and "stopped: " in text
    files = sorted(out.glob("*.jsonl.gz"))
    assert len(files) == 2
    for f in files:
        # a complete gzip stream (trailer written), every line complete
        data = gzip.decompress(f.read_bytes())
        assert data.endswith(b"}\n") and data.count(b"\n") > 100
    results = check(out)
    assert set(results) == {"BTCUSDT", "ETHUSDT"}
    assert all(r.ok and r.synced for r in results.values()), [r.describe() for r in results.values()]
