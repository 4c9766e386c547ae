"""sd_notify against a real unix datagram socket, as systemd would listen."""
from __future__ import annotations

import os
import socket

import pytest

from pyengine import sdnotify


@pytest.fixture
def listener(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()


def test_ready_watchdog_stopping_arrive_as_datagrams(listener):
    assert sdnotify.ready("trading BTCUSDT")
    assert listener.recv(4096) == b"READY=1\nSTATUS=trading BTCUSDT"
    assert sdnotify.watchdog()
    assert listener.recv(4096) == b"WATCHDOG=1"
    assert sdnotify.stopping()
    assert listener.recv(4096) == b"STOPPING=1"
    assert sdnotify.status("resyncing")
    assert listener.recv(4096) == b"STATUS=resyncing"


def test_abstract_socket_name():
    name = f"pyengine-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert sdnotify.notify("READY=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"READY=1"


def test_without_systemd_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    assert sdnotify.watchdog() is False


def test_bad_input_is_refused(listener):
    with pytest.raises(ValueError, match="KEY=VALUE"):
        sdnotify.notify("READY")
    with pytest.raises(ValueError, match="path or an @abstract"):
        sdnotify.notify("READY=1", env={"NOTIFY_SOCKET": "relative.sock"})


def test_watchdog_interval_is_half_of_watchdogsec():
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "10000000",
                                         "WATCHDOG_PID": str(os.getpid())}) == 5.0
    assert sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert sdnotify.watchdog_interval_s({}) is None
    with pytest.raises(ValueError, match="WATCHDOG_USEC"):
        sdnotify.watchdog_interval_s({"WATCHDOG_USEC": "ten"})


def test_collector_process_notifies_systemd(listener, redis_url, tmp_path):
    """`pyengine collect` (the collector unit's ExecStart) sends READY, WATCHDOG, STOPPING."""
    import subprocess
    import sys
    import threading

    from pyengine import bundled
    src = bundled.ROOT / "feeds" / "binance_spot_multi_20211012_ws.jsonl"
    got: list[str] = []
    done = threading.Event()

    def drain():                    # read as systemd does, so the sender never finds it full
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                got.append(listener.recv(4096).decode())
            except socket.timeout:
                pass

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pyengine.cli", "collect", "--redis", redis_url,
             "--symbols", "NKNUSDT,LRCBTC", "--source", str(src), "--speed", "15",
             "--prefix", f"sd{os.getpid()}", "--heartbeat-ms", "200", "--lease-ms", "1000"],
            capture_output=True, text=True, timeout=120, env={**os.environ})
    finally:
        done.set()
        reader.join()
    assert proc.returncode == 0, proc.stderr
    assert got[0].startswith("READY=1\nSTATUS=collector ")
    assert got.count("WATCHDOG=1") >= 2 and got[-1] == "STOPPING=1"


def test_a_full_notify_queue_never_blocks(listener):
    # nobody reads: the kernel queue fills up, and notify() returns False instead of blocking
    results = [sdnotify.watchdog() for _ in range(5000)]
    assert results[0] is True and results[-1] is False
