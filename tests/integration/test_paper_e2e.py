"""End to end: the engine paper-trades the bundled real data on the simulator. Strategies
trade, every fill reaches the state and the journal exactly once, and the engine's PnL equals
an independent recomputation from the exchange's own trade list."""
from decimal import Decimal

from pyengine.ids import parse_client_order_id

from tests.integration.harness import (engine_on_sim, exchange_facts, exchange_view,
                                       fast_strategies, journal_records, net_from_trades)


async def test_paper_session_trades_and_accounts_for_every_fill(tmp_path):
    async with engine_on_sim(tmp_path, fast_strategies(), speed=100) as (sim, engine):
        code = await engine.run()
        assert code == 0 and engine.stop_reason == "end of data"
        async with exchange_view(sim.rest_url, sim.ws_api_url, sim.stream_url,
                                 sim.hmac_key.key, sim.hmac_key.secret) as client:
            ex = await exchange_facts(client, engine.symbols)

    state = engine.state
    trades = ex["trades"]
    print(f"\n{len(ex['orders'])} orders, {len(trades)} fills; counts {dict(engine.execution.counts)}; "
          f"refusals {dict(engine.risk.refusals)}")
    assert len(trades) >= 4, "the strategies should have traded"
    assert {t["symbol"] for t in trades} <= set(engine.symbols)

    # every order is ours, decided once, and its intent was journaled before it was sent
    intents = {r.client_order_id for r in journal_records(engine.cfg.journal.path, "intent")}
    coids = [o["clientOrderId"] for o in ex["orders"]]
    assert len(coids) == len(set(coids))
    assert set(coids) <= intents
    assert all(parse_client_order_id(c) is not None for c in coids)

    # every exchange fill is in the state and in the journal, once
    ex_ids = sorted((t["symbol"], t["id"]) for t in trades)
    assert sorted(state._trades) == ex_ids
    fills = journal_records(engine.cfg.journal.path, "fill")
    assert sorted((r.symbol, r.trade_id) for r in fills) == ex_ids

    # balances: the state equals the exchange
    for asset, total in ex["balances"].items():
        b = state.balances.get(asset)
        assert b is not None and b.total == total, asset

    # PnL: the engine's (per strategy, summed) against a recomputation from the trades
    marks = {s: state.portfolio.mark_price(s) for s in engine.symbols}
    independent = net_from_trades(trades, marks)
    pnl = state.portfolio.pnl()
    per_strategy = sum((state.portfolio.pnl(sid).net for sid in state.portfolio.strategies()),
                       Decimal(0))
    print(f"net PnL engine {pnl.net:.8f}  recomputed {independent:.8f}  fees {pnl.fees:.8f}")
    assert abs(pnl.net - independent) < Decimal("1e-8")
    assert abs(per_strategy - pnl.net) < Decimal("1e-12")
    # and against the account itself: cash + holdings at the marks
    base = {"BTCUSDT": "BTC", "ETHUSDT": "ETH", "ZECUSDT": "ZEC"}
    account_value = ex["balances"]["USDT"] - Decimal(10000) + sum(
        ex["balances"].get(base[s], Decimal(0)) * marks[s] for s in engine.symbols)
    assert abs(account_value - pnl.net) < Decimal("1e-8")
