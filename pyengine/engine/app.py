"""The engine: one root nursery (``pyengine.supervisor.Root``) with one supervisor per concern.

Start-up order (nothing is sent before the last step):

1. open the journal (one writer) and the connector (clock sync, exchangeInfo, WS API logon,
   user-data subscription);
2. recover: replay the journal and reconcile with the exchange (open orders, trades since
   the last journaled trade id, balances), then bring the risk manager to the exchange's
   balances (its day/week loss anchors survive restarts) and the strategies' exit legs
   (``engine/exits.py``: armed trailing legs with their water marks) to the journal's;
3. warm the kline ledger up from REST klines within ``ledger.warmup_weight_per_minute``
   (``KlineLedger.warm_up``), then step the strategies' VMs through the ledger's bars and
   give them the recovered positions: after this, history comes from the streams only;
4. run the supervisors: market data (combined stream, C books, bars), user data,
   execution (sender, unknown-status resolver), strategies (bar clock, symbol selection:
   ``engine/active.py``), risk clock, journal flusher, telemetry
   (metrics sinks, dashboard, alert bridge), status (terminal, dashboard state, sd_notify
   watchdog) and, in paper mode, the end-of-data watch.

Shutdown (signal, end of data, kill switch, escalation): ``STOPPING=1``, cancel every open
order inside the supervisor's shielded scope with a deadline, flush the journal, exit 0
(1 after an escalation). A second signal exits at once.
"""
from __future__ import annotations

import dataclasses
import gc
import logging
import time
from decimal import Decimal
from typing import Any, Awaitable, Callable, Iterable

import trio

from pyengine import sdnotify
from pyengine.config import EXCHANGE_STOPS_REFUSED, Config
from pyengine.errors import UserError
from pyengine.engine.active import ActiveSymbols
from pyengine.engine.execution import RISK_STRATEGY, Execution
from pyengine.engine.exits import ExitLegs
from pyengine.engine.marketdata import MarketHub, TimedMarketData
from pyengine.scaleout.feed import StreamMarketData
from pyengine.engine.status import EngineControls, print_status
from pyengine.engine.strategies import StrategyRunner, StrategySpec
from pyengine.engine.userdata import UserData
from pyengine.ids import strategy_tags
from pyengine.journal import Journal
from pyengine.ledger import KlineLedger, WeightBudget
from pyengine.state import (Portfolio, reconcile, recover, resolve_unknown,
                            symbol_assets_from_exchange_info)
from pyengine.supervisor import Child, RestartPolicy, Root, Supervisor
from pyengine.telemetry import Severity, Telemetry
from pyengine.venue.binance import BinanceError, RateLimited, open_client
from risk import RiskManager, SqliteRiskStore, load_exchange_info

log = logging.getLogger("pyengine.engine")


@dataclasses.dataclass
class EngineOptions:
    mode: str = "paper"                       # shown in the status: paper | testnet | production
    status_every_s: float = 1.0               # terminal status period (0: off)
    alloc_pct: Decimal = Decimal("15")        # entry size asked of the risk gate (% of equity)
    end_grace_s: float = 2.0                  # after the data ends, let the last orders settle
    stale_ms: int = 5000
    policy: RestartPolicy = RestartPolicy()
    handle_signals: bool = True
    shutdown_deadline_s: float = 10.0
    out: Callable[[str], None] = print
    # market data from the collectors' Redis Streams (``pyengine collect``) instead of the
    # venue's market streams: redis:// or rediss:// URL, key prefix, AUTH password
    feed: str | None = None
    feed_prefix: str = "pe"
    feed_password: str | None = None


class Engine:
    def __init__(self, cfg: Config, endpoints: Any, signer: Any, strategies: Iterable[StrategySpec],
                 symbols: Iterable[str], *, options: EngineOptions | None = None,
                 data_done: Callable[[], Awaitable[None]] | None = None,
                 progress: Callable[[], float | None] = lambda: None,
                 extra_supervisors: Iterable[Supervisor] = (),
                 telemetry: Telemetry | None = None,
                 on_tick: Callable | None = None,
                 decision_log: Callable | None = None):
        self.cfg = cfg
        self.endpoints, self.signer = endpoints, signer
        self.specs_cfg = list(strategies)
        self.symbols = list(symbols)
        self.opt = options or EngineOptions()
        self.mode = self.opt.mode
        self.data_done = data_done
        self._progress = progress
        self.extra_supervisors = list(extra_supervisors)
        self.tel = telemetry or Telemetry(cfg.telemetry)
        self.on_tick = on_tick
        self.decision_log = decision_log      # (Decision, acted) for every strategy decision
        self.root: Root | None = None
        self.md: TimedMarketData | StreamMarketData | None = None
        self.dashboard_url: str | None = None
        self.recovery_report = None
        self.ready = trio.Event()
        self.stop_reason = ""
        self._active_before: set[str] = set()

    def progress(self) -> float | None:
        return self._progress()

    # ------------------------------------------------------------ run

    async def run(self) -> int:
        cfg = self.cfg
        self.journal = journal = Journal(cfg.journal.path, synchronous=cfg.journal.synchronous)
        try:
            while True:
                retry_at = None
                try:
                    async with open_client(self.endpoints, self.signer, user_data=True,
                                           symbols=cfg.universe.symbols,
                                           recv_window=cfg.venue.recv_window_ms) as client:
                        self.client = client
                        await self._start(client)
                        return await self._supervise()
                except* RateLimited as group:
                    # start-up needs request weight (exchangeInfo, account, trades, klines):
                    # after many quick restarts the minute's budget may be spent; wait for it
                    retry_at = max(e.retry_at for e in _leaves(group))
                wait = max(0.0, retry_at - trio.current_time())
                log.warning("start-up rate limited: starting again in %.1f s", wait)
                self.opt.out(f"pyengine: start-up rate limited, starting again in {wait:.1f} s")
                await trio.sleep(wait)
        finally:
            gc.unfreeze()        # the next engine in this process freezes its own start-up
            journal.close()

    async def _start(self, client) -> None:
        cfg, tel = self.cfg, self.tel
        outside = [s for s in self.symbols if s not in cfg.universe.symbols]
        if outside:
            raise UserError(f"strategies trade {', '.join(outside)}, outside universe.symbols "
                            f"({', '.join(cfg.universe.symbols)}): the engine never trades there")
        info = await client.rest.exchange_info(cfg.universe.symbols)
        self.specs = {s: client.rules[s].spec for s in self.symbols}
        self.active = ActiveSymbols(cfg, self.symbols, info, on_change=self._selection_changed)
        ns = cfg.engine.id
        tags = strategy_tags([(s.id, s.symbols) for s in self.specs_cfg]
                             + [(RISK_STRATEGY, self.symbols)], ns)
        self.state, self.recovery_report = await recover(
            self.journal, Portfolio(symbol_assets_from_exchange_info(info)), client,
            self.symbols, strategy_tags=tags)
        for line in self.recovery_report.lines():
            log.info("recovery: %s", line)
        self.risk = await self._risk(client, info)
        self.ledger = KlineLedger(capacity=cfg.ledger.capacity)
        self.hub = MarketHub(self.specs, self.ledger, stale_ns=self.opt.stale_ms * 1_000_000,
                             on_mark=self._on_mark, on_tick=self.on_tick)
        self.execution = Execution(client, self.state, self.risk,
                                   books={}, specs=self.specs, namespace=ns,
                                   book_updated_ns=self.hub.book_updated_ns,
                                   alloc_pct=self.opt.alloc_pct, histogram=tel.histogram,
                                   on_event=self._event)
        self.runner = StrategyRunner(self.specs_cfg, self._tick_step, self._decide,
                                     self.hub.is_fresh, self.hub.frame_ns)
        self.runner.log = self.decision_log
        self.userdata = UserData(client, self.state, self.risk, self.specs,
                                 on_actions=self.execution.on_actions, on_fill=self._on_fill)
        streams = set()
        for sym, interval, source in self.runner.series():
            self.ledger.track(sym, interval, source)
            if source == "kline":
                streams.add((sym, f"kline_{interval}"))
        extra = ["trade"] + sorted({s for _, s in streams}
                                   | set(self.active.track(self.ledger, self.runner.series())))
        if self.opt.feed:
            self.md = StreamMarketData(self.opt.feed, client.rest,
                                       [self.specs[s] for s in self.symbols], extra_streams=extra,
                                       on_message=self.hub.on_message, prefix=self.opt.feed_prefix,
                                       password=self.opt.feed_password)
        else:
            self.md = TimedMarketData(client.rest.endpoints, client.rest,
                                      [self.specs[s] for s in self.symbols], extra_streams=extra,
                                      on_message=self.hub.on_message)
        self.hub.md = self.md
        self.execution.books = {s: self.md.book(s) for s in self.symbols}
        self.exits = ExitLegs(self.specs, self.execution.exit_leg, journal=self.journal.append,
                              band=self.md.feed.set_exit_band)
        restored = self.exits.restore(r.data for r in self.journal.records(kinds=["exit"]))
        if restored:
            log.info("recovery: %d strategy.exit legs restored from the journal", restored)
        self.runner.exits = self.hub.exits = self.exits
        await self._warm_up(client)
        self.ledger.on_close = self.runner.on_bar
        self.controls = EngineControls(self)

    async def _risk(self, client, info: dict) -> RiskManager:
        cfg = self.cfg
        if cfg.risk.stop_mode != "engine":         # a configuration built in code
            raise UserError(f"risk.stop_mode: {EXCHANGE_STOPS_REFUSED}")
        wall = time.time_ns()
        quote = "USDT"
        usdt = self.state.balances.get(quote)
        cash = usdt.total if usdt is not None else Decimal(0)
        store = SqliteRiskStore(str(cfg.journal.path) + "-risk.sqlite")
        # the risk allow-list never reaches outside the universe
        limits = dataclasses.replace(cfg.risk, symbols=tuple(
            s for s in cfg.risk.symbols if s in cfg.universe.symbols))
        rm = RiskManager(limits, load_exchange_info(info), store, wall_ns=wall,
                         initial_cash=cash, quote_asset=quote, on_event=self._risk_event)
        open_ids = {o.client_order_id for o in self.state.open_orders()}
        for oid in list(rm.open_orders()):
            if oid not in open_ids:
                rm.on_order_done(oid)
        positions = {}
        for sym in self.symbols:
            spec = client.rules[sym].spec
            bal = self.state.balances.get(spec.base_asset)
            qty = int(bal.total.scaleb(spec.qty_scale)) if bal is not None else 0
            try:
                px = (await client.rest.request("GET", "/api/v3/ticker/price", {"symbol": sym}))["price"]
                mark = spec.price_to_int(Decimal(px).normalize())
            except (BinanceError, ValueError, KeyError):
                mark = 0
            if mark > 0:
                positions[sym] = (qty, mark)
                self.state.portfolio.mark(sym, Decimal(px))
        rm.reconcile(cash, positions, wall)
        return rm

    async def _warm_up(self, client) -> None:
        """Backfill the ledger (every series: the strategies' and the selection's) from REST
        within the warm-up weight budget, then step the VMs through the ledger's bars only
        (without acting) and give them the positions recovery found."""
        led = self.cfg.ledger
        bars = max(led.warmup_bars, self.cfg.selection.volatility_bars + 1
                   if self.active.uses_volatility else 0)
        self.warmup_budget = WeightBudget(per_minute=led.warmup_weight_per_minute)
        added = await self.ledger.warm_up(self._fetch_klines, self.warmup_budget, bars,
                                          now_ms=client.rest.clock.now_ms())
        for (sym, interval), n in added.items():
            log.info("warm-up: %s %s: %d bars", sym, interval, n)
        for sym, interval, _ in self.runner.series():
            self.runner.warm(sym, interval, list(self.ledger.series(sym, interval).bars))
        self._sync_vm_positions()

    async def _fetch_klines(self, symbol: str, interval: str, start: int | None,
                            end: int | None, limit: int) -> list:
        return await self.client.rest.request("GET", "/api/v3/klines", {
            "symbol": symbol, "interval": interval, "startTime": start, "endTime": end,
            "limit": limit})

    async def _repair_ledger(self) -> None:
        """Bars the stream lost (a reconnect) are fetched before the strategies see the bar
        after them; the refilled bars only warm the VMs, the newest one is acted on."""
        while True:
            await self.ledger.wait_for_held()
            released = await self.ledger.repair(self._fetch_klines, self.warmup_budget)
            for (sym, interval), bars in released.items():
                unfilled = self.ledger.series(sym, interval).unfilled
                log.warning("ledger: %s %s: stream gap repaired, %d bars given to the strategies "
                            "late%s", sym, interval, len(bars),
                            f"; no bars on the exchange for {unfilled}" if unfilled else "")
                self.runner.warm(sym, interval, bars[:-1])
                self.runner.on_bar(sym, interval, bars[-1])

    def _sync_vm_positions(self) -> None:
        self.runner.sync_positions(self.state.portfolio, self.execution.min_notional)

    def _decide(self, d) -> None:
        """Strategy decisions: no new entry on a symbol the selection has deactivated."""
        if d.kind == "entry" and not self.active.is_active(d.symbol):
            self.execution.refused["INACTIVE"] += 1
            return
        self.execution.decide(d)

    def _tick_step(self, sym: str) -> tuple[float, float]:
        spec = self.specs[sym]
        return float(spec.tick_size), float(spec.step_size)

    # ------------------------------------------------------------ supervision

    async def _supervise(self) -> int:
        self.root = root = Root(
            [Supervisor("market-data", [Child("combined-stream", self.md.run)]),
             Supervisor("user-data", [Child("stream", self.userdata.run)]),
             Supervisor("execution", [Child("sender", self.execution.run),
                                      Child("unknown-resolver", self._resolve_unknown)]),
             Supervisor("strategies", [Child("bar-clock", self._bar_clock),
                                       Child("ledger-repair", self._repair_ledger),
                                       Child("symbol-selection", self._selection)]),
             Supervisor("risk", [Child("clock", self._risk_clock)]),
             Supervisor("journal", [Child("flusher", self._flusher)]),
             Supervisor("telemetry", [Child("metrics-dashboard-alerts", self._telemetry)]),
             Supervisor("status", [Child("status", self._status)]),
             *self.extra_supervisors]
            + ([Supervisor("busy-poll", [Child("spin", _spin)])] if self.cfg.engine.busy_poll
               else [])
            + ([Supervisor("data", [Child("end-of-data", self._end_of_data)])]
               if self.data_done is not None else []),
            on_alert=self._supervisor_alert,
            shutdown=[("notify systemd", self._stopping),
                      ("cancel open orders", self._cancel_all),
                      ("reconcile with the exchange", self._reconcile),
                      ("flush journal", self._flush)],
            finalizers=[self.risk.save],
            shutdown_deadline_s=self.opt.shutdown_deadline_s,
            policy=self.opt.policy, handle_signals=self.opt.handle_signals)
        # What start-up built (exchangeInfo, the ledger's bars, modules) lives as long as the
        # engine: out of the collector's sight, a full collection no longer walks it in the
        # middle of a tick (milliseconds with a large ledger).
        gc.collect()
        gc.freeze()
        sdnotify.ready(f"{self.mode}: trading {', '.join(self.symbols)}")
        self.ready.set()
        code = await root.run()
        self.stop_reason = root.shutdown_reason or ""
        return code

    def request_shutdown(self, reason: str) -> None:
        if self.root is not None:
            self.root.request_shutdown(reason)

    def halt(self, reason: str, operator: str) -> str:
        """The kill switch: HALTED, every open order cancelled (and flattened if configured)."""
        self.execution.on_actions(self.risk.halt(reason, operator, time.time_ns()))
        return f"risk state {self.risk.state}: {reason}"

    async def _stopping(self) -> None:
        sdnotify.stopping()

    async def _cancel_all(self) -> None:
        with trio.fail_after(5):
            n = await self.execution.cancel_all()
        if n:
            log.info("cancelled %d open orders", n)

    async def _reconcile(self) -> None:
        """Fills that landed while the tasks were stopping (the user-data stream is gone by
        now) reach the state and journal through the same reconciliation as start-up."""
        with trio.fail_after(5):
            report = await reconcile(self.state, self.client, self.symbols)
        self.journal.append("reconcile", report.as_dict())

    async def _flush(self) -> None:
        self.journal.flush()

    async def _flusher(self) -> None:
        await self.journal.run_flusher(self.cfg.journal.flush_interval_ms / 1000)

    async def _resolve_unknown(self) -> None:
        while True:
            await trio.sleep(1.0)
            await resolve_unknown(self.state, self.client)
            # fills found by reconciliation (stream resets, unknown orders) reach the VMs too
            self._sync_vm_positions()

    async def _selection(self) -> None:
        await self.active.run(self.client, self.ledger, self.execution.books,
                              self.md.connected)

    async def _bar_clock(self) -> None:
        """Close "trades" bars on time even when no trade arrives, by exchange time."""
        while True:
            await trio.sleep(0.1)
            if self.hub.last_event_ms:
                self.ledger.tick(self.hub.last_event_ms)

    async def _risk_clock(self) -> None:
        while True:
            await trio.sleep(1.0)
            wall = time.time_ns()
            self.risk.on_clock(wall)
            actions = self.risk.poll_operator(wall)
            if actions:
                self.execution.on_actions(actions)
            for k, v in self.risk.metrics().items():
                self.tel.gauge(k).set(v)

    async def _telemetry(self) -> None:
        async with trio.open_nursery() as n:
            self.dashboard_url = await n.start(self.tel.run, self.controls)
            if self.dashboard_url:
                self.opt.out(f"pyengine: dashboard {self.dashboard_url}")

    async def _status(self) -> None:
        every = self.opt.status_every_s
        dog = sdnotify.watchdog_interval_s()
        period = min(x for x in (every or 1.0, dog or 1.0))
        last_print = 0.0
        while True:
            await trio.sleep(period)
            sdnotify.watchdog()
            d = self.tel.dashboard
            c = self.controls
            pnl = c.pnl()
            d.set_pnl(int(time.time() * 1000), pnl["equity"], pnl["realised"], pnl["unrealised"],
                      pnl["fees"])
            d.set_positions(c.positions())
            d.set_orders(c.orders())
            d.set_risk(self.risk.summary())
            self.tel.gauge("feed_up", feed="market").set(1 if self.md.connected.is_set() else 0)
            if every and trio.current_time() - last_print >= every:
                last_print = trio.current_time()
                print_status(self, self.opt.out)

    async def _end_of_data(self) -> None:
        await self.data_done()
        await trio.sleep(self.opt.end_grace_s)
        self.request_shutdown("end of data")

    # ------------------------------------------------------------ callbacks

    def _on_mark(self, symbol: str, price: int, time_ms: int) -> None:
        spec = self.specs[symbol]
        px = Decimal(price).scaleb(-spec.price_scale)
        self.state.portfolio.mark(symbol, px)
        self.tel.dashboard.add_price(symbol, time_ms, float(px))
        actions = self.risk.on_mark(self.risk.index(symbol), price, time.time_ns())
        if actions:
            self.execution.on_actions(actions)

    def _on_fill(self, fill) -> None:
        self._sync_vm_positions()
        self.tel.counter("fills", symbol=fill.symbol).inc()
        self.tel.dashboard.add_fill({"symbol": fill.symbol, "side": fill.side,
                                     "price": float(fill.price), "qty": float(fill.qty),
                                     "ts_ms": fill.time_ms,
                                     "strategy": self.state.owner_of(fill.client_order_id or "")})

    def _selection_changed(self, note: dict) -> None:
        """A new active set (and the first evaluation): journal it, open or close the risk
        gate's entries per symbol, tell the operator which symbols left and why."""
        active = set(note["active"])
        for sym in self.symbols:
            self.risk.set_allowed(sym, sym in active)
            self.tel.gauge("symbol_active", symbol=sym).set(1 if sym in active else 0)
        self.journal.append("note", note)
        excluded = {s: why for s, why in note["excluded"].items() if s in self.symbols}
        log.info("symbol selection: active %s; excluded %s", sorted(active), excluded)
        removed = self._active_before - active
        self._active_before = active
        if removed:
            self.tel.alert("selection", Severity.WARNING, "Symbols deactivated",
                           "; ".join(f"{s}: {excluded[s]}" for s in sorted(removed))
                           + " (no new entries; open positions keep their exits)")

    def _event(self, kind: str, data: dict) -> None:
        if kind == "order_rejected":
            self.tel.counter("order_rejections").inc()
        self.journal.append("note", {"event": kind, **data})

    def _risk_event(self, ev) -> None:
        self.journal.append("risk", {"kind": ev.kind, "code": ev.code, "message": ev.message,
                                     "state": ev.state}, symbol=ev.symbol)
        if ev.kind == "state":
            sev = Severity.CRITICAL if ev.state == "HALTED" else Severity.WARNING
            self.tel.alert("risk:state", sev, f"Risk {ev.state}", ev.message)
        elif ev.kind == "refusal":
            self.tel.counter("risk_refusals", reason=ev.code).inc()

    def _supervisor_alert(self, alert) -> None:
        self.tel.alert(f"supervisor:{alert.source}", alert.level, f"{alert.source}",
                       alert.message)
        self.journal.append("note", {"event": "supervisor", "level": alert.level,
                                     "source": alert.source, "message": alert.message})


async def _spin() -> None:
    """Always runnable: trio then polls its sockets with a zero timeout instead of sleeping
    (``engine.busy_poll``)."""
    while True:
        await trio.lowlevel.checkpoint()


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out.extend(_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])
    return out
