"""What the engine shows: the ``Controls`` the dashboard and Telegram call, and the live
terminal status (positions, PnL, orders, latency percentiles, progress through the data)."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from pyengine.engine.app import Engine


def _pct(values: list[int], q: float) -> int:
    if not values:
        return 0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _us(ns: int) -> str:
    return f"{ns / 1000:.0f}us" if ns < 10_000_000 else f"{ns / 1e6:.0f}ms"


class EngineControls:
    """``pyengine.telemetry.Controls`` over the running engine (called in the trio thread)."""

    def __init__(self, engine: "Engine"):
        self.e = engine
        self.started = time.time()

    def status(self) -> dict[str, Any]:
        e = self.e
        return {"mode": e.mode, "uptime_s": round(time.time() - self.started),
                "symbols": ",".join(e.symbols), "active": ",".join(e.active.active),
                "excluded": "; ".join(f"{s}: {why}" for s, why in
                                      sorted(e.active.excluded().items())),
                "risk": e.risk.state,
                "feed": "up" if e.md is not None and e.md.connected.is_set() else "down",
                "orders_sent": e.execution.counts["sent"], "fills": e.userdata.fills,
                "progress": f"{e.progress() * 100:.0f}%" if e.progress() is not None else "live"}

    def positions(self) -> list[dict[str, Any]]:
        e = self.e
        out = []
        for p in e.state.portfolio.positions():
            mark = e.state.portfolio.mark_price(p.symbol)
            if p.qty == 0 or (mark and p.qty * mark < e.execution.min_notional.get(p.symbol, 0)):
                continue          # nothing, or commission dust too small to sell
            out.append({"strategy": p.strategy_id, "symbol": p.symbol, "qty": float(p.qty),
                        "avg_price": float(p.avg_price), "mark": float(mark) if mark else None,
                        "unrealised": float(p.unrealised(mark)) if mark else 0.0})
        return out

    def pnl(self) -> dict[str, Any]:
        e = self.e
        p = e.state.portfolio.pnl()
        s = e.risk.summary()
        return {"equity": float(Decimal(s["equity"])), "realised": float(p.realised),
                "unrealised": float(p.unrealised), "fees": float(p.fees), "net": float(p.net),
                "daily_loss_pct": s["daily_loss_pct"]}

    def orders(self) -> list[dict[str, Any]]:
        return [{"id": o.client_order_id, "symbol": o.symbol, "side": o.side, "type": o.type,
                 "price": float(o.price) if o.price else None, "qty": float(o.qty),
                 "filled": float(o.executed_qty), "status": o.status.value}
                for o in self.e.state.open_orders()]

    def risk(self) -> dict[str, Any]:
        return self.e.risk.summary()

    def halt(self, reason: str) -> str:
        return self.e.halt(reason, "operator")

    def resume(self) -> str:
        self.e.risk.resume("operator", time.time_ns())
        return f"risk state {self.e.risk.state}"


def status_lines(e: "Engine") -> list[str]:
    """The terminal status block."""
    c = e.controls
    pnl = c.pnl()
    prog = e.progress()
    counts = e.execution.counts
    tto = e.execution.tto_ns
    lines = [
        f"[{time.strftime('%H:%M:%S')}] {e.mode}  data {prog * 100:5.1f}%  market "
        f"{time.strftime('%H:%M:%S', time.gmtime(e.hub.last_event_ms / 1000)) if e.hub.last_event_ms else '--'}"
        f"  msgs {e.hub.messages}  risk {e.risk.state}"
        if prog is not None else
        f"[{time.strftime('%H:%M:%S')}] {e.mode}  msgs {e.hub.messages}  risk {e.risk.state}",
        f"  equity {pnl['equity']:,.2f}  realised {pnl['realised']:+,.2f}  unrealised "
        f"{pnl['unrealised']:+,.2f}  fees {pnl['fees']:,.2f}  net {pnl['net']:+,.2f}",
        f"  orders sent {counts['sent']}  fills {e.userdata.fills}  refused "
        f"{sum(e.execution.refused.values())} {dict(e.execution.refused.most_common(3)) or ''}"
        f"  open {len(e.state.open_orders())}  stale-skips {e.runner.skipped_stale}",
        f"  tick->order p50 {_us(_pct(tto, .5))} p99 {_us(_pct(tto, .99))} (n={len(tto)})",
        e.active.status_line(),
    ]
    for p in c.positions():
        lines.append(f"  {p['strategy']:<10} {p['symbol']:<8} {p['qty']:>12.5f} @ "
                     f"{p['avg_price']:>10.2f}  upnl {p['unrealised']:+.2f}")
    return lines


def print_status(e: "Engine", out: Callable[[str], None] = print) -> None:
    out("\n".join(status_lines(e)))
