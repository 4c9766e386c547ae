"""Driving a collector from recordings replayed as live, on a wall-clock epoch shared in Redis."""
from __future__ import annotations

import heapq
import json
import logging
import time
from collections.abc import Callable

import redis

from pyengine.scaleout.collector import Collector
from pyengine.scaleout.live import LiveSource
from pyengine.scaleout.sources import RecordingSource

log = logging.getLogger(__name__)


def shared_epoch(client: redis.Redis, prefix: str, proposal_s: float, ttl_s: float) -> float:
    """The wall time at which every recording starts, agreed by the first collector to ask."""
    key = f"{prefix}:epoch"
    client.set(key, repr(proposal_s), nx=True, px=int(ttl_s * 1000))
    return float(client.get(key))


def shared_hot_set(client: redis.Redis, prefix: str, proposal: list[str], ttl_s: float) -> set[str]:
    """The hot symbols, fixed by the first collector so that all collectors agree."""
    key = f"{prefix}:hot"
    client.set(key, json.dumps(sorted(proposal)), nx=True, px=int(ttl_s * 1000))
    return set(json.loads(client.get(key)))


def hot_by_volume(sources: list[RecordingSource], min_quote_volume_per_min: float) -> list[str]:
    rates: dict[str, float] = {}
    for src in sources:
        for sym, v in src.quote_volume_per_minute().items():
            rates[sym] = rates.get(sym, 0.0) + v
    return sorted(s for s, v in rates.items() if v >= min_quote_volume_per_min)


def run_recordings(collector: Collector, sources: list[RecordingSource], *, epoch_s: float,
                   speed: float, heartbeat_s: float,
                   should_stop: Callable[[], bool] = lambda: False,
                   on_tick: Callable[[], None] = lambda: None) -> None:
    """Publish the recordings' frames at ``epoch_s + offset / speed`` (wall time) until they
    end. Frames whose time has passed before this collector held their symbol are skipped,
    as a live connection would not have seen them. ``on_tick`` runs after every heartbeat."""
    frames = heapq.merge(*(s.frames() for s in sources), key=lambda f: f.offset_ns)
    next_tick = 0.0
    for frame in frames:
        due = epoch_s + frame.offset_ns / 1e9 / speed
        while True:
            now = time.time()
            if now >= next_tick:
                collector.tick()
                on_tick()
                next_tick = now + heartbeat_s
            if now >= due or should_stop():
                break
            collector.flush_if_due()
            time.sleep(max(0.0, min(due - now, next_tick - now, collector.batch_s)))
        if should_stop():
            break
        collector.offer(frame, due)
    collector.flush()


def run_live(collector: Collector, source: LiveSource, *, heartbeat_s: float,
             should_stop: Callable[[], bool] = lambda: False,
             on_tick: Callable[[], None] = lambda: None) -> None:
    """Publish a live source's frames until ``should_stop``; the source's subscriptions follow
    the symbols the collector holds (or is handing over)."""
    next_tick = 0.0
    while not should_stop():
        now = time.time()
        if now >= next_tick:
            collector.tick()
            on_tick()
            source.want(collector.symbols())
            next_tick = now + heartbeat_s
        frame = source.get(timeout=min(next_tick - now, collector.batch_s))
        if frame is not None:
            collector.offer(frame, frame.recv_ts_ns / 1e9)
        collector.flush_if_due()
    collector.flush()
