"""A tiny stand-in for the engine's Controls (the real engine is built elsewhere)."""
from __future__ import annotations

import threading


class FakeControls:
    def __init__(self) -> None:
        self.halted = False
        self.halt_reasons: list[str] = []
        self.resumes = 0
        self.threads: set[str] = set()   # which threads called us (must be the trio thread)

    def _seen(self) -> None:
        self.threads.add(threading.current_thread().name)

    def status(self):
        self._seen()
        return {"mode": "paper", "symbols": "BTCUSDT", "halted": self.halted}

    def positions(self):
        self._seen()
        return [{"symbol": "BTCUSDT", "qty": 0.5, "avg_price": 61837.63, "mark": 61900.0, "unrealised": 31.19}]

    def pnl(self):
        self._seen()
        return {"equity": 10031.19, "realised": 0.0, "unrealised": 31.19, "fees": 0.0}

    def orders(self):
        self._seen()
        return []

    def risk(self):
        self._seen()
        return {"state": "HALTED" if self.halted else "ACTIVE", "daily_loss_pct": 0.1}

    def halt(self, reason: str) -> str:
        self._seen()
        self.halted = True
        self.halt_reasons.append(reason)
        return f"halted: {reason}"

    def resume(self) -> str:
        self._seen()
        self.halted = False
        self.resumes += 1
        return "resumed"
