"""A restart never resets the day's loss, the state or the open reservations."""
from __future__ import annotations

from decimal import Decimal

from risk import BUY, LIMIT, REASON_CODES, SqliteRiskStore
from risk_helpers import DAY, SECOND, T0, config, make, quote  # noqa: F401 (make: fixture)

NOW = 10 * SECOND


def test_restart_keeps_loss_state_positions_and_orders(make, tmp_path):
    path = str(tmp_path / "r.db")
    rm = make(path=path)
    i = rm.index("TESTUSDT")
    assert rm.check("a", i, BUY, LIMIT, 10_000, 500, 9_000, quote(10_000), NOW, T0) == 0
    rm.on_fill("a", 300, 10_000, T0)                  # partial fill: 200 still open
    rm.on_mark(i, 9_500, T0 + SECOND)                 # unrealised -15 USDT
    rm.reconcile("9560", {"TESTUSDT": (300, 9_500)}, T0 + SECOND)  # and a realised loss
    before = rm.snapshot()
    assert rm.summary()["daily_loss_pct"] == "1.550"
    # no explicit save here: a crash right now must not lose anything above
    again = make(path=path, cash="123")               # initial cash is ignored on restore
    assert again.snapshot() == before
    assert again.summary()["daily_loss_pct"] == "1.550"
    assert again.native.sym[i].open_buy_qty == 200
    assert again.native.deployed == rm.native.deployed
    assert again.native.open_risk_k == rm.native.open_risk_k


def test_reducing_and_halted_survive_restarts(make, tmp_path):
    path = str(tmp_path / "r.db")
    rm = make(path=path)
    rm.reconcile("9700", {}, T0)
    assert rm.state == "REDUCING"
    again = make(path=path)
    assert again.state == "REDUCING"
    i = again.index("TESTUSDT")
    assert again.check("x", i, BUY, LIMIT, 10_000, 1, 9_999, quote(10_000), NOW, T0) \
        == REASON_CODES["REDUCING"]
    again.halt("manual", "pytest", T0)
    third = make(path=path, wall=T0 + 30 * DAY)       # a month later: still HALTED
    assert third.state == "HALTED"


def test_restart_on_a_later_day_rolls_the_anchor(make, tmp_path):
    path = str(tmp_path / "r.db")
    rm = make(config(max_daily_loss_pct=Decimal("2")), path=path)
    rm.reconcile("9800", {}, T0)
    assert rm.state == "REDUCING"
    same_day = make(config(max_daily_loss_pct=Decimal("2")), path=path, wall=T0 + DAY - 1)
    assert same_day.state == "REDUCING" and same_day.summary()["daily_loss_pct"] == "2.000"
    next_day = make(config(max_daily_loss_pct=Decimal("2")), path=path, wall=T0 + DAY)
    assert next_day.state == "ACTIVE"
    assert next_day.summary()["daily_loss_pct"] == "0.000"
    assert next_day.summary()["weekly_loss_pct"] == "2.000"   # the week remembers


def test_operator_commands_reach_a_running_manager(make, tmp_path):
    path = str(tmp_path / "r.db")
    rm = make(path=path)
    cli = SqliteRiskStore(path)                       # what `pyengine risk halt` does
    cli.queue_command("halt", "looks wrong", "cli:alice")
    actions = rm.poll_operator(T0 + SECOND)
    assert rm.state == "HALTED" and [a.kind for a in actions] == ["cancel_all"]
    assert rm.poll_operator(T0 + 2 * SECOND) == []    # applied once
    cli.queue_command("resume", "", "cli:alice")
    rm.poll_operator(T0 + 3 * SECOND)
    assert rm.state == "ACTIVE"
    codes = [(e.kind, e.code) for e in cli.events()]
    assert ("state", "HALT") in codes and ("state", "RESUME") in codes
    halt = next(e for e in cli.events() if e.code == "HALT")
    assert "cli:alice" in halt.message and "looks wrong" in halt.message


def test_metrics_for_telemetry(make):
    rm = make()
    rm.reconcile("9760", {}, T0)                      # 2.4 % of a 3 % budget
    m = rm.metrics()
    assert m["risk_daily_loss_used_pct"] == 80.0 and m["risk_weekly_loss_used_pct"] == 80.0
    assert m["risk_state"] == 0.0 and m["risk_deployed_pct"] == 0.0


def test_recovery_adopts_open_orders_from_the_exchange(make):
    from risk import SELL
    rm = make()
    rm.reconcile("10000", {"TESTUSDT": (500, 10_000)}, T0)           # equity 10500
    rm.adopt_order("x1", "TESTUSDT", BUY, 10_000, 6000, 9_950, T0)   # 6000 USDT reserved
    rm.adopt_order("x2", "TESTUSDT", SELL, 10_100, 200, 0, T0)
    i = rm.index("TESTUSDT")
    assert rm.native.deployed == 6500 * 10**8
    # 70 % of 10500 is 7350: 8.50 more fits, 8.51 does not
    assert rm.check("a", i, BUY, LIMIT, 10_000, 851, 9_990, quote(10_000), NOW, T0, 0) \
        == REASON_CODES["EXPOSURE"]
    assert rm.check("b", i, BUY, LIMIT, 10_000, 850, 9_990, quote(10_000), NOW, T0, 0) == 0
    # 200 of the 500 held are being sold already
    assert rm.check("s", i, SELL, LIMIT, 10_000, 301, 0, quote(10_000), NOW, T0, 0) \
        == REASON_CODES["OVERSELL"]
    rm.on_fill("x1", 6000, 10_000, T0)
    assert rm.native.sym[i].pos_qty == 6500 and rm.native.sym[i].stop_px == 9_950
