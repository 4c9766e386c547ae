"""How the Telegram bot and the dashboard reach into the engine. The engine passes one
object with these methods to ``Telemetry.run``; they are always called in the engine's
trio thread (the bot thread goes through ``trio.from_thread``), so implementations may
touch engine state directly but must not block. Return plain JSON-able data."""
from __future__ import annotations

from typing import Any, Protocol


class Controls(Protocol):
    def status(self) -> dict[str, Any]:
        """Mode, uptime, symbols, feed state: a flat dict of short values."""

    def positions(self) -> list[dict[str, Any]]:
        """[{symbol, qty, avg_price, mark, unrealised}]"""

    def pnl(self) -> dict[str, Any]:
        """{equity, realised, unrealised, fees, day_pnl, ...}"""

    def orders(self) -> list[dict[str, Any]]:
        """Open orders: [{id, symbol, side, type, price, qty, filled, status}]"""

    def risk(self) -> dict[str, Any]:
        """{state, reason, daily_loss_pct, weekly_loss_pct, deployed_pct, ...}"""

    def halt(self, reason: str) -> str:
        """Kill switch: cancel everything, refuse new entries. Returns a one-line result."""

    def resume(self) -> str:
        """Lift HALTED (operator action). Returns a one-line result."""


COMMANDS = {
    "status": "engine status",
    "positions": "open positions",
    "pnl": "profit and loss",
    "orders": "open orders",
    "risk": "risk state and limits used",
    "halt": "HALT trading (kill switch): /halt <reason>",
    "resume": "resume after a halt",
    "help": "this list",
}


def render(value: Any, indent: str = "") -> str:
    """Plain-text rendering of what a Controls method returned, for chat messages."""
    if isinstance(value, dict):
        if not value:
            return f"{indent}(none)"
        return "\n".join(f"{indent}{k}: {_scalar(v)}" for k, v in value.items())
    if isinstance(value, list):
        if not value:
            return f"{indent}(none)"
        return "\n".join(
            f"{indent}- " + ", ".join(f"{k}={_scalar(v)}" for k, v in item.items())
            if isinstance(item, dict) else f"{indent}- {_scalar(item)}" for item in value)
    return f"{indent}{_scalar(value)}"


def _scalar(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.2f}"
    return str(v)
