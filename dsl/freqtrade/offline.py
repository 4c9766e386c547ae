"""Run Freqtrade with no network: its markets come from the bundled Binance exchangeInfo.

Freqtrade loads markets through ccxt, which asks Binance's REST ``/api/v3/exchangeInfo``. A tiny
loopback HTTP server answers that (and ping/time) from ``pyengine.bundled.exchange_info()`` (the
2021 filters with the tick sizes the bundled klines need), and an extra Freqtrade config file
points ccxt's Binance URLs at it. Everything else is Freqtrade, unmodified::

    python -m dsl.freqtrade.offline backtesting --config tools/freqtrade/config.json ...
"""
from __future__ import annotations

import contextlib
import http.server
import json
import pathlib
import sys
import tempfile
import threading
import time
from typing import Iterator

from pyengine import bundled

# Only spot markets exist offline; ccxt would otherwise also ask the futures endpoints.
CCXT_OPTIONS = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}


def _exchange_info() -> bytes:
    info = bundled.exchange_info()
    info["serverTime"] = int(time.time() * 1000)
    return json.dumps(info).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/api/v3/exchangeInfo":
            body = _exchange_info()
        elif path == "/api/v3/ping":
            body = b"{}"
        elif path == "/api/v3/time":
            body = json.dumps({"serverTime": int(time.time() * 1000)}).encode()
        else:
            self._reply(404, json.dumps({"code": -1, "msg": f"offline market server: no {path}"}).encode())
            return
        self._reply(200, body)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def market_server() -> Iterator[str]:
    """A loopback Binance REST stub for exchangeInfo; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def offline_config(base_url: str) -> dict:
    """Freqtrade config fragment pointing ccxt's Binance endpoints at ``base_url``."""
    api = {k: f"{base_url}/api/v3" for k in ("public", "private")}
    api.update({"v1": f"{base_url}/api/v1", "sapi": f"{base_url}/sapi/v1"})
    ccxt = {"urls": {"api": api}, "options": CCXT_OPTIONS}
    return {"exchange": {"name": "binance", "ccxt_config": ccxt, "ccxt_async_config": ccxt,
                         "skip_pair_validation": False}}


def run_freqtrade(argv: list[str]) -> int:
    """``freqtrade <argv>`` in this process with markets served offline."""
    from freqtrade.main import main as ft_main

    with market_server() as url, tempfile.TemporaryDirectory(prefix="ft-offline-") as tmp:
        cfg = pathlib.Path(tmp) / "offline.json"
        cfg.write_text(json.dumps(offline_config(url)))
        try:
            ft_main([*argv, "--config", str(cfg)])
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(run_freqtrade(sys.argv[1:]))
