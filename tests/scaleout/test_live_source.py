"""A collector on a live websocket (the simulator's market streams, Binance's protocol):
subscriptions follow ownership, snapshots are published, an injected gap is reported."""
from __future__ import annotations

import threading
import uuid

import redis
import trio

from pyengine import bundled
from pyengine.scaleout import Collector, Consumer, Gap
from pyengine.scaleout.live import LiveSource
from pyengine.scaleout.runner import run_live
from pyengine.sim.testing import running_sim

DATA = {"BTCUSDT": bundled.BTCUSDT_FEED, "ETHUSDT": bundled.ETHUSDT_FEED}


async def _until(predicate):
    with trio.fail_after(60):            # a hang guard, not a measurement
        while not predicate():
            await trio.sleep(0.05)


async def test_live_collector_publishes_books_and_reports_an_injected_gap(redis_url):
    prefix = f"l{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    async with running_sim(speed="manual", data=DATA) as sim:
        source = LiveSource(sim.stream_url, sim.rest_url,
                            streams=("depth@100ms", "trade", "aggTrade", "kline_1m"))
        await trio.to_thread.run_sync(source.start)
        collector = Collector(client, list(DATA), ["BTCUSDT"], collector_id="live",
                              prefix=prefix, lease_ms=5000)
        stop = threading.Event()
        worker = threading.Thread(target=run_live, args=(collector, source),
                                  kwargs={"heartbeat_s": 0.2, "should_stop": stop.is_set})
        worker.start()
        try:
            await _until(lambda: source.subscribed == set(DATA))
            await sim.advance(15_000)
            sim.faults.skip_diff("BTCUSDT", 1)
            await sim.advance(15_000)
            consumer = Consumer(redis_url, list(DATA), ["depth", "trade", "aggTrade", "kline"],
                                prefix=prefix, start="0", block_ms=50)
            items: list = []

            def read_more():
                items.extend(consumer.poll())
                return len(items)

            seen = -1
            while seen != (now := await trio.to_thread.run_sync(read_more)):
                seen = now
                await trio.sleep(0.5)
        finally:
            stop.set()
            await trio.to_thread.run_sync(worker.join)
            await trio.to_thread.run_sync(source.close)
            collector.stop()
    gaps = [i for i in items if isinstance(i, Gap)]
    events = [i for i in items if not isinstance(i, Gap)]
    for symbol in DATA:
        depth = [e for e in events if e.symbol == symbol and e.kind == "depth"]
        snaps = [e for e in depth if e.entry == "snapshot"]
        diffs = [e for e in depth if e.entry == "depth"]
        assert len(snaps) == 1 and len(diffs) > 100
        # the first diff after the snapshot joins it (the simulator follows Binance's rules)
        after = [d for d in diffs if d.last > snaps[0].last]
        assert after[0].first <= snaps[0].last + 1 <= after[0].last
        for kind in ("trade", "aggTrade"):
            ids = [e.first for e in events if e.symbol == symbol and e.kind == kind]
            assert len(ids) > 100 and ids == list(range(ids[0], ids[0] + len(ids))), kind
        klines = [e for e in events if e.symbol == symbol and e.kind == "kline"]
        # the kline stream updates every 2 s; each update is newer than the one before
        assert len(klines) >= 10
        assert [(k.first, k.event_ms) for k in klines] == sorted({(k.first, k.event_ms)
                                                                  for k in klines})
    (gap,) = gaps                         # exactly the diff the simulator skipped
    assert (gap.symbol, gap.kind, gap.level) == ("BTCUSDT", "depth", "exchange")
    assert source.connects == 1


def test_collect_command_on_a_live_stream_until_sigterm(redis_url, tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from pyengine.scaleout.collector import owner_key
    from pyengine.sim.server import SimConfig
    from pyengine.sim.testing import SimThread

    sim_thread = SimThread(SimConfig(data=DATA, speed=5.0))
    sim = sim_thread.start()
    prefix = f"s{uuid.uuid4().hex[:8]}"
    proc = None
    try:
        deadline = time.monotonic() + 60          # hang guards, not measurements
        while not all(t["count"] > 0 for t in httpx.get(
                sim.rest_url + "/api/v3/ticker/24hr",
                params={"symbols": '["BTCUSDT","ETHUSDT"]'}).json()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyengine.cli", "collect", "--redis", redis_url,
             "--symbols", "BTCUSDT,ETHUSDT", "--source", sim.stream_url, "--rest-url",
             sim.rest_url, "--prefix", prefix, "--id", "live1", "--heartbeat-ms", "200",
             "--lease-ms", "1000", "--hot-min-quote-volume", "0.000001"],
            stdout=subprocess.PIPE, stderr=open(tmp_path / "collect.log", "w"), text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        consumer = Consumer(redis_url, list(DATA), ["depth"], prefix=prefix, start="0",
                            block_ms=100)
        depth: dict[str, list] = {s: [] for s in DATA}
        while min(len(v) for v in depth.values()) < 50:
            assert time.monotonic() < deadline and proc.poll() is None, \
                (tmp_path / "collect.log").read_text()
            for item in consumer.poll():
                if not isinstance(item, Gap):
                    depth[item.symbol].append(item)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        sim_thread.stop()
    assert proc.returncode == 0
    lines = out.strip().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert first["hot"] == ["BTCUSDT", "ETHUSDT"]        # both traded: hot by the 24 h volume
    assert set(last["published"]) == set(DATA)
    for events in depth.values():
        assert [e.entry for e in events].count("snapshot") == 1
    assert not consumer.stats.gaps
    r = redis.Redis.from_url(redis_url)
    assert r.get(owner_key(prefix, ("BTCUSDT", 0))) is None   # leases given back on SIGTERM
