"""Monitoring in three layers: metrics and storage, alerts (Telegram, webhook), dashboard.

Engine-facing interface
=======================

One object, created from the ``[telemetry]`` config section and run in the root nursery::

    from pyengine.telemetry import Telemetry, TelemetryConfig, Severity

    tel = Telemetry(cfg.telemetry)              # TelemetryConfig; missing secrets -> UserError
    url = await nursery.start(tel.run, controls)   # -> dashboard URL (None if disabled)

``controls`` implements ``pyengine.telemetry.Controls`` (``status()``, ``positions()``,
``pnl()``, ``orders()``, ``risk()``, ``halt(reason)``, ``resume()``: plain sync methods that
return JSON-able data). The Telegram bot and the dashboard call them, always in the trio
thread. ``halt`` must really halt (the risk manager's kill switch).

Hot path (no I/O, no locks, no allocation beyond a deque append)::

    tto = tel.histogram("tick_to_order")        # look up once, keep the object
    tto.record(t_written_ns - t_frame_ns)       # one C call (csrc/hist.c); or from C:
                                                #   lib.pe_hist_record(tto.handle, ns)
    sent = tel.counter("orders_sent", symbol="BTCUSDT");  sent.inc()
    tel.gauge("equity").set(10_012.5)
    tel.event("fill", {"price": 61837.63, "qty": 0.001}, symbol="BTCUSDT")   # bounded queue

Histograms record nanoseconds; the 1 s rollup reports p50/p99/p99.9/max per window and keeps
a cumulative one (Prometheus ``/metrics``, dashboard health). Events and rollups go to every
configured sink (SQLite default, Redis, Timestream, InfluxDB) through bounded queues: when a
queue is full the oldest telemetry is dropped and counted (``telemetry_events_dropped``,
``telemetry_sink_dropped``). Orders and fills are never entrusted to telemetry: the journal
keeps them; ``tel.event("fill", ...)`` is a copy for monitoring.

Metric names with built-in alert rules (``rules.py``; count them and the alerts follow):
``feed_gaps``, ``feed_reconnects``, ``api_errors``, ``api_bans``, ``order_rejections``,
``risk_refusals`` (counters, any labels); ``risk_daily_loss_used_pct`` and
``risk_weekly_loss_used_pct`` (gauges: percent of the 3 % budget used; alerts at 80 and 100).
Dashboard health reads ``feed_up{feed=...}`` (1/0) and ``rate_limit_headroom{limit=...}``
(percent) gauges and every histogram.

Alerts (de-duplicated by key, rate-limited, never blocking)::

    tel.alert("risk:state", Severity.CRITICAL, "Trading HALTED", "daily loss limit reached")
    Root(..., on_alert=tel.alert)                # pyengine.supervisor uses the same signature

Dashboard state (what the page shows; the engine fills it, O(1) setters)::

    d = tel.dashboard                            # DashboardState
    d.set_pnl(ts_ms, equity, realised, unrealised, fees)
    d.set_positions([...]); d.set_orders([...]); d.add_fill({...}); d.add_price(sym, ts_ms, px)
    d.set_risk({"state": "ACTIVE", ...})         # health and alerts are filled automatically
"""
from pyengine.telemetry.alerts import Alert, AlertRouter, Severity
from pyengine.telemetry.config import TelemetryConfig
from pyengine.telemetry.controls import Controls
from pyengine.telemetry.dashboard.state import DashboardState
from pyengine.telemetry.histogram import LatencyHistogram
from pyengine.telemetry.service import Telemetry

__all__ = ["Alert", "AlertRouter", "Controls", "DashboardState", "LatencyHistogram", "Severity",
           "Telemetry", "TelemetryConfig"]
