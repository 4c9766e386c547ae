"""Two `pyengine collect` processes and one consuming engine over a real Redis: a collector is
killed and restarted, its symbols are taken over, and every gap it caused is reported."""
from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid

import redis
import trio

from pyengine import bundled, recording
from pyengine.recording import RecordingWriter
from pyengine.scaleout import Gap, RecordingSource, consume
from pyengine.scaleout.collector import owner_key

SYMBOLS = ["BTCUSDT", "ETHUSDT", "NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"]
HOT = {"BTCUSDT", "ETHUSDT"}
SECONDS = 60          # of the BTCUSDT/ETHUSDT recordings: 15 s at SPEED, time for a restart
SPEED = 4


def _sources(tmp_path):
    hot, cold = tmp_path / "hot", tmp_path / "cold"
    for src in (bundled.BTCUSDT_FEED, bundled.ETHUSDT_FEED):
        records = recording.records(src)
        first = next(records)
        with RecordingWriter(hot, prefix=src.name.split("_")[2]) as w:
            for r in itertools.chain([first], records):
                if r.recv_ts_ns - first.recv_ts_ns > SECONDS * 10**9:
                    break
                w.write(r.msg, recv_ts_ns=r.recv_ts_ns, url=r.url)
    cold.mkdir()
    for name in ("binance_spot_multi_20211012_ws.jsonl",
                 "binance_spot_multi_20211012_depth_snapshots.jsonl"):
        shutil.copy(bundled.ROOT / "feeds" / name, cold)
    return [hot, cold]


def _start(cid, redis_url, prefix, sources, log):
    cmd = [sys.executable, "-m", "pyengine.cli", "collect", "--redis", redis_url,
           "--symbols", ",".join(SYMBOLS), "--id", cid, "--prefix", prefix,
           "--speed", str(SPEED), "--lease-ms", "1000", "--heartbeat-ms", "200"]
    for s in sources:
        cmd += ["--source", str(s)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _truth(sources):
    """Per (symbol, kind with consecutive ids): every (first, last) the recordings hold."""
    out: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for src in sources:
        for f in RecordingSource(src).frames():
            n = f.norm
            if n.entry in ("depth", "trade", "aggTrade"):
                out.setdefault((n.symbol, n.kind), []).append((n.first, n.last))
    return out


async def _until(predicate, what):
    with trio.fail_after(90):            # a hang guard, not a measurement
        while not predicate():
            await trio.sleep(0.05)


async def test_kill_and_restart_a_collector_no_gap_unnoticed(redis_url, tmp_path):
    sources = _sources(tmp_path)
    prefix = f"c{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(redis_url)
    log = open(tmp_path / "collectors.log", "w")
    items: list = []

    async def engine():
        async for item in consume(redis_url, SYMBOLS, prefix=prefix, start="0", block_ms=200):
            items.append(item)

    def owners():
        return {s: (r.get(owner_key(prefix, (s, 0))) or b"").decode() for s in SYMBOLS}

    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine)
        a = _start("A", redis_url, prefix, sources, log)
        b = _start("B", redis_url, prefix, sources, log)
        await _until(lambda: sum(getattr(i, "source", "") == "A" and i.symbol in HOT
                                 for i in items) >= 50, "A publishing a hot symbol")
        held_by_a = {s for s, o in owners().items() if o == "A"}
        a.send_signal(signal.SIGKILL)
        await trio.to_thread.run_sync(a.wait)
        await _until(lambda: all(owners()[s] == "B" for s in held_by_a), "B taking over")
        a2 = _start("A", redis_url, prefix, sources, log)
        out_b, _ = await trio.to_thread.run_sync(b.communicate)
        out_a2, _ = await trio.to_thread.run_sync(a2.communicate)
        count = -1
        while count != len(items):                 # let the engine read what is left
            count = len(items)
            await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    log.close()
    assert b.returncode == 0 and a2.returncode == 0, (tmp_path / "collectors.log").read_text()

    summary_b, summary_a2 = (json.loads(out.strip().splitlines()[-1]) for out in (out_b, out_a2))
    assert summary_a2["published"], "the restarted collector got symbols handed back"
    assert held_by_a and held_by_a <= set(SYMBOLS)
    assert summary_b["claimed"] > 3                      # it took A's symbols over

    gaps = [i for i in items if isinstance(i, Gap)]
    events = [i for i in items if not isinstance(i, Gap)]
    assert not [g for g in gaps if g.level == "stream"]
    # the hot symbol A held lost messages while nobody published it: reported
    assert held_by_a & HOT
    assert any(g.symbol in held_by_a & HOT and g.kind == "depth" for g in gaps)

    for (symbol, kind), truth in _truth(sources).items():
        delivered = [(e.first, e.last) for e in events
                     if e.symbol == symbol and e.kind == kind and e.entry == kind]
        if not delivered:
            continue
        assert delivered == sorted(set(delivered)), f"{symbol} {kind}: out of order or repeated"
        assert set(delivered) <= set(truth)
        lo, hi = truth.index(delivered[0]), truth.index(delivered[-1])
        missing = [t for t in truth[lo:hi + 1] if t not in set(delivered)]
        mine = [g for g in gaps if g.symbol == symbol and g.kind == kind]
        for first, last in missing:       # no gap unnoticed
            assert any(g.expected <= first and last < g.got for g in mine), \
                f"{symbol} {kind}: {first}..{last} missing but not reported"
        for g in mine:                    # and no gap reported that did not happen
            assert any(g.expected <= first and last < g.got for first, last in missing), str(g)
