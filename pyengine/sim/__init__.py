"""A local Binance-spot-compatible exchange (REST, market streams, WebSocket API).

Usage in trio tests (the simulator runs in the test's own loop)::

    from pyengine.sim.testing import running_sim

    async def test_x():
        async with running_sim(speed="manual") as sim:
            sim.rest_url          # "http://127.0.0.1:PORT"     -> REST /api/v3/...
            sim.stream_url        # "ws://127.0.0.1:PORT"       -> /ws/<stream>, /stream?streams=
            sim.ws_api_url        # "ws://127.0.0.1:PORT/ws-api/v3"
            sim.hmac_key.key, sim.hmac_key.secret            # HMAC-SHA256 test key (X-MBX-APIKEY)
            sim.ed25519_key.key, sim.ed25519_key.private_pem # Ed25519 key for session.logon
            await sim.advance(5_000)   # manual clock: replay 5 s of market data, then return
            sim.faults.skip_diff("BTCUSDT")           # see pyengine.sim.faults.Faults
            sim.faults.unknown_status("/api/v3/order", executed=True)
            sim.deposit("USDT", "1000")               # balanceUpdate event

Blocking clients (ccxt, requests) use a simulator in its own thread::

    from pyengine.sim.testing import running_sim_thread

    with running_sim_thread(speed=1) as st:
        st.sim.rest_url ...
        st.call(st.sim.faults.skip_diff, "BTCUSDT")  # run on the simulator's loop

Configuration: :class:`~pyengine.sim.server.SimConfig` (keyword arguments of both helpers):
``data`` ({symbol: recording .jsonl.gz | 1m klines .csv.gz}; default: the bundled BTCUSDT and
ETHUSDT recordings and ZECUSDT klines), ``speed`` (1.0 real time, N accelerated, "max",
"manual"), ``rebase`` (data times shifted to start now; False = byte-for-byte frames),
``balances``, ``commission`` ("0.001"), ``limits`` (:class:`~pyengine.sim.ratelimit.Limits`),
``api_key``/``api_secret`` (else env ``PYENGINE_SIM_API_KEY``/``PYENGINE_SIM_API_SECRET``,
else generated), ``latency_ms``/``latency_jitter_ms``.

Standalone: ``pyengine sim --port 9000 [--data SYMBOL=PATH ...] [--speed N|max]``.
What is and is not simulated: ``pyengine/sim/README.md``.
"""
from pyengine.sim.server import SimConfig, Simulator

__all__ = ["SimConfig", "Simulator"]
