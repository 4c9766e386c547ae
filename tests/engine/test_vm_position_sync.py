"""The strategy VMs see the account's position, not an emulated one: after the engine sells
on a strategy's behalf (a protective stop), the strategy enters again on its next signal and
never closes a position it no longer has."""
import pathlib
from decimal import Decimal as D

from pyengine.engine.strategies import StrategyRunner, StrategySpec
from pyengine.ledger import Bar
from pyengine.state import Fill, Portfolio

PINE = pathlib.Path(__file__).with_name("flat_aware.pine")
SYM = "BTCUSDT"


def bars(closes, t0=0):
    return [Bar(t0 + i * 1000, t0 + i * 1000 + 999, c, c, c, c, 1.0) for i, c in enumerate(closes)]


def fill(side, qty, price, trade_id):
    return Fill(SYM, trade_id, f"c{trade_id}", trade_id, side, D(price), D(qty), D(0), "USDT",
                trade_id)


def make():
    decisions = []
    runner = StrategyRunner([StrategySpec("s", PINE, [SYM], "1s", "trades")],
                            lambda s: (0.01, 0.00001), decisions.append, lambda s: True)
    return runner, decisions


UP, DOWN = [100.0] * 10 + [101.0, 102.0, 103.0], [99.0, 98.0, 97.0, 96.0]


def test_vm_follows_the_account_after_a_protective_exit():
    runner, decisions = make()
    portfolio = Portfolio({SYM: ("BTC", "USDT")})
    for b in bars(UP):
        runner.on_bar(SYM, "1s", b)
    assert [d.kind for d in decisions] == ["entry"]
    portfolio.apply_fill("s", fill("BUY", "1", "101", 1))           # the entry filled
    assert runner.sync_positions(portfolio, {SYM: D(5)}) == 1
    assert runner.by_strategy[("s", SYM)][0].vm.position_size == 1.0
    portfolio.apply_fill("s", fill("SELL", "1", "100.5", 2))        # the engine's stop
    assert runner.sync_positions(portfolio, {SYM: D(5)}) == 1
    assert runner.by_strategy[("s", SYM)][0].vm.position_size == 0.0
    assert runner.sync_positions(portfolio, {SYM: D(5)}) == 0       # nothing new
    for b in bars(DOWN + UP, 100_000):
        runner.on_bar(SYM, "1s", b)
    # flat: no close on the way down, a new entry on the way up
    assert [d.kind for d in decisions] == ["entry", "entry"]


def test_an_emulated_position_would_have_blocked_the_entry():
    """Without the account's position (nothing synced), the VM's own view decides: the
    strategy closes on the way down although the account might hold nothing (and with the
    old emulator it would have stayed long after the engine's stop and never re-entered)."""
    runner, decisions = make()
    portfolio = Portfolio({SYM: ("BTC", "USDT")})
    for b in bars(UP):
        runner.on_bar(SYM, "1s", b)
    portfolio.apply_fill("s", fill("BUY", "1", "101", 1))
    runner.sync_positions(portfolio, {SYM: D(5)})
    for b in bars(DOWN, 100_000):
        runner.on_bar(SYM, "1s", b)
    assert [d.kind for d in decisions] == ["entry", "exit"]


def test_commission_dust_counts_as_flat():
    runner, _ = make()
    portfolio = Portfolio({SYM: ("BTC", "USDT")})
    portfolio.apply_fill("s", fill("BUY", "0.01", "100", 1))       # worth 1 USDT < 5
    portfolio.mark(SYM, D(100))
    assert runner.sync_positions(portfolio, {SYM: D(5)}) == 0
    assert runner.by_strategy[("s", SYM)][0].vm.position_size == 0.0
