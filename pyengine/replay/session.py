"""One replay: the engine's own decision path, assembled without the network.

What a live session runs on every closed bar is reused as is: ``StrategyRunner`` (bar -> VM
step -> decisions), ``Execution.decide`` / ``submit`` (client order id, sizing from the C
book, the risk gate reading the C book, the write-ahead journaled intent), ``Execution``'s
sender step (``send``: the venue's answer applied to the state) and ``UserData`` (execution
reports -> state, PnL, risk). Only the venue differs: the simulator's matching engine in
this process (``SimVenue``) instead of the WebSocket API, and every clock they are given is
the recording's.

The caller feeds the session closed bars (``on_trade_bar`` from the C feed's 1 s bars,
``on_base_bar`` / ``on_bar`` from kline ledgers or the kline stream), REST snapshots
(``book_synced``) and sets ``clock.now_ns`` to the receive time of the line being processed.
Every decision becomes one record of the decision log (``records``), in the order made.

Marks: the live engine marks positions (and checks engine-side stops) on trades at most every
200 ms. The replay wakes Python only when a bar closes, so the market "ticks" once per second
of trading (each 1 s bar with trades, whatever the strategies' intervals): the risk clock
runs, and positions are marked with the bar's close, first with its low when the low reached
the stop of a held position: a stop the price touched inside the second is still hit, and
sold at the book of the second's end.

Exit legs (``strategy.exit`` stops, take-profits, trailing stops: ``engine/exits.py``) are
checked on the very trades the live engine checks: the C parser flags those that leave the
legs' price band, the C loop stops on them (and on bar closes) and ``on_trade`` runs the same
``ExitLegs.on_trade``; their orders have ids derived from the trade's time, as live.
"""
from __future__ import annotations

import dataclasses
import pathlib
from decimal import Decimal
from typing import Any

from pyengine.engine import EngineOptions
from pyengine.engine.execution import RISK_STRATEGY, Execution, Pending
from pyengine.engine.exits import ExitLegs
from pyengine.engine.strategies import Decision, StrategyRunner, StrategySpec
from pyengine.engine.userdata import UserData
from pyengine.ids import client_order_id, decision_seq, parse_client_order_id, strategy_tags
from pyengine.journal import Journal
from pyengine.book import Feed
from pyengine.ledger import Bar, interval_ms
from pyengine.replay.bars import BASE, TradeSeries
from pyengine.replay.clock import ReplayClock
from pyengine.replay.venue import SimVenue
from pyengine.state import Portfolio, StateManager, symbol_assets_from_exchange_info
from risk import MemoryRiskStore, RiskConfig, RiskManager, load_exchange_info

PAPER_BALANCES = {"USDT": "10000"}
_S8 = Decimal("1e-8")


@dataclasses.dataclass
class SessionConfig:
    strategies: list[StrategySpec]
    namespace: str = "pyengine"                 # of the client order ids (config engine.id)
    risk: RiskConfig = dataclasses.field(default_factory=RiskConfig)
    balances: dict[str, str] = dataclasses.field(default_factory=lambda: dict(PAPER_BALANCES))
    alloc_pct: Decimal = Decimal("15")
    stale_ms: int = EngineOptions.stale_ms      # no decision on a book unchanged this long


class ReplaySession:
    def __init__(self, cfg: SessionConfig, symbols: list[str], out: pathlib.Path, start_ns: int):
        self.cfg = cfg
        self.namespace = ns = cfg.namespace
        self.clock = clock = ReplayClock(start_ns)
        self.venue = venue = SimVenue(symbols, cfg.balances, clock)
        self.feed = venue.feed
        self.specs = {s: venue.rules[s].spec for s in symbols}
        self.price_div = {s: 10.0 ** sp.price_scale for s, sp in self.specs.items()}
        self.qty_div = {s: 10.0 ** sp.qty_scale for s, sp in self.specs.items()}
        self.journal = Journal(out / "journal.sqlite")
        tags = strategy_tags([(s.id, s.symbols) for s in cfg.strategies]
                             + [(RISK_STRATEGY, symbols)], ns)
        self.state = StateManager(Portfolio(symbol_assets_from_exchange_info(venue.info)),
                                  self.journal, tags)
        for asset, (free, locked) in venue.balances().items():
            self.state.apply_balance(asset, free * _S8, locked * _S8, start_ns // 1_000_000,
                                     "replay")
        limits = dataclasses.replace(cfg.risk, symbols=tuple(s for s in cfg.risk.symbols
                                                             if s in symbols))
        self.risk = RiskManager(limits, load_exchange_info(venue.info), MemoryRiskStore(),
                                wall_ns=start_ns, initial_cash=Decimal(cfg.balances.get("USDT", "0")),
                                quote_asset="USDT", on_event=self._risk_event)
        self.book_updated_ns: dict[str, int] = {}     # when each book last changed
        self._book_ids: dict[str, int] = {}
        self._stale_ns = cfg.stale_ms * 1_000_000
        books = {s: self.feed.book(s) for s in symbols}
        self.execution = Execution(venue, self.state, self.risk, books, self.specs,
                                   namespace=ns, book_updated_ns=self.book_updated_ns,
                                   alloc_pct=cfg.alloc_pct, on_event=self._exec_event,
                                   clock=clock.monotonic_ns, wall_clock=clock.time_ns)
        self.runner = StrategyRunner(cfg.strategies, self._tick_step, self._decide,
                                     self._is_fresh, clock.monotonic_ns, clock.monotonic_ns)
        self.runner.log = self._log_unacted
        self.userdata = UserData(venue, self.state, self.risk, self.specs,
                                 on_actions=self._on_actions, wall_clock=clock.time_ns,
                                 on_fill=lambda f: self.runner.sync_positions(
                                     self.state.portfolio, self.execution.min_notional))
        venue.on_events = self._on_user_events
        self.exits = ExitLegs(self.specs, self._exit_leg, journal=self.journal.append,
                              band=self.feed.set_exit_band)
        self.runner.exits = self.exits

        self.series: dict[str, list[TradeSeries]] = {}      # bars built from trades
        self.kline_intervals: dict[str, set[str]] = {}       # bars from the kline stream
        for sym, interval, source in self.runner.series():
            if source == "trades":
                self.series.setdefault(sym, []).append(
                    TradeSeries(sym, interval, self.runner.on_bar))
            else:
                self.kline_intervals.setdefault(sym, set()).add(interval)
        self.c_vms: dict[str, list] = {}                    # VMs the C feed runs (attach_vms)
        self.strategy_series = {(s, i) for s, i, _ in self.runner.series()}
        # the bars that tick the market (marks, stops, risk clock): 1 s bars from trades, or
        # the smallest kline interval of a symbol traded on klines only
        self.tick_interval = {s: BASE if s in self.series else min(iv, key=interval_ms)
                              for s, iv in self.kline_intervals.items()}
        self.tick_interval.update({s: BASE for s in self.series})

        self.records: list[dict[str, Any]] = []
        self.ticks = 0                  # market ticks (marks): 1 s bars with trades
        self._fills: dict[str, list[dict[str, str]]] = {}
        self._risk_msgs: dict[str, tuple[str, str]] = {}
        self._errors: dict[str, str] = {}
        self._exit_reason: dict[str, str] = {}
        self._leg_reason: dict[str, str] = {}       # exit-leg order id -> STOP | TAKE_PROFIT | TRAIL
        self._bar_open: dict[str, int] = {}
        self._tick_of: dict[str, tuple] = {}

    # ------------------------------------------------------------ market events

    @property
    def bars(self) -> int:
        """Bars the strategies stepped through (per series, not per strategy)."""
        return sum(insts[0].bars for insts in self.runner.instances.values())

    def book_synced(self, symbol: str) -> None:
        self.book_updated_ns[symbol] = self.clock.now_ns

    def attach_vms(self, feed: Feed) -> None:
        """Let ``feed`` run the VMs of the strategies on 1 s bars built from trades (the
        bars it builds) itself, for each symbol whose strategies all run on those bars."""
        for sym, series in self.series.items():
            if all(s.interval == BASE for s in series):
                self.c_vms[sym] = insts = self.runner.instances[(sym, BASE)]
                for inst in insts:
                    feed.add_vm(sym, inst.vm.ptr)
                self.series[sym] = []

    def on_trade_bar(self, symbol: str, base: Bar, next_trade_ms: int, vm_bars: int = 0,
                     vm_act: bool = False) -> None:
        """A 1 s bar closed by the C feed (its closing trade at ``next_trade_ms``): the market
        ticks, then the strategies' bars built from trades close as the ledger closes them.
        ``vm_bars``: the bars the feed ran the symbol's VMs over itself (``attach_vms``),
        the base bar and the flat bars after it; ``vm_act``: their intents need acting on."""
        self._tick(symbol, base)
        if vm_bars:
            bars = None
            if vm_act:
                c, step = base.close, interval_ms(BASE)
                bars = [base] + [Bar(t, t + step - 1, c, c, c, c) for t in
                                 range(base.open_time + step, base.open_time + vm_bars * step, step)]
            self.runner.on_stepped(symbol, BASE, vm_bars, bars)
        for s in self.series[symbol]:
            s.add(base, next_trade_ms)

    def on_trade(self, symbol: str, price: int, time_ms: int, exit_hit: bool) -> None:
        """Every trade, after the bar it closed (if any): as the live MarketHub, the exit
        legs see it when the parser flagged it or that bar changed the legs."""
        if exit_hit or symbol in self.exits.pending:
            self.exits.on_trade(symbol, price, time_ms, self.clock.now_ns)

    def _exit_leg(self, strategy: str, symbol: str, reason: str, trade_ms: int,
                  frame_ns: int) -> None:
        if self.execution.exit_leg(strategy, symbol, reason, trade_ms, frame_ns):
            self._drain(None)

    def vm_error(self, symbol: str, index: int, code: int) -> Exception:
        """The error of the ``index``-th VM ``attach_vms`` gave the feed for ``symbol``."""
        return self.c_vms[symbol][index].vm.runtime_error(code)

    def on_base_bar(self, symbol: str, interval: str, bar: Bar) -> None:
        """A closed 1 s bar from a kline ledger (the per-frame loop): the market ticks."""
        if bar.trades:
            self._tick(symbol, bar)

    def on_bar(self, symbol: str, interval: str, bar: Bar) -> None:
        """A strategy's closed bar from the live kline ledger or the kline stream."""
        if symbol not in self.series and interval == self.tick_interval.get(symbol):
            self._tick(symbol, bar)
        if (symbol, interval) in self.strategy_series:
            self.runner.on_bar(symbol, interval, bar)

    def _tick(self, symbol: str, bar: Bar) -> None:
        now = self.clock.now_ns
        self.ticks += 1
        book, i, position, ps = self._tick_of.get(symbol) or self._tick_ctx(symbol)
        # the diffs were applied in C: the book changed since the last tick if its id moved
        book_id = book.last_update_id
        if self._book_ids.get(symbol) != book_id:
            self._book_ids[symbol] = book_id
            self.book_updated_ns[symbol] = now
        self._bar_open[symbol] = bar.open_time
        rm = self.risk
        rm.on_clock(now)
        scale = 10 ** ps
        close = round(bar.close * scale)
        self.state.portfolio.mark(symbol, Decimal(close).scaleb(-ps))
        low, stop = round(bar.low * scale), position.stop_px
        # the bar's low first when it reached the stop of a held position
        for px in ((low, close) if 0 < low <= stop else (close,)):
            actions = rm.on_mark(i, px, now)
            if actions:
                self._on_actions(actions)
                self._drain(None)

    def _tick_ctx(self, symbol: str) -> tuple:
        """What a market tick of ``symbol`` reads: its book, risk index and risk position
        view, and price scale (looked up once)."""
        i = self.risk.index(symbol)
        ctx = self._tick_of[symbol] = (self.feed.book(symbol), i, self.risk.native.sym[i],
                                       self.specs[symbol].price_scale)
        return ctx

    def close(self) -> None:
        self.risk.flush_events()
        self.journal.close()

    # ------------------------------------------------------------ decisions

    def _tick_step(self, sym: str) -> tuple[float, float]:
        spec = self.specs[sym]
        return float(spec.tick_size), float(spec.step_size)

    def _is_fresh(self, symbol: str) -> bool:
        """As the live engine's MarketHub: in sync and changed within ``stale_ms``."""
        return (self.feed.book(symbol).synced
                and self.clock.now_ns - self.book_updated_ns.get(symbol, 0) <= self._stale_ns)

    def _coid(self, d: Decision) -> str:
        return client_order_id(d.strategy_id, d.symbol, decision_seq(d.bar_open_ms, d.rank), 0,
                               self.namespace)

    def _log_unacted(self, d: Decision, fresh: bool) -> None:
        if not fresh:
            book = self._book_state(d.symbol)
            self.records.append(self._record(d.bar_open_ms, d.strategy_id, d.symbol, d.kind,
                                             d.rank, self._coid(d), d.close, d.stop, book,
                                             ("skipped", f"BOOK_{book.upper()}")))

    def _book_state(self, symbol: str) -> str:
        if not self.feed.book(symbol).synced:
            return "out_of_sync"
        return "synced" if self._is_fresh(symbol) else "stale"

    def _decide(self, d: Decision) -> None:
        ex = self.execution
        refused, busy, duplicate = dict(ex.refused), ex.counts["busy"], ex.counts["duplicate"]
        ex.decide(d)
        self.risk.flush_events()
        coid = self._coid(d)
        if self._drain(d, coid):
            return
        new_refusal = [k for k, n in ex.refused.items() if n != refused.get(k, 0)]
        if new_refusal:
            verdict = ("refused", min(new_refusal))
        elif ex.counts["busy"] > busy:
            verdict = ("skipped", "ORDER_OPEN")
        elif ex.counts["duplicate"] > duplicate:
            verdict = ("skipped", "DUPLICATE")
        else:
            verdict = ("skipped", "IN_POSITION" if d.kind == "entry" else "NO_POSITION")
        self.records.append(self._record(d.bar_open_ms, d.strategy_id, d.symbol, d.kind, d.rank,
                                         coid, d.close, d.stop, "synced", verdict))

    def _on_actions(self, actions: list) -> None:
        for a in actions:
            if a.kind == "exit":
                self._exit_reason[a.symbol] = a.reason
        self.execution.on_actions(actions)

    def _drain(self, d: Decision | None, coid: str = "") -> bool:
        """Send what execution queued, as the live sender task would; True when the order
        of decision ``d`` (id ``coid``) was among it."""
        found = False
        while queued := self.execution.take_queued():   # a fill may queue a protective exit
            for p in queued:
                _run_sync(self.execution.send(p))
                if isinstance(p, Pending):      # a cancel has no decision of its own
                    found |= d is not None and p.coid == coid
                    self.records.append(self._sent_record(p.coid, d if p.coid == coid else None))
        return found

    def _sent_record(self, coid: str, d: Decision | None) -> dict[str, Any]:
        """The record of a sent order: decision ``d``'s, or a protective exit's."""
        order = self.state.orders[coid]
        if d is not None:
            rec = self._record(d.bar_open_ms, d.strategy_id, d.symbol, d.kind, d.rank, coid,
                               d.close, d.stop, "synced", ("accepted", ""))
        elif coid in self._leg_reason:
            parsed = parse_client_order_id(coid)
            rec = self._record(self._bar_open.get(order.symbol, 0), order.strategy_id,
                               order.symbol, "exit_leg", parsed.seq % 1000, coid, None, None,
                               self._book_state(order.symbol),
                               ("accepted", self._leg_reason.pop(coid)))
        else:
            parsed = parse_client_order_id(coid)
            rec = self._record(self._bar_open.get(order.symbol, 0), order.strategy_id,
                               order.symbol, "protective_exit", parsed.seq % 1000 if parsed else 0,
                               coid, None, None, self._book_state(order.symbol),
                               ("accepted", self._exit_reason.get(order.symbol, "")))
        rec["order"] = {"side": order.side, "type": order.type, "qty": str(order.qty)}
        rec["status"] = order.status.value
        rec["fills"] = self._fills.pop(coid, [])
        if coid in self._errors:
            rec["error"] = self._errors.pop(coid)
        return rec

    def _record(self, bar: int, strategy: str, symbol: str, kind: str, rank: int, coid: str,
                close: float | None, stop: float | None, book: str,
                verdict: tuple[str, str]) -> dict[str, Any]:
        risk: dict[str, str] = {"verdict": verdict[0], "reason": verdict[1]}
        msg = self._risk_msgs.pop(coid, None)
        if msg is not None:
            risk["message"] = msg[1]
        return {"t_ns": self.clock.now_ns, "bar": bar, "strategy": strategy, "symbol": symbol,
                "kind": kind, "rank": rank, "close": close, "stop": stop,
                "book": book, "risk": risk,
                "client_order_id": coid, "order": None, "status": None, "fills": []}

    # ------------------------------------------------------------ venue and risk events

    def _on_user_events(self, events: list[dict]) -> None:
        for ev in events:       # as UserData.run dispatches the user-data stream
            if ev.get("e") == "executionReport":
                if ev.get("x") == "TRADE":
                    self._fills.setdefault(ev["c"], []).append(
                        {"price": ev["L"], "qty": ev["l"], "commission": ev["n"],
                         "asset": ev["N"], "trade_id": ev["t"], "time_ms": ev["T"]})
                self.userdata.on_execution_report(ev)
            else:
                self.state.on_user_event(ev)

    def _exec_event(self, kind: str, data: dict) -> None:
        if kind == "exit_leg":
            self._leg_reason[data["client_order_id"]] = data["reason"]
        if kind == "order_rejected":
            self._errors[data["client_order_id"]] = data["error"]
        self.journal.append("note", {"event": kind, **data})

    def _risk_event(self, ev) -> None:
        if ev.kind == "refusal" and ev.data.get("order_id"):
            self._risk_msgs[ev.data["order_id"]] = (ev.code, ev.message)
        self.journal.append("risk", {"kind": ev.kind, "code": ev.code, "message": ev.message,
                                     "state": ev.state}, symbol=ev.symbol)


def _run_sync(coro) -> Any:
    """Run a coroutine that never suspends (the in-process venue answers at once)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the replay venue suspended: it must answer synchronously")
