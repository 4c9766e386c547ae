"""Registry, rollup, bounded queues and the Prometheus exposition."""
from __future__ import annotations

import re

import pytest

from pyengine.telemetry import prometheus
from pyengine.telemetry.metrics import Registry
from pyengine.telemetry.queues import DropOldestQueue


def test_drop_oldest_queue_counts_drops():
    q = DropOldestQueue(3)
    for i in range(5):
        q.put(i)
    assert q.take(10) == [2, 3, 4] and q.dropped == 2
    q.put_many(list(range(10, 17)))
    assert q.dropped == 6 and q.take(2) == [14, 15] and len(q) == 1
    with pytest.raises(ValueError):
        DropOldestQueue(0)


def test_rollup_points_and_window_folding():
    reg = Registry(event_queue_size=4)
    orders = reg.counter("orders_sent", symbol="BTCUSDT")
    reg.gauge("equity").set(10_000.5)
    tto = reg.histogram("tick_to_order")
    for v in (10_000, 20_000, 30_000):
        tto.record(v)
    orders.inc(3)
    for i in range(6):
        reg.event("fill_seen", {"qty": i}, symbol="BTCUSDT")
    points = reg.rollup(now_ns=1_700_000_000_000_000_000)
    by_name = {p.measurement: p for p in points}
    assert [p.fields["qty"] for p in points if p.measurement == "fill_seen"] == [2, 3, 4, 5]
    assert reg.events.dropped == 2
    assert by_name["orders_sent"].tags == {"symbol": "BTCUSDT"}
    assert by_name["orders_sent"].fields["value"] == 3 and by_name["orders_sent"].fields["rate"] > 0
    assert by_name["equity"].fields == {"value": 10_000.5}
    assert by_name["tick_to_order"].fields["count"] == 3
    assert abs(by_name["tick_to_order"].fields["p50"] - 20_000) <= 20_000 / 128
    # the window was folded into the cumulative histogram and cleared
    pair = reg.histogram_pair("tick_to_order")
    assert pair.window.count == 0 and pair.total.count == 3
    tto.record(40_000)
    second = {p.measurement: p for p in reg.rollup()}
    assert second["tick_to_order"].fields["count"] == 1 and pair.total.count == 4
    assert second["orders_sent"].fields["value"] == 3 and second["orders_sent"].fields["rate"] == 0


def test_bad_metric_names_are_refused():
    reg = Registry()
    with pytest.raises(ValueError, match="metric name"):
        reg.counter("Orders Sent")
    with pytest.raises(ValueError, match="metric name"):
        reg.gauge("ok", **{"bad-label": 1})


def test_prometheus_text_format():
    reg = Registry()
    reg.counter("orders_sent", symbol="BTC\"USDT").inc(7)
    reg.gauge("equity").set(10_001.25)
    h = reg.histogram("tick_to_order")
    for v in range(1000, 101_000, 1000):
        h.record(v)
    reg.rollup()
    h.record(5_000_000)          # not yet rolled up: still visible to a scrape
    text = prometheus.render(reg)
    assert '# TYPE pyengine_orders_sent_total counter' in text
    assert 'pyengine_orders_sent_total{symbol="BTC\\"USDT"} 7' in text
    assert 'pyengine_equity 10001.25' in text
    assert 'pyengine_tick_to_order_seconds_count 101' in text
    p50 = float(re.search(r'pyengine_tick_to_order_seconds\{quantile="0.5"\} (\S+)', text).group(1))
    assert p50 == pytest.approx(51e-6, rel=0.01)
    line = re.compile(r'^(# TYPE \w+ (counter|gauge|summary)|\w+(\{[^}]*\})? -?[0-9.e+-]+)$')
    assert all(line.match(l) for l in text.strip().splitlines())
