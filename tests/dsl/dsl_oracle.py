"""Helpers that read the TradingView trade-list oracles and compare them with ours."""
from __future__ import annotations

import csv
import pathlib
from datetime import datetime

ROOT = pathlib.Path(__file__).resolve().parents[1] / "oracle" / "pynecore"
PINE = pathlib.Path(__file__).resolve().parent / "pine"


def load_trades(name: str) -> list[dict]:
    """Rows of a TradingView export, merged per trade (entry row + exit row)."""
    with open(ROOT / "strategy" / name, newline="") as f:
        rows = list(csv.DictReader(f))
    trades: dict[int, dict] = {}
    for r in rows:
        t = trades.setdefault(int(r["Trade #"]), {"number": int(r["Trade #"])})
        kind, side = r["Type"].split()
        ms = int(datetime.strptime(r["Date/Time"], "%Y-%m-%dT%H:%M:%S%z").timestamp() * 1000)
        t[kind.lower()] = {"time": ms, "signal": r["Signal"], "price": float(r["Price USD"])}
        t["direction"] = side
        t["qty"] = float(r["Position size (qty)"])
        t["pnl"] = float(r["Net P&L USD"])
    return [trades[k] for k in sorted(trades)]


def compare(ours: list, theirs: list, tick: float, check_signal: bool = True) -> list[str]:
    """Differences, trade by trade (empty when everything matches)."""
    problems = []
    if len(ours) != len(theirs):
        problems.append(f"trade count: ours {len(ours)} vs oracle {len(theirs)}")
    for a, b in zip(ours, theirs):
        where = f"trade {b['number']}"
        # An open trade's exit row is priced at the export's moment, not at a bar of ours.
        live = a.open and b["exit"]["signal"] == "Open"
        checks = [
            ("direction", a.direction, b["direction"], lambda x, y: x == y),
            ("entry time", a.entry_time, b["entry"]["time"], lambda x, y: x == y),
            # an open trade's exit row carries the export's wall-clock time, not a bar time
            ("exit time", a.exit_time, b["exit"]["time"],
             lambda x, y: live or x == y),
            ("entry price", a.entry_price, b["entry"]["price"],
             lambda x, y: abs(x - y) <= tick / 2),
            ("exit price", a.exit_price, b["exit"]["price"],
             lambda x, y: live or abs(x - y) <= tick / 2),
            ("qty", a.qty, b["qty"], lambda x, y: abs(x - y) <= 1e-9 * max(1, abs(y))),
            ("pnl", a.pnl, b["pnl"], lambda x, y: live or abs(x - y) <= 0.01 + 5e-3 * abs(y)),
        ]
        if check_signal:
            checks += [("entry signal", a.entry_signal, b["entry"]["signal"], lambda x, y: x == y),
                       ("exit signal", a.exit_signal, b["exit"]["signal"], lambda x, y: x == y)]
        for what, x, y, ok in checks:
            if not ok(x, y):
                problems.append(f"{where}: {what} ours {x!r} vs oracle {y!r}")
                break
    return problems
