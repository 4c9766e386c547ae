"""The simulator in its own thread, for blocking clients (here: plain ccxt, no trio in the test)."""
from __future__ import annotations

from pyengine import bundled
from pyengine.sim.testing import running_sim_thread

from .test_ccxt import ccxt_for


def test_running_sim_thread_serves_a_blocking_client_and_runs_calls_on_its_loop():
    with running_sim_thread(speed="manual", data={"ZECUSDT": bundled.ZECUSDT_1M}) as st:
        sim = st.sim
        st.call(sim.advance, 120_000)                  # async function, run on the simulator's loop
        ex = ccxt_for(sim)
        ticker = ex.fetch_ticker("ZEC/USDT")
        assert ticker["last"] == sim.markets["ZECUSDT"].last_price / 1e8
        order = ex.create_order("ZEC/USDT", "market", "sell", 1)
        assert order["status"] == "closed" and order["filled"] == 1
        st.call(sim.deposit, "USDT", "5")               # plain function, same loop
        assert ex.fetch_balance()["USDT"]["free"] == float(st.call(lambda: sim.engine.account("main").bal("USDT")[0])) / 1e8
