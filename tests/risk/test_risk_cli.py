"""pyengine risk show|halt|resume against a real journal."""
from __future__ import annotations

from decimal import Decimal

from pyengine.cli import main
from risk import BUY, LIMIT
from risk_helpers import SECOND, T0, make, quote  # noqa: F401 (make: fixture)


def test_show_halt_resume(make, tmp_path, capsys):
    path = str(tmp_path / "risk.db")
    rm = make(path=path)
    i = rm.index("TESTUSDT")
    assert rm.check("a", i, BUY, LIMIT, 10_000, 500, 9_000, quote(10_000), 10 * SECOND, T0) == 0
    rm.on_fill("a", 500, 10_000, T0)
    rm.reconcile(Decimal("9400"), {"TESTUSDT": (500, 9_900)}, T0)
    assert main(["risk", "show", "--journal", path]) == 0
    out = capsys.readouterr().out
    assert "state: ACTIVE" in out and "day loss: 1.050 %" in out
    assert "TESTUSDT" in out and "stop 90.00" in out and "RECONCILE" in out
    assert main(["risk", "halt", "--journal", path, "--reason", "manual check"]) == 0
    rm.poll_operator(T0 + SECOND)
    assert rm.state == "HALTED"
    assert main(["risk", "show", "--journal", path]) == 0
    assert "state: HALTED" in capsys.readouterr().out
    assert main(["risk", "resume", "--journal", path]) == 0
    rm.poll_operator(T0 + 2 * SECOND)
    assert rm.state == "ACTIVE"


def test_missing_journal_is_a_user_error(tmp_path, capsys):
    assert main(["risk", "show", "--journal", str(tmp_path / "nope.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
