"""The Telemetry service end to end in trio: rollup into sinks, sink outages (one alert,
trading unaffected, drops counted), alert rules and destinations."""
from __future__ import annotations

import sqlite3

import pytest
import trio

from pyengine.errors import UserError
from pyengine.telemetry import Telemetry, TelemetryConfig
from pyengine.telemetry.alerts import AlertRouter, Severity
from pyengine.telemetry.config import DashboardConfig, SqliteConfig
from pyengine.telemetry.sinks.redis import RedisSink


def config(tmp_path, **kw) -> TelemetryConfig:
    return TelemetryConfig(rollup_interval_s=0.05, sqlite=SqliteConfig(str(tmp_path / "tel.sqlite")),
                           dashboard=DashboardConfig(enabled=False), **kw)


class FlakySink:
    name = "flaky"
    max_batch = 1000

    def __init__(self) -> None:
        self.up = False
        self.points = []
        self.attempts = 0

    def write(self, points) -> None:
        self.attempts += 1
        if not self.up:
            raise ConnectionError("store unreachable")
        self.points.extend(points)

    def close(self) -> None:
        pass


async def wait_until(predicate, timeout: float = 15.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.01)


async def test_rollup_reaches_sqlite(tmp_path):
    tel = Telemetry(config(tmp_path))
    tto = tel.histogram("tick_to_order")
    sent = tel.counter("orders_sent", symbol="BTCUSDT")
    async with trio.open_nursery() as nursery:
        await nursery.start(tel.run)
        for v in (12_000, 15_000, 90_000):
            tto.record(v)
        sent.inc(3)
        tel.event("fill", {"qty": 0.25, "price": 61837.63}, symbol="BTCUSDT")
        await wait_until(lambda: tel.sink_workers[0].written.value >= 5)
        nursery.cancel_scope.cancel()
    conn = sqlite3.connect(tmp_path / "tel.sqlite")
    names = {r[0] for r in conn.execute("SELECT DISTINCT measurement FROM metrics")}
    assert {"tick_to_order", "orders_sent", "fill", "alert"} <= names   # "alert": engine start
    row = conn.execute("SELECT fields FROM metrics WHERE measurement='tick_to_order'").fetchone()
    assert '"count":3' in row[0]


async def test_sink_outage_alerts_once_and_never_blocks_trading(tmp_path):
    flaky = FlakySink()
    tel = Telemetry(TelemetryConfig(rollup_interval_s=0.02, sink_queue_size=50, sqlite=None,
                                    dashboard=DashboardConfig(enabled=False)), sinks=[flaky])
    tel.sink_workers[0]._backoff_s = 0.01
    tel.sink_workers[0]._max_backoff_s = 0.05
    offered = []
    tel.alerts.add_destination(type("D", (), {"offer": lambda self, a: offered.append(a)})())
    hist = tel.histogram("tick_to_order")
    ticks = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(tel.run)
        # a "trading loop" that keeps running while the sink is down
        while flaky.attempts < 6:
            for _ in range(200):
                hist.record(10_000)
                tel.event("tick", {"n": ticks})
                ticks += 1
            await trio.sleep(0.005)
        down = [a for a in offered if a.key == "sink-down:flaky"]
        assert len(down) == 1 and down[0].severity == Severity.WARNING
        assert "store unreachable" in down[0].text
        assert tel.sink_workers[0].queue.dropped > 0       # bounded: the oldest went
        flaky.up = True
        await wait_until(lambda: any(a.key == "sink-up:flaky" for a in offered))
        nursery.cancel_scope.cancel()
    assert ticks >= 1200
    assert len([a for a in offered if a.key == "sink-down:flaky"]) == 1
    assert flaky.points and tel.metrics.gauges[("telemetry_sink_dropped", (("sink", "flaky"),))].value > 0


async def test_redis_outage_through_the_real_client(tmp_path):
    # nothing listens on this port: every write fails fast with a connection error
    sink = RedisSink("redis://127.0.0.1:1/0", timeout_s=0.2)
    tel = Telemetry(TelemetryConfig(rollup_interval_s=0.02, sqlite=None,
                                    dashboard=DashboardConfig(enabled=False)), sinks=[sink])
    tel.sink_workers[0]._backoff_s = 0.01
    async with trio.open_nursery() as nursery:
        await nursery.start(tel.run)
        await wait_until(lambda: tel.sink_workers[0].errors.value >= 3)
        nursery.cancel_scope.cancel()
    assert tel.alerts._last.keys() >= {"sink-down:redis"}
    assert tel.dashboard.snapshot()["health"]["sinks"] == {"redis": "down"}


def test_router_dedupes_and_rate_limits():
    now = [0.0]
    router = AlertRouter(dedupe_s=60, burst=3, per_minute=6, clock=lambda: now[0])
    got = []
    router.add_destination(type("D", (), {"offer": lambda self, a: got.append(a)})())
    assert router.alert("feed", Severity.WARNING, "gap")
    assert not router.alert("feed", Severity.WARNING, "gap")          # duplicate
    assert router.alert("feed", Severity.ERROR, "gap, worse")          # escalation passes
    assert router.alert("a", Severity.INFO, "a")
    assert not router.alert("b", Severity.INFO, "b")                   # bucket empty (burst 3)
    assert router.alert("c", Severity.CRITICAL, "c")                   # critical bypasses
    now[0] = 61.0
    assert router.alert("feed", Severity.WARNING, "gap again")
    assert got[-1].suppressed == 0 and [a.title for a in got] == ["gap", "gap, worse", "a", "c", "gap again"]
    now[0] = 62.0
    router.alert("feed", Severity.WARNING, "dup")
    now[0] = 200.0
    router.alert("feed", Severity.WARNING, "after dedupe window")
    assert got[-1].suppressed == 1 and "1 similar alerts suppressed" in got[-1].render()
    assert (router.deduplicated, router.rate_limited) == (2, 1)


def test_metric_rules_fire_alerts(tmp_path):
    tel = Telemetry(config(tmp_path))
    got = []
    tel.alerts.add_destination(type("D", (), {"offer": lambda self, a: got.append(a)})())
    tel.rules.evaluate(tel.metrics, tel.alerts, 0.0)
    tel.counter("feed_reconnects", feed="btcusdt").inc(3)
    tel.counter("feed_reconnects", feed="ethusdt").inc(2)
    tel.gauge("risk_daily_loss_used_pct").set(83.0)
    tel.rules.evaluate(tel.metrics, tel.alerts, 1.0)
    keys = {a.key: a for a in got}
    assert keys["rule:feed_reconnects"].text == "5 in the last 60 s"
    assert keys["loss:daily:80.0"].severity == Severity.WARNING and "83 %" in keys["loss:daily:80.0"].title
    tel.counter("api_bans").inc()
    tel.rules.evaluate(tel.metrics, tel.alerts, 2.0)
    assert got[-1].key == "rule:api_bans" and got[-1].severity == Severity.CRITICAL


def test_config_validation_names_the_key(monkeypatch):
    cfg = TelemetryConfig.from_dict({"engine_id": "live", "sqlite": False,
                                     "redis": {"url": "rediss://cache:6379/0", "username": "u", "cluster": True},
                                     "influx": {"url": "http://x:8086", "version": 1, "database": "t"}})
    assert cfg.sqlite is None and cfg.redis.cluster and cfg.influx.database == "t"
    with pytest.raises(UserError, match=r"\[telemetry\].redis: unknown key 'pasword'"):
        TelemetryConfig.from_dict({"redis": {"url": "redis://x", "pasword": "x"}})
    with pytest.raises(UserError, match=r"rollup_interval_s must be float, got str"):
        TelemetryConfig.from_dict({"rollup_interval_s": "1"})
    with pytest.raises(UserError, match="allowed_chat_ids"):
        TelemetryConfig.from_dict({"telegram": {}})
    monkeypatch.delenv("PYENGINE_TELEGRAM_TOKEN", raising=False)
    with pytest.raises(UserError, match="PYENGINE_TELEGRAM_TOKEN is not set"):
        Telemetry(TelemetryConfig.from_dict({"telegram": {"allowed_chat_ids": [1]},
                                             "dashboard": {"enabled": False}, "sqlite": False}))


def test_string_severities(tmp_path):
    tel = Telemetry(config(tmp_path))
    got = []
    tel.alerts.add_destination(type("D", (), {"offer": lambda self, a: got.append(a)})())
    tel.alert("supervisor:execution/orders", "critical", "execution/orders: failed 3 times in 60 s")
    assert got[-1].severity == Severity.CRITICAL and got[-1].key == "supervisor:execution/orders"
    with pytest.raises(ValueError, match="unknown alert severity 'loud'"):
        tel.alert("x", "loud", "x")


async def test_timestream_rejections_become_an_alert(tmp_path):
    import boto3
    from botocore.stub import Stubber

    from pyengine.telemetry.sinks.timestream import TimestreamSink

    client = boto3.client("timestream-write", region_name="ap-northeast-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.add_client_error("write_records", "RejectedRecordsException", "rejected", 419,
                             modeled_fields={"RejectedRecords": [{"RecordIndex": 0, "Reason": "Duplicate"}]})
    for _ in range(20):
        stubber.add_response("write_records", {"RecordsIngested": {"Total": 1}})
    stubber.activate()
    tel = Telemetry(TelemetryConfig(rollup_interval_s=0.02, sqlite=None, dashboard=DashboardConfig(enabled=False)),
                    sinks=[TimestreamSink("db", "t", client=client)])
    got = []
    tel.alerts.add_destination(type("D", (), {"offer": lambda self, a: got.append(a)})())
    async with trio.open_nursery() as nursery:
        await nursery.start(tel.run)
        tel.gauge("equity").set(1.0)
        await wait_until(lambda: any(a.key == "sink-rejected:timestream" for a in got))
        nursery.cancel_scope.cancel()
    alert = next(a for a in got if a.key == "sink-rejected:timestream")
    assert alert.title == "Timestream rejected 1 records" and "Duplicate" in alert.text
