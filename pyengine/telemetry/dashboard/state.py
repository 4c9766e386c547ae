"""What the dashboard shows. The engine (or the demo) fills a ``DashboardState``; the
server turns it into JSON deltas for each connected page. Values here are for display
only, so floats are fine; nothing read from here ever becomes an order."""
from __future__ import annotations

import collections
from typing import Any

SERIES_POINTS = 3000      # per series kept for a page that connects late
RECENT_FILLS = 200
RECENT_ALERTS = 100


class _Series:
    """Points ``{"time": unix_s, "value": v}`` with at most one point per second (the last
    one wins), each stamped with a sequence number so a page only receives what is new."""

    __slots__ = ("points", "seq")

    def __init__(self) -> None:
        self.points: collections.deque[tuple[int, dict[str, float]]] = collections.deque(maxlen=SERIES_POINTS)
        self.seq = 0

    def add(self, time_s: int, value: float) -> None:
        self.seq += 1
        if self.points and self.points[-1][1]["time"] >= time_s:
            # same second (or a clock step back): replace the last point
            time_s = self.points[-1][1]["time"]
            self.points.pop()
        self.points.append((self.seq, {"time": time_s, "value": value}))

    def since(self, seq: int) -> list[dict[str, float]]:
        return [p for s, p in self.points if s > seq]


class DashboardState:
    """Fill it from the engine's trio thread. Every setter is O(1) and cheap; nothing is
    serialised until a page asks."""

    def __init__(self, title: str = "pyengine") -> None:
        self.title = title
        self.mode = "paper"
        self.version = 0
        self._versions: dict[str, int] = {}
        self._parts: dict[str, Any] = {
            "summary": {}, "positions": [], "orders": [], "fills": [], "health": {},
            "risk": {"state": "ACTIVE"}, "alerts": [], "markers": {},
        }
        self._fills: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT_FILLS)
        self._alerts: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT_ALERTS)
        self._markers: dict[str, collections.deque[dict[str, Any]]] = {}
        self.equity = _Series()
        self.pnl = _Series()
        self.prices: dict[str, _Series] = {}

    def _touch(self, part: str, value: Any) -> None:
        self.version += 1
        self._versions[part] = self.version
        self._parts[part] = value

    # --- setters for the engine -------------------------------------------------------
    def set_pnl(self, ts_ms: int, equity: float, realised: float, unrealised: float,
                fees: float = 0.0) -> None:
        """Account equity and PnL (quote currency); appends to the equity and PnL curves."""
        t = ts_ms // 1000
        self.equity.add(t, equity)
        self.pnl.add(t, realised + unrealised - fees)
        self._touch("summary", {"ts_ms": ts_ms, "equity": equity, "realised": realised,
                                "unrealised": unrealised, "fees": fees,
                                "pnl": realised + unrealised - fees})

    def set_positions(self, positions: list[dict[str, Any]]) -> None:
        """[{symbol, qty, avg_price, mark, unrealised}]"""
        self._touch("positions", positions)

    def set_orders(self, orders: list[dict[str, Any]]) -> None:
        """Open orders: [{id, symbol, side, type, price, qty, filled, status}]"""
        self._touch("orders", orders)

    def add_fill(self, fill: dict[str, Any]) -> None:
        """{ts_ms, symbol, side ("BUY"/"SELL"), price, qty, strategy?}; also marks the
        symbol's price chart."""
        self._fills.appendleft(fill)
        self._touch("fills", list(self._fills))
        marks = self._markers.setdefault(fill["symbol"], collections.deque(maxlen=500))
        marks.append({"time": fill["ts_ms"] // 1000, "side": fill["side"], "price": fill["price"]})
        self._touch("markers", {s: list(m) for s, m in self._markers.items()})

    def add_price(self, symbol: str, ts_ms: int, price: float) -> None:
        series = self.prices.get(symbol)
        if series is None:
            series = self.prices[symbol] = _Series()
            self.version += 1
        series.add(ts_ms // 1000, price)

    def set_health(self, health: dict[str, Any]) -> None:
        """{latency: {name: {p50,p99,p999,count}}, feeds: {name: status}, rate_limit: {...}, ...}"""
        self._touch("health", health)

    def set_risk(self, risk: dict[str, Any]) -> None:
        """{state: ACTIVE|REDUCING|HALTED, reason?, daily_loss_pct?, weekly_loss_pct?, deployed_pct?}"""
        self._touch("risk", risk)

    def add_alert(self, alert: dict[str, Any]) -> None:
        self._alerts.appendleft(alert)
        self._touch("alerts", list(self._alerts))

    def offer(self, alert) -> None:
        """Alert-router destination: recent alerts appear on the page."""
        self.add_alert(alert.as_dict())

    # --- for the server ----------------------------------------------------------------
    def delta(self, cursor: dict[str, Any]) -> dict[str, Any] | None:
        """Everything that changed since ``cursor`` (empty cursor: everything); updates the
        cursor in place. None when nothing changed."""
        msg: dict[str, Any] = {}
        seen = cursor.get("parts", {})
        for part, version in self._versions.items():
            if seen.get(part, 0) < version:
                msg[part] = self._parts[part]
                seen[part] = version
        cursor["parts"] = seen
        series_seen = cursor.setdefault("series", {})
        appended: dict[str, list] = {}
        named = {"equity": self.equity, "pnl": self.pnl, **{f"price:{s}": p for s, p in self.prices.items()}}
        for name, series in named.items():
            last = series_seen.get(name, 0)
            if series.seq > last:
                appended[name] = series.since(last)
                series_seen[name] = series.seq
        if appended:
            msg["series"] = appended
        if not cursor.get("sent_meta"):
            msg["meta"] = {"title": self.title, "mode": self.mode}
            cursor["sent_meta"] = True
        return msg or None

    def snapshot(self) -> dict[str, Any]:
        return self.delta({}) or {}
