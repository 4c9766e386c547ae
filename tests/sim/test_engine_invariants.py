"""Random order flows between two accounts conserve every asset and keep locks exact."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from pyengine.sim.errors import ApiError
from pyengine.sim.numbers import parse_scaled
from pyengine.sim.server import SimConfig, Simulator

ACTION = st.tuples(
    st.sampled_from(["main", "other"]),
    st.sampled_from(["LIMIT", "LIMIT", "MARKET", "LIMIT_MAKER", "CANCEL", "IOC", "FOK", "QUOTE"]),
    st.sampled_from(["BUY", "SELL"]),
    st.integers(min_value=145, max_value=155),           # price in whole USDT
    st.integers(min_value=1, max_value=400),             # quantity in 0.01 SOL
    st.sampled_from(["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"]),
)


def _p8(text: str) -> int:
    return parse_scaled(text, 8)[0]


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(ACTION, min_size=1, max_size=40))
def test_conservation_and_locks(actions):
    sim = Simulator(SimConfig(speed="manual", data={}, balances={"USDT": "1000", "SOL": "10"}))
    sim.add_account("other", {"USDT": "1000", "SOL": "10"})
    eng = sim.engine
    now = sim.clock.now_ms()
    for acct, kind, side, price, qty, stp in actions:
        try:
            if kind == "CANCEL":
                mine = eng.open_orders(acct, "SOLUSDT")
                if mine:
                    eng.cancel(acct, {"symbol": "SOLUSDT", "orderId": str(mine[0].order_id)}, now)
                continue
            p = {"symbol": "SOLUSDT", "side": side, "quantity": f"{qty / 100:.2f}", "selfTradePreventionMode": stp}
            if kind in ("LIMIT", "IOC", "FOK"):
                p.update(type="LIMIT", timeInForce="GTC" if kind == "LIMIT" else kind, price=str(price))
            elif kind == "LIMIT_MAKER":
                p.update(type="LIMIT_MAKER", price=str(price))
            elif kind == "QUOTE":
                del p["quantity"]
                p.update(type="MARKET", quoteOrderQty=str(price * qty // 10))
            else:
                p.update(type="MARKET")
            eng.place(acct, p, now)
        except ApiError as exc:
            assert exc.code in (-2010, -1013), exc.msg
        # invariants after every step
        fees = {"SOL": 0, "USDT": 0}
        for trades in eng.my_trades.values():
            for t in trades:
                fees[t["commissionAsset"]] += _p8(t["commission"])
        for asset, start in (("SOL", 20 * 10**8), ("USDT", 2000 * 10**8)):
            total = sum(sum(eng.account(a).bal(asset)) for a in ("main", "other"))
            assert total + fees[asset] == start, asset
            for a in ("main", "other"):
                free, locked = eng.account(a).bal(asset)
                assert free >= 0 and locked >= 0
        for a in ("main", "other"):
            opened = eng.open_orders(a, "SOLUSDT")
            want_sol = sum(o.remaining for o in opened if o.side == "SELL")
            want_usdt = sum(o.price * o.remaining // 10**8 for o in opened if o.side == "BUY")
            assert eng.account(a).bal("SOL")[1] == want_sol
            assert eng.account(a).bal("USDT")[1] == want_usdt
            assert all(o.remaining > 0 and o.status in ("NEW", "PARTIALLY_FILLED") for o in opened)
        book = eng.open["SOLUSDT"]
        bids = [o.price for o in book if o.side == "BUY"]
        asks = [o.price for o in book if o.side == "SELL"]
        assert not bids or not asks or max(bids) < min(asks)       # the accounts' book never crosses
