"""Alerts derived from metrics at each rollup, so the engine only has to count things:
loss-limit proximity, feed gaps and reconnect storms, API errors and bans, bursts of
order rejections and risk refusals. Metric names are part of the engine interface (see
the package docstring)."""
from __future__ import annotations

import collections
from dataclasses import dataclass

from pyengine.telemetry.alerts import AlertRouter, Severity
from pyengine.telemetry.metrics import Registry


@dataclass(frozen=True, slots=True)
class BurstRule:
    counter: str          # summed over all label sets
    threshold: int        # increase within window_s that fires
    window_s: float
    severity: Severity
    title: str


BURST_RULES = (
    BurstRule("feed_gaps", 1, 60, Severity.WARNING, "Feed sequence gap (book resynced)"),
    BurstRule("feed_reconnects", 5, 60, Severity.WARNING, "Reconnect storm on market data"),
    BurstRule("api_errors", 3, 60, Severity.ERROR, "Exchange API errors"),
    BurstRule("api_bans", 1, 60, Severity.CRITICAL, "Exchange rate-limit ban (HTTP 418/429)"),
    BurstRule("order_rejections", 3, 60, Severity.WARNING, "Orders rejected by the exchange"),
    BurstRule("risk_refusals", 20, 60, Severity.WARNING, "Burst of risk refusals"),
)
# (gauge, percent of the loss budget used, severity)
LOSS_GAUGES = ("risk_daily_loss_used_pct", "risk_weekly_loss_used_pct")
LOSS_LEVELS = ((100.0, Severity.CRITICAL), (80.0, Severity.WARNING))


class MetricRules:
    def __init__(self, rules: tuple[BurstRule, ...] = BURST_RULES) -> None:
        self.rules = rules
        self._history: dict[str, collections.deque[tuple[float, int]]] = {
            r.counter: collections.deque() for r in rules}

    def evaluate(self, registry: Registry, alerts: AlertRouter, now_s: float) -> None:
        totals: dict[str, int] = collections.Counter()
        for (name, _labels), c in registry.counters.items():
            if name in self._history:
                totals[name] += c.value
        for rule in self.rules:
            history = self._history[rule.counter]
            value = totals.get(rule.counter, 0)
            history.append((now_s, value))
            while len(history) > 1 and now_s - history[1][0] >= rule.window_s:
                history.popleft()
            increase = value - history[0][1]
            if increase >= rule.threshold:
                alerts.alert(f"rule:{rule.counter}", rule.severity, rule.title,
                             f"{increase} in the last {int(rule.window_s)} s")
        for (name, labels), g in registry.gauges.items():
            if name not in LOSS_GAUGES:
                continue
            for level, severity in LOSS_LEVELS:
                if g.value >= level:
                    period = "daily" if "daily" in name else "weekly"
                    alerts.alert(f"loss:{period}:{level}", severity,
                                 f"{period.capitalize()} loss at {g.value:.0f} % of its budget",
                                 "new entries stop at 100 % (REDUCING)")
                    break
