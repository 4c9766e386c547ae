"""``Telemetry``: the one object the engine holds. It owns the metrics registry, the alert
router, the dashboard state, the sink workers, the Telegram thread, the webhook and the
dashboard server, and runs them all under ``run()`` in the engine's nursery."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from pyengine.telemetry.alerts import Alert, AlertRouter, Severity
from pyengine.telemetry.config import TelemetryConfig, secret
from pyengine.telemetry.controls import Controls
from pyengine.telemetry.dashboard.server import DashboardServer
from pyengine.telemetry.dashboard.state import DashboardState
from pyengine.telemetry.histogram import LatencyHistogram
from pyengine.telemetry.metrics import Counter, FieldValue, Gauge, Registry
from pyengine.telemetry.rules import MetricRules
from pyengine.telemetry.sinks.base import Sink, SinkWorker

if TYPE_CHECKING:    # python-telegram-bot takes ~0.4 s to import: only when configured
    from pyengine.telemetry.telegram_bot import TelegramBot

log = logging.getLogger("pyengine.telemetry")


def build_sinks(config: TelemetryConfig) -> list[Sink]:
    """The sinks the configuration asks for; a missing secret is a UserError naming its
    environment variable."""
    sinks: list[Sink] = []
    if config.sqlite:
        from pyengine.telemetry.sinks.sqlite import SqliteSink
        sinks.append(SqliteSink(config.sqlite.path))
    if config.redis:
        from pyengine.telemetry.sinks.redis import RedisSink
        r = config.redis
        sinks.append(RedisSink(r.url, engine_id=config.engine_id, username=r.username or None,
                               password=secret(r.password_env, "[telemetry.redis] password"),
                               cluster=r.cluster, ssl_ca_certs=r.ssl_ca_certs or None,
                               stream_maxlen=r.stream_maxlen))
    if config.timestream:
        from pyengine.telemetry.sinks.timestream import TimestreamSink
        t = config.timestream
        sinks.append(TimestreamSink(t.database, t.table, engine_id=config.engine_id, region=t.region or None))
    if config.influx:
        from pyengine.telemetry.sinks.influx import InfluxSink
        i = config.influx
        sinks.append(InfluxSink(i.url, version=i.version, org=i.org, bucket=i.bucket,
                                token=secret(i.token_env, "[telemetry.influx] token"),
                                database=i.database, username=i.username or None,
                                password=secret(i.password_env, "[telemetry.influx] password")))
    return sinks


class _AlertEvents:
    """Alert-router destination that records every alert as a telemetry point."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def offer(self, alert: Alert) -> None:
        self._registry.event("alert", {"severity": alert.severity.name, "title": alert.title,
                                       "text": alert.text, "suppressed": alert.suppressed},
                             key=alert.key)


class Telemetry:
    def __init__(self, config: TelemetryConfig | None = None, *, sinks: list[Sink] | None = None,
                 telegram: "TelegramBot | None" = None, dashboard_token: str | None = None) -> None:
        """``sinks``/``telegram`` override what the config would build (tests, demo).
        ``dashboard_token`` overrides the token's environment variable."""
        self.config = config = config or TelemetryConfig()
        self.metrics = Registry()
        self.alerts = AlertRouter(config.alerts.dedupe_s, config.alerts.burst, config.alerts.per_minute)
        self.dashboard = DashboardState()
        self.alerts.add_destination(self.dashboard)
        self.alerts.add_destination(_AlertEvents(self.metrics))
        sinks = build_sinks(config) if sinks is None else sinks
        for sink in sinks:
            if hasattr(sink, "on_rejected") and sink.on_rejected is None:
                sink.on_rejected = self._rejected_from_thread
        self.sink_workers = [SinkWorker(s, self.metrics, self.alerts, config.sink_queue_size) for s in sinks]
        self.telegram = telegram
        if self.telegram is None and config.telegram:
            from pyengine.telemetry.telegram_bot import TelegramBot
            tg = config.telegram
            self.telegram = TelegramBot(secret(tg.token_env, "[telemetry.telegram] bot token"), None,
                                        allowed_chat_ids=tg.allowed_chat_ids,
                                        alert_chat_ids=tg.alert_chat_ids, base_url=tg.base_url or None)
        if self.telegram is not None:
            self.alerts.add_destination(self.telegram)
        self.webhook = None
        if config.webhook:
            from pyengine.telemetry.webhook import WebhookDestination
            url = secret(config.webhook.url_env, "[telemetry.webhook] url")
            self.webhook = WebhookDestination(url, config.webhook.style)
            self.alerts.add_destination(self.webhook)
        self.server: DashboardServer | None = None
        if config.dashboard.enabled:
            token = dashboard_token or secret(config.dashboard.token_env, "dashboard token", required=False)
            self.server = DashboardServer(self.dashboard, self.metrics, None, host=config.dashboard.host,
                                          port=config.dashboard.port, token=token,
                                          on_operator_action=self._operator_action)
        self.rules = MetricRules()
        self._events_dropped = self.metrics.gauge("telemetry_events_dropped")

    # --- engine-facing shortcuts --------------------------------------------------------
    def counter(self, name: str, **labels: object) -> Counter:
        return self.metrics.counter(name, **labels)

    def gauge(self, name: str, **labels: object) -> Gauge:
        return self.metrics.gauge(name, **labels)

    def histogram(self, name: str, **labels: object) -> LatencyHistogram:
        return self.metrics.histogram(name, **labels)

    def event(self, measurement: str, fields: dict[str, FieldValue], **tags: str) -> None:
        self.metrics.event(measurement, fields, **tags)

    def alert(self, key: str, severity: Severity | str, title: str, text: str = "") -> bool:
        """Non-blocking; ``severity`` may be a Severity or its name ("warning", "CRITICAL")."""
        if isinstance(severity, str):
            try:
                severity = Severity[severity.upper()]
            except KeyError:
                raise ValueError(f"unknown alert severity {severity!r} "
                                 f"(one of {', '.join(s.name.lower() for s in Severity)})") from None
        return self.alerts.alert(key, severity, title, text)

    # --- lifecycle ---------------------------------------------------------------------
    async def run(self, controls: Controls | None = None, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Run every telemetry task until cancelled. ``task_status.started`` receives the
        dashboard URL (or None when the dashboard is off)."""
        if self.telegram is not None:
            self.telegram.controls = controls
        if self.server is not None:
            self.server.controls = controls
        try:
            async with trio.open_nursery() as nursery:
                for worker in self.sink_workers:
                    nursery.start_soon(worker.run)
                if self.telegram is not None:
                    nursery.start_soon(self.telegram.run)
                if self.webhook is not None:
                    nursery.start_soon(self.webhook.run)
                url = None
                if self.server is not None:
                    await nursery.start(self.server.serve)
                    url = self.server.url
                nursery.start_soon(self._rollup_loop)
                self.alert("engine:start", Severity.INFO, "Engine started",
                           f"telemetry sinks: {', '.join(w.sink.name for w in self.sink_workers) or 'none'}")
                task_status.started(url)
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                self.rollup_once()      # flush what was counted since the last tick

    async def _rollup_loop(self) -> None:
        interval = self.config.rollup_interval_s
        next_at = trio.current_time() + interval
        while True:
            await trio.sleep_until(next_at)
            next_at += interval
            self.rollup_once()

    def rollup_once(self) -> None:
        self._events_dropped.set(self.metrics.events.dropped)
        points = self.metrics.rollup()
        for worker in self.sink_workers:
            worker.offer(points)
        self.rules.evaluate(self.metrics, self.alerts, time.monotonic())
        self.dashboard.set_health(self.health())

    def health(self) -> dict[str, Any]:
        latency = {}
        for (name, labels), pair in self.metrics.histograms.items():
            label = name + ("{" + ",".join(f"{k}={v}" for k, v in labels) + "}" if labels else "")
            latency[label] = pair.total.summary()
        feeds = {dict(labels).get("feed", "main"): "ok" if g.value else "down"
                 for (name, labels), g in self.metrics.gauges.items() if name == "feed_up"}
        headroom = {dict(labels).get("limit", "requests"): g.value
                    for (name, labels), g in self.metrics.gauges.items() if name == "rate_limit_headroom"}
        sinks = {w.sink.name: ("down" if w.down_since is not None else "ok") for w in self.sink_workers}
        counters = {name + ("{" + ",".join(f"{k}={v}" for k, v in labels) + "}" if labels else ""): c.value
                    for (name, labels), c in self.metrics.counters.items()
                    if not name.startswith("telemetry_sink_")}
        counters["telemetry_events_dropped"] = self.metrics.events.dropped
        return {"latency": latency, "feeds": feeds, "rate_limit": headroom, "sinks": sinks,
                "counters": counters}

    def _operator_action(self, action: str, reason: str) -> None:
        self.alert(f"operator:{action}", Severity.CRITICAL if action == "halt" else Severity.WARNING,
                   f"Operator {action} from the dashboard", reason)

    def _rejected_from_thread(self, report: list[dict[str, object]]) -> None:
        text = "; ".join(f"#{r['index']} {r['measure']}: {r['reason']}" for r in report[:5])
        trio.from_thread.run_sync(self.alert, "sink-rejected:timestream", Severity.WARNING,
                                  f"Timestream rejected {len(report)} records", text)
