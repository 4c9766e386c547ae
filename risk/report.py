"""A readable view of a saved risk state (CLI, Telegram, dashboard), computed from the
state alone: no exchange rules, config or running engine needed."""
from __future__ import annotations

from decimal import Decimal
from typing import Any


def saved_summary(state: dict[str, Any]) -> dict[str, Any]:
    qs = state["quote_scale"]
    asset = state.get("quote_asset", "USDT")

    def quote(v: int) -> str:
        return f"{Decimal(v).scaleb(-qs):.2f} {asset}"

    equity, deployed, positions = state["cash"], 0, {}
    for name, p in state["positions"].items():
        if not p["qty"]:
            continue
        mul = 10 ** (qs - p["price_scale"] - p["qty_scale"])
        value = p["qty"] * p["mark"] * mul
        equity += value
        deployed += value
        positions[name] = {
            "qty": str(Decimal(p["qty"]).scaleb(-p["qty_scale"])),
            "mark": str(Decimal(p["mark"]).scaleb(-p["price_scale"])),
            "stop": str(Decimal(p["stop"]).scaleb(-p["price_scale"])),
            "value": quote(value)}
    for o in state["orders"].values():
        if o["side"] == "BUY":
            p = state["positions"].get(o["symbol"])
            if p is not None:
                deployed += o["qty"] * o["price"] * 10 ** (qs - p["price_scale"] - p["qty_scale"])

    def loss(anchor: int) -> str:
        return f"{Decimal(anchor - equity) * 100 / anchor:.3f} %" if anchor > 0 else "n/a"
    return {
        "state": state["state"], "reason": state["state_reason"],
        "equity (at last marks)": quote(equity), "cash": quote(state["cash"]),
        "day loss": loss(state["day_start_equity"]), "week loss": loss(state["week_start_equity"]),
        "loss limit reached": ", ".join(k for k in ("day", "week") if state[f"reached_{k}"]) or "no",
        "deployed": f"{Decimal(deployed) * 100 / equity:.2f} %" if equity > 0 else "n/a",
        "open orders": len(state["orders"]), "positions": positions,
    }
