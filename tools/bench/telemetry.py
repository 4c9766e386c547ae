"""Does telemetry slow trading? A tick-to-order-like hot loop (raw bookTicker/trade frame
from the bundled BTCUSDT recording -> C parser -> decision -> order message bytes) runs
paced at ~20,000 frames/s in a trio task, in rotating blocks of three modes:

  bare            the hot loop with no instrumentation at all (shows what recording costs)
  baseline        the hot loop recording its tick-to-order histogram and counters, as the
                  engine always does; no telemetry load
  with-telemetry  the same loop while the full Telemetry service runs beside it: a task
                  emitting 10,000 telemetry events/s (plus counters, gauges and dashboard
                  updates), the 1 s rollup, the SQLite sink writing in its worker thread,
                  the dashboard server

Per-iteration latency (perf_counter_ns around one frame's work) goes into a separate C
histogram per mode. Blocks rotate so drift and noise hit every mode alike. Reports
``p99_increase_pct`` = (p99 with-telemetry / p99 baseline - 1) * 100, the effect of the
telemetry load, and ``instrumentation_p50_cost_ns`` = p50 baseline - p50 bare.

    python tools/bench/telemetry.py --out bench-telemetry.json [--blocks 6] [--block-s 2]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import tempfile
import time

import orjson
import trio

from pyengine import bundled
from pyengine._core import ffi, lib
from pyengine.telemetry import Telemetry, TelemetryConfig
from pyengine.telemetry.config import DashboardConfig, SqliteConfig
from pyengine.telemetry.histogram import LatencyHistogram

FRAMES_PER_MS = 20        # ~20,000 frames/s
EVENTS_PER_MS = 10        # 10,000 telemetry events/s


def load_frames() -> list[bytes]:
    frames = []
    with gzip.open(bundled.BTCUSDT_FEED, "rb") as f:
        for line in f:
            if b"@bookTicker" in line or b"@trade" in line:
                frames.append(orjson.dumps(orjson.loads(line)["msg"]))
    return frames


class HotLoop:
    """The per-frame work of the engine's hot path, minus the socket and the signature."""

    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames
        self.feed = ffi.gc(lib.pe_feed_new(), lib.pe_feed_free)
        if lib.pe_feed_add_symbol(self.feed, b"BTCUSDT", 2, 5) < 0:
            raise RuntimeError("pe_feed_add_symbol failed")
        self.msg = ffi.new("pe_msg *")
        self.i = 0
        self.mid_ema = 0
        self.order_id = 0
        self.sent = 0

    def step(self) -> bytes | None:
        frame = self.frames[self.i]
        self.i = (self.i + 1) % len(self.frames)
        msg = self.msg
        if lib.pe_feed_on_message(self.feed, frame, len(frame), msg) < 0:
            return None
        if msg.kind == lib.PE_MSG_BOOKTICKER:
            mid = (msg.bid_px + msg.ask_px) // 2
            self.mid_ema = mid if not self.mid_ema else self.mid_ema + (mid - self.mid_ema) // 16
            if mid < self.mid_ema - 100:      # 1 USDT under the average: "buy"
                self.order_id += 1
                return (b'{"id":"%d","method":"order.place","params":{"symbol":"BTCUSDT","side":"BUY",'
                        b'"type":"LIMIT","timeInForce":"IOC","price":"%d.%02d","quantity":"0.00100"}}'
                        % (self.order_id, msg.ask_px // 100, msg.ask_px % 100))
        return None


async def hot_block(loop: HotLoop, latency: LatencyHistogram, seconds: float, tel: Telemetry | None) -> int:
    """``tel`` None: bare loop; otherwise the loop records into ``tel``'s metrics."""
    perf = time.perf_counter_ns
    tto = tel.histogram("tick_to_order") if tel else None
    frames_in = tel.counter("feed_messages", feed="btcusdt") if tel else None
    orders = tel.counter("orders_sent", symbol="BTCUSDT") if tel else None
    n = 0
    deadline = trio.current_time() + seconds
    next_at = trio.current_time()
    while trio.current_time() < deadline:
        for _ in range(FRAMES_PER_MS):
            start = perf()
            order = loop.step()
            if tel is not None:
                frames_in.inc()
                if order is not None:
                    orders.inc()
                    tto.record(perf() - start)
            latency.record(perf() - start)
            n += 1
        next_at += 0.001
        await trio.sleep_until(next_at)
    return n


async def emitter(tel: Telemetry, stats: dict) -> None:
    """10,000 telemetry events per second, plus the counters/gauges/dashboard updates an
    engine would make."""
    next_at = trio.current_time()
    i = stats["events"]
    fills = tel.counter("fills", symbol="BTCUSDT")
    equity = tel.gauge("equity")
    while True:
        for _ in range(EVENTS_PER_MS):
            tel.event("md_stat", {"seq": i, "spread": 0.01, "qty": 0.001}, symbol="BTCUSDT")
            i += 1
        fills.inc()
        equity.set(10_000.0 + (i % 1000) / 100)
        if i % 1000 == 0:
            ts_ms = time.time_ns() // 1_000_000
            tel.dashboard.set_pnl(ts_ms, 10_000.0 + (i % 1000) / 100, 0.0, (i % 1000) / 100)
            tel.dashboard.add_price("BTCUSDT", ts_ms, 61_837.63)
        stats["events"] = i
        next_at += 0.001
        await trio.sleep_until(next_at)


async def run(blocks: int, block_s: float, workdir: str) -> dict:
    frames = load_frames()
    loop = HotLoop(frames)
    hists = {"bare": LatencyHistogram(), "baseline": LatencyHistogram(), "with_telemetry": LatencyHistogram()}
    counts = dict.fromkeys(hists, 0)
    stats = {"events": 0, "emitted_in_blocks": 0}
    tel_seconds = 0.0
    config = TelemetryConfig(sqlite=SqliteConfig(os.path.join(workdir, "bench.sqlite")),
                             dashboard=DashboardConfig(port=0))
    tel = Telemetry(config)
    # warm up caches and the allocator
    await hot_block(loop, LatencyHistogram(), 0.5, tel)
    async def with_load() -> None:
        nonlocal tel_seconds
        async with trio.open_nursery() as nursery:
            await nursery.start(tel.run)
            nursery.start_soon(emitter, tel, stats)
            await trio.sleep(0)
            events_before = stats["events"]
            t0 = time.monotonic()
            counts["with_telemetry"] += await hot_block(loop, hists["with_telemetry"], block_s, tel)
            tel_seconds += time.monotonic() - t0
            stats["emitted_in_blocks"] += stats["events"] - events_before
            nursery.cancel_scope.cancel()

    async def bare() -> None:
        counts["bare"] += await hot_block(loop, hists["bare"], block_s, None)

    async def baseline() -> None:
        counts["baseline"] += await hot_block(loop, hists["baseline"], block_s, tel)

    modes = [bare, baseline, with_load]
    for i in range(blocks):
        # rotate the order so that no mode always follows the same neighbour
        for mode in modes[i % 3:] + modes[:i % 3]:
            await mode()
    written = sum(w.written.value for w in tel.sink_workers)

    def summary(mode: str) -> dict:
        h, n = hists[mode], counts[mode]
        p50, p99, p999 = h.percentiles()
        return {"iterations": n, "p50_ns": p50, "p99_ns": p99, "p999_ns": p999, "max_ns": h.max,
                "frames_per_s": round(n / (blocks * block_s))}

    bare, b, t = summary("bare"), summary("baseline"), summary("with_telemetry")
    return {
        "benchmark": "telemetry load vs tick-to-order-like hot loop",
        "p99_increase_pct": round((t["p99_ns"] / b["p99_ns"] - 1) * 100, 2),
        "p50_increase_pct": round((t["p50_ns"] / b["p50_ns"] - 1) * 100, 2),
        "p999_increase_pct": round((t["p999_ns"] / b["p999_ns"] - 1) * 100, 2),
        "instrumentation_p50_cost_ns": b["p50_ns"] - bare["p50_ns"],
        "bare": bare,
        "baseline": b,
        "with_telemetry": {**t, "telemetry_events_per_s": round(stats["emitted_in_blocks"] / tel_seconds),
                           "events_dropped": tel.metrics.events.dropped, "sink_points_written": written},
        "blocks": blocks, "block_s": block_s,
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file for the figures")
    parser.add_argument("--blocks", type=int, default=6, help="rotations of the three modes (default 6)")
    parser.add_argument("--block-s", type=float, default=2.0, help="seconds per block (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pyengine-bench-telemetry-") as workdir:
        result = trio.run(run, args.blocks, args.block_s, workdir)
    bare, b, t = result["bare"], result["baseline"], result["with_telemetry"]
    print(f"bare hot loop        p50 {bare['p50_ns']:>7,} ns  p99 {bare['p99_ns']:>7,} ns"
          f"  p99.9 {bare['p999_ns']:>7,} ns  ({bare['iterations']:,} frames, no instrumentation)")
    print(f"baseline             p50 {b['p50_ns']:>7,} ns  p99 {b['p99_ns']:>7,} ns  p99.9 {b['p999_ns']:>7,} ns"
          f"  ({b['iterations']:,} frames, histogram + counters recorded, no telemetry load)")
    print(f"with telemetry       p50 {t['p50_ns']:>7,} ns  p99 {t['p99_ns']:>7,} ns  p99.9 {t['p999_ns']:>7,} ns"
          f"  ({t['iterations']:,} frames, {t['telemetry_events_per_s']:,} telemetry events/s,"
          f" {t['events_dropped']} dropped, {t['sink_points_written']:,} points to SQLite)")
    print(f"p99 increase from the telemetry load: {result['p99_increase_pct']:+.1f} %   (target <= 10 %);"
          f" recording itself costs {result['instrumentation_p50_cost_ns']} ns at p50"
          f"  [load average {result['load_average']:.1f} on {result['cpus']} CPUs]")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
