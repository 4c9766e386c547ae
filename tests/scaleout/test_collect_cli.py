"""`pyengine collect` refuses bad input with a clear message (exit 2, no traceback)."""
from __future__ import annotations

import uuid

import pytest

from pyengine import bundled
from pyengine.cli import main


@pytest.mark.parametrize("extra,message", [
    (["--source", "wss://stream.binance.com:9443", "--source", str(bundled.BTCUSDT_FEED)],
     "a stream URL must be the only source"),
    (["--source", "/nonexistent/rec.jsonl.gz"], "no such file"),
    (["--source", str(bundled.BTCUSDT_FEED), "--lease-ms", "100", "--heartbeat-ms", "100"],
     "--lease-ms must be at least twice"),
    (["--source", str(bundled.BTCUSDT_FEED), "--speed", "0"], "--speed must be positive"),
    (["--source", str(bundled.BTCUSDT_FEED), "--streams", "depth,ticker"],
     "--streams: not market streams the collector publishes: ['ticker']"),
])
def test_bad_arguments(redis_url, capsys, extra, message):
    assert main(["collect", "--redis", redis_url, "--symbols", "BTCUSDT", *extra]) == 2
    assert message in capsys.readouterr().err


def test_bad_symbols_and_unreachable_redis(capsys):
    assert main(["collect", "--redis", "redis://127.0.0.1:1/0", "--symbols", "BTC/USDT",
                 "--source", str(bundled.BTCUSDT_FEED)]) == 2
    assert "--symbols: expected symbols like BTCUSDT" in capsys.readouterr().err
    assert main(["collect", "--redis", "redis://127.0.0.1:1/0", "--symbols", "BTCUSDT",
                 "--source", str(bundled.BTCUSDT_FEED)]) == 2
    assert "cannot connect" in capsys.readouterr().err


def test_redis_password_never_appears_in_errors(capsys, monkeypatch):
    monkeypatch.setenv("PYENGINE_REDIS_PASSWORD", "s3cret-env")
    assert main(["collect", "--redis", "redis://user:s3cret-url@127.0.0.1:1/0",
                 "--symbols", "BTCUSDT", "--source", str(bundled.BTCUSDT_FEED)]) == 2
    err = capsys.readouterr().err
    assert "cannot connect" in err and "redis://user:***@127.0.0.1:1/0" in err
    assert "s3cret" not in err


def test_password_from_the_environment_is_used(redis_url, capsys, monkeypatch):
    import redis
    r = redis.Redis.from_url(redis_url)
    r.execute_command("ACL", "SETUSER", "pe-test-collector", "on", ">pw-from-env", "~*", "+@all")
    try:
        monkeypatch.setenv("PYENGINE_REDIS_PASSWORD", "wrong")
        url = redis_url.replace("redis://", "redis://pe-test-collector@")
        assert main(["collect", "--redis", url, "--symbols", "NKNUSDT", "--source",
                     str(bundled.ROOT / "feeds" / "binance_spot_multi_20211012_ws.jsonl"),
                     "--speed", "1000", "--heartbeat-ms", "50", "--lease-ms", "200"]) == 2
        assert "cannot connect (AuthenticationError)" in capsys.readouterr().err
        monkeypatch.setenv("PYENGINE_REDIS_PASSWORD", "pw-from-env")
        assert main(["collect", "--redis", url, "--symbols", "NKNUSDT", "--source",
                     str(bundled.ROOT / "feeds" / "binance_spot_multi_20211012_ws.jsonl"),
                     "--speed", "1000", "--heartbeat-ms", "50", "--lease-ms", "200",
                     "--prefix", f"pw{uuid.uuid4().hex[:8]}"]) == 0   # a fresh epoch
        assert '"published": {"NKNUSDT"' in capsys.readouterr().out
    finally:
        r.execute_command("ACL", "DELUSER", "pe-test-collector")
