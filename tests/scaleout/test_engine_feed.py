"""An engine on ``--feed redis://``: two `pyengine collect` processes read the simulator's
market streams into Redis, the engine builds its books from those streams and sends its
orders to the simulator. The collector holding BTCUSDT is killed and restarted: the engine
reports every gap, re-synchronises from a snapshot in the stream and ends with the
simulator's own books."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import uuid

import redis
import trio

from pyengine import bundled
from pyengine.book import ASK, BID
from pyengine.config import default_config
from pyengine.engine import Engine, EngineOptions, StrategySpec
from pyengine.scaleout import Gap
from pyengine.scaleout.collector import owner_key
from pyengine.scaleout.feed import StreamMarketData
from pyengine.scaleout.streams import snapshot_key
from pyengine.sim.testing import running_sim
from pyengine.venue.binance import Endpoints, signer_from_pem

DATA = {"BTCUSDT": bundled.BTCUSDT_FEED, "ETHUSDT": bundled.ETHUSDT_FEED}
LIBRARY = pathlib.Path(__file__).resolve().parents[2] / "dsl" / "library"


def _collector(cid, redis_url, prefix, sim, log):
    cmd = [sys.executable, "-m", "pyengine.cli", "collect", "--redis", redis_url,
           "--symbols", ",".join(DATA), "--hot", ",".join(DATA), "--id", cid,
           "--prefix", prefix, "--source", sim.stream_url, "--rest-url", sim.rest_url,
           "--streams", "depth@100ms,trade", "--lease-ms", "1000", "--heartbeat-ms", "200"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def _until(predicate, step=None):
    with trio.fail_after(90):            # a hang guard, not a measurement
        while not predicate():
            if step is not None:
                await step()
            await trio.sleep(0.05)


def _config(tmp_path):
    cfg = default_config()
    cfg.journal.path = tmp_path / "journal.sqlite"
    cfg.telemetry.sqlite.path = str(tmp_path / "telemetry.sqlite")
    cfg.telemetry.dashboard.enabled = False
    return cfg


async def test_engine_on_redis_feed_survives_a_collector_kill(redis_url, tmp_path, monkeypatch):
    prefix = f"e{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(redis_url)
    seen: list = []                          # what the engine's feed processed, in order
    process = StreamMarketData._process

    def record(self, item):
        seen.append(item)
        process(self, item)

    monkeypatch.setattr(StreamMarketData, "_process", record)
    log = open(tmp_path / "collectors.log", "w")
    procs = []

    def owner(symbol):
        return (r.get(owner_key(prefix, (symbol, 0))) or b"").decode()

    async with running_sim(speed="manual", data=DATA) as sim:
        async def tick():                        # market time moves only when we say so
            await sim.advance(250)

        procs += [_collector("A", redis_url, prefix, sim, log),
                  _collector("B", redis_url, prefix, sim, log)]
        await _until(lambda: all(r.exists(snapshot_key(prefix, s)) for s in DATA))
        strategies = [StrategySpec("ma_fast", LIBRARY / "dual_ma_trend.pine", list(DATA), "1s",
                                   "trades", {"Fast EMA": 3, "Slow EMA": 8})]
        engine = Engine(_config(tmp_path), Endpoints.local(sim.rest_url, sim.ws_api_url,
                                                           sim.stream_url, "sim"),
                        signer_from_pem(sim.ed25519_key.key, sim.ed25519_key.private_pem),
                        strategies, list(DATA),
                        options=EngineOptions(status_every_s=0, handle_signals=False,
                                              feed=redis_url, feed_prefix=prefix))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.run)
            await _until(lambda: engine.ready.is_set())
            md = engine.md
            await _until(lambda: all(md.book(s).synced for s in DATA), tick)
            for _ in range(80):                   # 20 s of market
                await tick()
                await trio.sleep(0.02)
            victim = owner("BTCUSDT")
            i = "AB".index(victim)
            procs[i].send_signal(signal.SIGKILL)
            await trio.to_thread.run_sync(procs[i].wait)
            for _ in range(8):                    # market moves on while nobody publishes it
                await tick()
                await trio.sleep(0.05)
            await _until(lambda: owner("BTCUSDT") not in ("", victim), tick)
            await _until(lambda: md.book("BTCUSDT").synced, tick)
            procs[i] = _collector(victim, redis_url, prefix, sim, log)
            for _ in range(120):                  # 30 s more, across the restart
                await tick()
                await trio.sleep(0.02)
            # the last diffs reach the engine: its books are the simulator's (a symbol
            # handed over at the end shows its gap with the next diff: keep the market moving)
            for _ in range(60):
                await tick()
                with trio.move_on_after(5):
                    while not all(md.book(s).synced and md.book(s).last_update_id
                                  == sim.markets[s].book.last_update_id for s in DATA):
                        await trio.sleep(0.05)
                    break
            else:
                raise AssertionError("the engine's books never caught up with the simulator's")
            engine.root.request_shutdown("test done")
    for p in procs:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    log.close()

    for s in DATA:
        # the top 500 levels (the collectors' snapshots hold 1000); the levels our own orders
        # took liquidity from (and no recorded diff has set since) differ by what only the
        # venue knows
        market = sim.markets[s]
        taken = {(side, market.to_book([(p, 0)])[0][0]) for side, p in market.consumed}
        for side in (BID, ASK):
            mine = [lv for lv in md.book(s).top(side, 500) if (side, lv[0]) not in taken]
            theirs = [lv for lv in market.book.top(side, 500) if (side, lv[0]) not in taken]
            assert len(mine) > 400 and mine == theirs, (s, side)
    gaps = [g for g in seen if isinstance(g, Gap)]
    events = [e for e in seen if not isinstance(e, Gap)]
    assert any(g.symbol == "BTCUSDT" and g.kind == "depth" for g in gaps), gaps
    assert md.sync.snapshots >= 3             # two at start, one (at least) after the kill
    # no gap unnoticed: every hole in what the engine received was reported before it
    for s in DATA:
        for kind in ("depth", "trade"):
            last = reported = None
            for item in seen:
                if item.symbol != s or item.kind != kind or getattr(item, "entry", kind) != kind:
                    continue
                if isinstance(item, Gap):
                    reported = item
                    continue
                if last is not None and item.first > last + 1:
                    assert reported is not None and reported.expected == last + 1 \
                        and reported.got == item.first, f"{s} {kind}: {last + 1}..{item.first - 1}"
                last, reported = item.last, None
    assert {e.source for e in events} == {"A", "B"}
    assert engine.execution.counts["sent"] >= 1, "orders went to the venue"


def test_run_feed_arguments(tmp_path, capsys):
    from pyengine.cli import main
    assert main(["run", "--feed", "redis://127.0.0.1:6379/0"]) == 2
    assert "--feed needs --config" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "x.toml"), "--feed", "http://cache:6379"]) == 2
    assert "--feed http://cache:6379: expected a Redis URL" in capsys.readouterr().err
