"""``pyengine sim`` standalone: prints its URLs and a working test key."""
from __future__ import annotations

import os
import subprocess
import sys

import httpx
import trio

from .helpers import signed


async def test_pyengine_sim_runs_standalone_and_takes_key_from_env():
    env = {**os.environ, "PYENGINE_SIM_API_KEY": "k" * 64, "PYENGINE_SIM_API_SECRET": "s" * 64}
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "pyengine.cli", "sim", "--port", "0", "--speed", "max",
         "--data", "ZECUSDT=" + str(__import__("pyengine.bundled").bundled.ZECUSDT_1M), "--balance", "USDT=5000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out = b""
        with trio.fail_after(60):
            while b"Ed25519 test key" not in out:
                chunk = await proc.stdout.receive_some(4096)
                assert chunk, out
                out += chunk
        text = out.decode()
        rest = next(line.split()[1] for line in text.splitlines() if line.strip().startswith("REST"))
        base = rest.rsplit("/api/v3", 1)[0]
        assert "ws://127.0.0.1:" in text and "/ws-api/v3" in text
        assert "X-MBX-APIKEY=" + "k" * 64 in text
        key = type("K", (), {"key": "k" * 64, "secret": "s" * 64})
        async with httpx.AsyncClient(base_url=base) as c:
            assert (await c.get("/api/v3/ping")).json() == {}
            acct = (await signed(c, "GET", "/api/v3/account", key, {})).json()
            assert {"asset": "USDT", "free": "5000.00000000", "locked": "0.00000000"} in acct["balances"]
    finally:
        proc.terminate()
        await proc.wait()


def test_bad_arguments_are_user_errors():
    for args, msg in ((["--speed", "fast"], "--speed must be a number"),
                      (["--data", "BTCUSDT=/no/such"], "no such file"),
                      (["--balance", "USDT"], "expects NAME=VALUE")):
        r = subprocess.run([sys.executable, "-m", "pyengine.cli", "sim", *args], capture_output=True, text=True)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr
