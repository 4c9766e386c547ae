"""Freqtrade (its own CLI, in a subprocess) loads its Binance markets from the simulator."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

from pyengine import bundled
from pyengine.sim.testing import running_sim_thread


def test_freqtrade_list_markets_reads_the_simulators_exchange_info(tmp_path: pathlib.Path):
    freqtrade = pathlib.Path(sys.executable).parent / "freqtrade"
    with running_sim_thread(speed="manual", data={"ZECUSDT": bundled.ZECUSDT_1M}) as st:
        base = st.sim.rest_url
        api = {k: f"{base}/api/v3" for k in ("public", "private")}
        api.update({"v1": f"{base}/api/v1", "sapi": f"{base}/sapi/v1"})
        ccxt = {"urls": {"api": api},
                "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}}
        cfg = {"exchange": {"name": "binance", "key": "", "secret": "", "ccxt_config": ccxt, "ccxt_async_config": ccxt},
               "stake_currency": "USDT", "dry_run": True, "max_open_trades": 1, "stake_amount": 10,
               "trading_mode": "spot", "pairlists": [{"method": "StaticPairList"}], "entry_pricing": {},
               "exit_pricing": {}}
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        r = subprocess.run([str(freqtrade), "list-markets", "-c", str(tmp_path / "config.json"), "--print-json",
                            "--userdir", str(tmp_path)], capture_output=True, text=True, timeout=180)
        served = st.call(lambda: st.sim.limiter.used_weight("127.0.0.1", st.sim.clock.now_ms()))
    assert r.returncode == 0, r.stderr[-2000:]
    markets = json.loads(r.stdout.strip().splitlines()[-1])
    assert markets == ["BTC/USDT", "DOGE/USDT", "ETH/USDT", "SOL/USDT", "ZEC/USDT"]
    assert "5 active markets" in r.stderr
    assert served >= 20          # the exchangeInfo request (weight 20) really reached the simulator
