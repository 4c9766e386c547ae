"""The trading engine: the book, the strategy VM and the Binance connector joined under one
root nursery with one supervisor per concern (see ``app.py``).

    engine = Engine(cfg, endpoints, signer, strategies, symbols,
                    options=EngineOptions(mode="paper"), data_done=sim.replay_done.wait)
    exit_code = await engine.run()      # recovers, warms up, trades until a signal / the end

Modules: ``app`` (assembly, supervision, shutdown), ``marketdata`` (frames -> books, bars,
marks), ``strategies`` (bars -> VM -> decisions), ``execution`` (decisions -> risk gate ->
journaled intent -> WebSocket API), ``userdata`` (execution reports -> state, PnL, risk),
``status`` (dashboard controls, terminal status), ``paper`` (the default paper session).
"""
from pyengine.engine.app import Engine, EngineOptions
from pyengine.engine.strategies import Decision, StrategySpec

__all__ = ["Decision", "Engine", "EngineOptions", "StrategySpec"]
