"""Demo feeder for the dashboard: replays the bundled BTCUSDT recording (real Binance
bookTicker and trade messages) through a toy paper strategy (EMA cross with a protective
stop), so the dashboard, the alerts and the Telegram commands can be tried before the
engine is running. Prices and quantities stay fixed-point integers in the ledger; floats
appear only in what is displayed."""
from __future__ import annotations

import gzip
import pathlib
import time
from dataclasses import dataclass, field

import orjson
import trio

from pyengine import bundled
from pyengine.telemetry.alerts import Severity
from pyengine.telemetry.service import Telemetry

PX = 100            # BTCUSDT tickSize 0.01
QTY = 100_000       # stepSize 0.00001
FEE_BPS = 10        # 0.1 % taker fee
ORDER_LIMIT_10S = 100   # Binance: orders per 10 s per account


@dataclass(slots=True)
class Tick:
    recv_ns: int
    kind: str          # "book" or "trade"
    bid: int = 0
    ask: int = 0
    price: int = 0


def load_feed(path: pathlib.Path = bundled.BTCUSDT_FEED) -> list[Tick]:
    ticks = []
    with gzip.open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            rec = orjson.loads(line)
            msg = rec["msg"]
            if "stream" not in msg:      # REST depth snapshots between the stream frames
                continue
            data, stream = msg["data"], msg["stream"]
            if stream.endswith("@bookTicker"):
                ticks.append(Tick(rec["recv_ts_ns"], "book", bid=_fixed(data["b"]), ask=_fixed(data["a"])))
            elif stream.endswith("@trade"):
                ticks.append(Tick(rec["recv_ts_ns"], "trade", price=_fixed(data["p"])))
    if not ticks:
        raise ValueError(f"no bookTicker or trade messages in {path}")
    return ticks


def _fixed(text: str) -> int:
    whole, _, frac = text.partition(".")
    frac = (frac + "00")[:2]
    return int(whole) * PX + int(frac)


@dataclass
class DemoEngine:
    """A paper ledger and a toy strategy; implements the ``Controls`` protocol."""
    tel: Telemetry
    symbol: str = "BTCUSDT"
    cash: int = 10_000 * PX * QTY          # quote, scaled PX*QTY
    qty: int = 0                           # base, scaled QTY
    cost: int = 0                          # quote spent on the open position, scaled PX*QTY
    realised: int = 0
    fees: int = 0
    halted: bool = False
    halt_reason: str = ""
    bid: int = 0
    ask: int = 0
    fast: float = 0.0
    slow: float = 0.0
    stop: int = 0
    order_times: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    start_equity: int = 10_000 * PX * QTY
    order_seq: int = 0
    last_ts_ms: int = 0                    # feed time of the last tick: the charts' clock

    # --- Controls ----------------------------------------------------------------------
    def status(self) -> dict:
        return {"mode": "demo (replay of the bundled BTCUSDT feed)", "symbol": self.symbol,
                "uptime_s": int(time.monotonic() - self.started), "halted": self.halted}

    def positions(self) -> list[dict]:
        if not self.qty:
            return []
        mark = (self.bid + self.ask) / 2 / PX
        avg = self.cost / self.qty / PX
        return [{"symbol": self.symbol, "qty": self.qty / QTY, "avg_price": round(avg, 2),
                 "mark": mark, "unrealised": round((mark - avg) * self.qty / QTY, 2)}]

    def pnl(self) -> dict:
        unreal = self._unrealised()
        return {"equity": self._equity() / (PX * QTY), "realised": self.realised / (PX * QTY),
                "unrealised": unreal / (PX * QTY), "fees": self.fees / (PX * QTY)}

    def orders(self) -> list[dict]:
        if not (self.qty and self.stop):
            return []
        return [{"id": f"demo-stop-{self.order_seq}", "symbol": self.symbol, "side": "SELL",
                 "type": "STOP_LOSS", "price": self.stop / PX, "qty": self.qty / QTY, "filled": 0.0,
                 "status": "NEW"}]

    def risk(self) -> dict:
        equity = self._equity()
        loss = max(0, self.start_equity - equity)
        deployed = self.qty * (self.bid + self.ask) // 2
        return {"state": "HALTED" if self.halted else "ACTIVE", "reason": self.halt_reason,
                "daily_loss_pct": round(100 * loss / self.start_equity, 3),
                "daily_budget_used_pct": round(100 * loss / self.start_equity / 3 * 100, 1),
                "deployed_pct": round(100 * deployed / equity, 2) if equity else 0.0}

    def halt(self, reason: str) -> str:
        self.halted, self.halt_reason = True, reason
        self.stop = 0            # kill switch: cancel the resting stop, no new entries
        self.tel.alert("risk:state", Severity.CRITICAL, "Trading HALTED", reason)
        self.publish_state(self.last_ts_ms)
        return f"halted: {reason}"

    def resume(self) -> str:
        if not self.halted:
            return "not halted"
        self.halted, self.halt_reason = False, ""
        self.tel.alert("risk:state", Severity.WARNING, "Trading resumed (ACTIVE)", "operator action")
        self.publish_state(self.last_ts_ms)
        return "resumed"

    # --- ledger ------------------------------------------------------------------------
    def _unrealised(self) -> int:
        return self.qty * self.bid - self.cost if self.qty else 0

    def _equity(self) -> int:
        return self.cash + self.qty * self.bid

    def _fill(self, side: str, price: int, qty: int, ts_ms: int) -> None:
        notional = price * qty
        fee = notional * FEE_BPS // 10_000
        self.fees += fee
        if side == "BUY":
            self.cash -= notional + fee
            self.qty += qty
            self.cost += notional
        else:
            avg_cost = self.cost * qty // self.qty
            self.realised += notional - avg_cost
            self.cash += notional - fee
            self.qty -= qty
            self.cost -= avg_cost
        self.realised -= fee
        self.order_seq += 1
        self.order_times.append(time.monotonic())
        self.tel.counter("fills", symbol=self.symbol, side=side).inc()
        self.tel.event("fill", {"price": price / PX, "qty": qty / QTY}, symbol=self.symbol, side=side)
        self.tel.dashboard.add_fill({"ts_ms": ts_ms, "symbol": self.symbol, "side": side,
                                     "price": price / PX, "qty": qty / QTY, "strategy": "demo-ema"})

    def on_tick(self, t: Tick, ts_ms: int) -> None:
        self.last_ts_ms = ts_ms
        if t.kind == "book":
            self.bid, self.ask = t.bid, t.ask
            self.tel.dashboard.add_price(self.symbol, ts_ms, (t.bid + t.ask) / 2 / PX)
            return
        if not self.bid:
            return
        p = float(t.price)
        self.fast = p if not self.fast else self.fast + (p - self.fast) * 0.05
        self.slow = p if not self.slow else self.slow + (p - self.slow) * 0.01
        if self.qty and self.stop and self.bid <= self.stop:
            self._fill("SELL", self.bid, self.qty, ts_ms)
            self.stop = 0
            self.tel.counter("stops_hit", symbol=self.symbol).inc()
        elif self.qty and self.fast < self.slow * 0.9999:
            self._fill("SELL", self.bid, self.qty, ts_ms)
            self.stop = 0
        elif not self.qty and not self.halted and self.fast > self.slow * 1.0001:
            size = 5 * self._equity() // 100 // self.ask      # 5 % of equity
            if size > 0:
                self._fill("BUY", self.ask, size, ts_ms)
                self.stop = self.ask * 997 // 1000

    def publish_state(self, ts_ms: int) -> None:
        pnl = self.pnl()
        self.tel.dashboard.set_pnl(ts_ms, pnl["equity"], pnl["realised"], pnl["unrealised"])
        self.tel.dashboard.set_positions(self.positions())
        self.tel.dashboard.set_orders(self.orders())
        risk = self.risk()
        self.tel.dashboard.set_risk(risk)
        self.tel.gauge("equity").set(pnl["equity"])
        self.tel.gauge("risk_daily_loss_used_pct").set(risk["daily_budget_used_pct"])
        now = time.monotonic()
        self.order_times = [t for t in self.order_times if now - t < 10]
        self.tel.gauge("rate_limit_headroom", limit="orders_10s").set(
            100.0 * (ORDER_LIMIT_10S - len(self.order_times)) / ORDER_LIMIT_10S)


async def run_demo(tel: Telemetry, engine: DemoEngine, ticks: list[Tick], speed: float,
                   loops: int | None = None) -> None:
    """Replay ``ticks`` at ``speed`` x real time, over and over (or ``loops`` times).
    Chart time continues across loops so the curves stay monotonic."""
    hist = tel.histogram("demo_tick_to_decision")
    messages = tel.counter("feed_messages", feed="btcusdt")
    tel.gauge("feed_up", feed="btcusdt").set(1)
    span_ns = ticks[-1].recv_ns - ticks[0].recv_ns + 1_000_000_000
    loop = 0
    while loops is None or loop < loops:
        offset_ns = loop * span_ns
        t0_feed = ticks[0].recv_ns
        t0 = time.monotonic_ns()
        last_publish = 0
        i = 0
        while i < len(ticks):
            due = t0 + int((ticks[i].recv_ns - t0_feed) / speed)
            now = time.monotonic_ns()
            if due > now:
                await trio.sleep((due - now) / 1e9)
            # everything that is due goes in one batch, then the loop yields again
            now = time.monotonic_ns()
            while i < len(ticks) and t0 + (ticks[i].recv_ns - t0_feed) / speed <= now:
                t = ticks[i]
                start = time.perf_counter_ns()
                ts_ms = (t.recv_ns + offset_ns) // 1_000_000
                engine.on_tick(t, ts_ms)
                hist.record(time.perf_counter_ns() - start)
                messages.inc()
                i += 1
            if now - last_publish > 200_000_000:
                engine.publish_state(ts_ms)
                last_publish = now
        loop += 1
        tel.alert("demo:loop", Severity.INFO, "Demo replay restarted", f"loop {loop} of the bundled feed done")
