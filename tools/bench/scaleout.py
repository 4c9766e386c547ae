"""Scale-out and recording benchmark on the real BTCUSDT recording (bundled, 2024-08-08/09).

Measured in one run, so the ratios compare like with like on a noisy machine:
  * recording reader: ``pyengine.recording.frames`` vs a naive line-by-line reader
    (gzip lines, byte slicing) over the whole file;
  * publishing into Redis Streams: the cold path (pipelined batches) vs the hot path (one
    round trip per message), messages per second;
  * publish-to-consumer latency at a paced rate: hot vs cold (cold waits for its batch);
  * the consumer: read, de-duplicate and gap-check, messages per second.

    python tools/bench/scaleout.py --out bench-scaleout.json [--redis redis://...] [--n 20000]

Without ``--redis`` a private redis-server is started on a free loopback port.
"""
from __future__ import annotations

import argparse
import gzip
import contextlib
import itertools
import json
import platform
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid

import redis

from pyengine import bundled, recording
from pyengine.scaleout import Collector, Consumer, RecordingSource


@contextlib.contextmanager
def private_redis():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port),
                             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def line_frames(path):
    """The peer: slice each line's frame out of the wrapper, nothing else."""
    with gzip.open(path, "rb") as fh:
        for line in fh:
            start = line.index(b'"msg":') + 6
            yield int(line[14:line.index(b",")]), line[start:line.rindex(b"}")]


def bench_reader(rounds: int) -> dict:
    ours, peer = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        n = sum(1 for _ in recording.frames(bundled.BTCUSDT_FEED))
        ours.append(n / (time.perf_counter() - t))
        t = time.perf_counter()
        m = sum(1 for _ in line_frames(bundled.BTCUSDT_FEED))
        peer.append(m / (time.perf_counter() - t))
        assert n == m
    best, best_peer = max(ours), max(peer)
    return {"recording_read_msgs_per_s": round(best), "line_reader_msgs_per_s": round(best_peer),
            "recording_read_speedup": round(best / best_peer, 2), "recording_msgs": n}


def _collector(client, prefix, hot):
    c = Collector(client, ["BTCUSDT"], ["BTCUSDT"] if hot else [], collector_id="bench",
                  prefix=prefix, lease_ms=600_000, maxlen=1_000_000)
    c.tick()
    return c


def bench_publish(url: str, frames, rounds: int) -> dict:
    client = redis.Redis.from_url(url)
    out = {}
    for hot in (False, True):
        rates = []
        for _ in range(rounds):
            prefix = f"b{uuid.uuid4().hex[:8]}"
            c = _collector(client, prefix, hot)
            t = time.perf_counter()
            for f in frames:
                c.offer(f, 1e12)
            c.flush()
            rates.append(len(frames) / (time.perf_counter() - t))
            c.stop()
        out["publish_hot_msgs_per_s" if hot else "publish_cold_msgs_per_s"] = round(max(rates))
    out["publish_cold_over_hot"] = round(out["publish_cold_msgs_per_s"]
                                         / out["publish_hot_msgs_per_s"], 2)
    return out


def bench_consume(url: str, frames, rounds: int) -> dict:
    client = redis.Redis.from_url(url)
    prefix = f"b{uuid.uuid4().hex[:8]}"
    c = _collector(client, prefix, False)
    for f in frames:
        c.offer(f, 1e12)
    c.flush()
    rates = []
    for _ in range(rounds):
        consumer = Consumer(url, ["BTCUSDT"], prefix=prefix, start="0", block_ms=1, count=5000)
        t = time.perf_counter()
        n = 0
        while batch := consumer.poll():
            n += len(batch)
        rates.append(n / (time.perf_counter() - t))
        assert n == len(frames), (n, len(frames))
        consumer.close()
    return {"consume_msgs_per_s": round(max(rates))}


def bench_latency(url: str, frames, n: int, interval_s: float) -> dict:
    """Each message is published at a paced rate; the consumer notes when it sees it."""
    out = {}
    client = redis.Redis.from_url(url)
    for hot in (True, False):
        prefix = f"b{uuid.uuid4().hex[:8]}"
        c = _collector(client, prefix, hot)
        consumer = Consumer(url, ["BTCUSDT"], ["trade"], prefix=prefix, start="$", block_ms=200)
        trades = [f for f in frames if f.norm.kind == "trade"][:n]
        sent: dict[int, int] = {}
        seen: dict[int, int] = {}
        done = threading.Event()

        def read():
            while True:
                batch = consumer.poll()
                for ev in batch:
                    seen[ev.first] = time.perf_counter_ns()
                if done.is_set() and not batch:
                    break

        reader = threading.Thread(target=read)
        reader.start()
        next_t = time.perf_counter()
        for f in trades:
            # sleep, not spin: a spinning sender would starve the reader thread of the GIL
            while (delay := next_t - time.perf_counter()) > 0:
                time.sleep(min(delay, c.batch_s / 4))
                c.flush_if_due()
            sent[f.norm.first] = time.perf_counter_ns()
            c.offer(f, 1e12)
            next_t += interval_s
        end = time.perf_counter() + 0.5
        while time.perf_counter() < end:
            time.sleep(c.batch_s / 4)
            c.flush_if_due()
        done.set()
        reader.join()
        lat = sorted((seen[k] - sent[k]) / 1000 for k in sent if k in seen)
        name = "hot" if hot else "cold"
        out[f"{name}_latency_p50_us"] = round(statistics.median(lat), 1)
        out[f"{name}_latency_p99_us"] = round(lat[int(len(lat) * 0.99) - 1], 1)
        out[f"{name}_latency_samples"] = len(lat)
        c.stop()
        consumer.close()
    out["cold_over_hot_latency_p50"] = round(out["cold_latency_p50_us"]
                                             / out["hot_latency_p50_us"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--redis", help="redis://... (default: a private redis-server)")
    ap.add_argument("--n", type=int, default=20_000, help="frames to publish (default 20000)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-n", type=int, default=2000)
    ap.add_argument("--interval-ms", type=float, default=1.0)
    args = ap.parse_args()
    frames = list(itertools.islice(RecordingSource(bundled.BTCUSDT_FEED).frames(), args.n))
    result = {"machine": platform.machine(), "python": platform.python_version(),
              "frames": len(frames)}
    result.update(bench_reader(args.rounds))
    with (contextlib.nullcontext(args.redis) if args.redis else private_redis()) as url:
        result.update(bench_publish(url, frames, args.rounds))
        result.update(bench_consume(url, frames, args.rounds))
        result.update(bench_latency(url, frames, args.latency_n, args.interval_ms / 1000))
    for k, v in result.items():
        print(f"{k:32} {v}")
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
