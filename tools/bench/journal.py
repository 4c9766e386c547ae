"""Cost of a durable order-intent write to the journal, in ns per intent.

Measured in the same run, in turns, on the same disk (a temporary directory next to the
output, or --dir):
  journal-normal    Journal.record_intent, synchronous="normal": the intent copied into the
                    memory-mapped intent log, no system call (survives kill -9); the database
                    gets it at the next flush
  journal-full      the same with synchronous="full": copy + msync (survives power loss)
  sqlite-commit     peer: the same row INSERTed and committed on its own in the same SQLite
                    schema, WAL + synchronous=NORMAL (what a "commit every intent" journal pays)
  file-write        peer: one os.write of the intent as a JSON line to an append-only file
  file-fsync        peer: os.write + os.fsync
  append            Journal.append: a non-critical record queued for the batch writer
  flush-per-record  Journal.flush of 100 queued records, divided by 100

    python tools/bench/journal.py --out bench-journal.json [--n 5000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from decimal import Decimal

import orjson

from pyengine.ids import client_order_id
from pyengine.journal import Journal

DATA = {"side": "BUY", "type": "LIMIT", "qty": Decimal("0.00100000"),
        "price": Decimal("61837.63000000"), "stop_price": None}


def pct(values: list[int], q: float) -> int:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def summary(lat: list[int]) -> dict[str, int]:
    return {"p50_ns": pct(lat, 0.5), "p99_ns": pct(lat, 0.99), "p999_ns": pct(lat, 0.999),
            "mean_ns": int(statistics.fmean(lat))}


def bench_journal(path: str, sync: str, n: int, start: int) -> list[int]:
    clock = time.perf_counter_ns
    lat = []
    with Journal(path, synchronous=sync) as j:
        for i in range(start, start + n):
            coid = client_order_id("bench", "BTCUSDT", i)
            t0 = clock()
            j.record_intent(coid, strategy_id="bench", symbol="BTCUSDT", data=DATA)
            lat.append(clock() - t0)
    return lat


def bench_sqlite_commit(path: str, n: int) -> list[int]:
    clock = time.perf_counter_ns
    lat = []
    with Journal(path) as j:          # for its schema and pragmas
        c = j._conn
        for i in range(n):
            coid = client_order_id("bench", "BTCUSDT", i)
            t0 = clock()
            c.execute("INSERT INTO records (kind, wall_ms, mono_ns, strategy_id, symbol, "
                      "client_order_id, trade_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      ("intent", time.time_ns() // 1_000_000, time.monotonic_ns(), "bench",
                       "BTCUSDT", coid, None, orjson.dumps(DATA, default=str).decode()))
            lat.append(clock() - t0)
    return lat


def bench_file(path: str, fsync: bool, n: int) -> list[int]:
    clock = time.perf_counter_ns
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    lat = []
    try:
        for i in range(n):
            coid = client_order_id("bench", "BTCUSDT", i)
            t0 = clock()
            line = orjson.dumps({"coid": coid, **DATA}, default=str) + b"\n"
            os.write(fd, line)
            if fsync:
                os.fsync(fd)
            lat.append(clock() - t0)
    finally:
        os.close(fd)
    return lat


def bench_append(path: str, n: int) -> tuple[list[int], list[int]]:
    clock = time.perf_counter_ns
    append_lat, flush_lat = [], []
    with Journal(path) as j:
        for i in range(n):
            t0 = clock()
            j.append("ack", {"orderId": i, "status": "NEW"}, symbol="BTCUSDT",
                     client_order_id="c")
            append_lat.append(clock() - t0)
            if i % 100 == 99:
                t0 = clock()
                j.flush()
                flush_lat.append((clock() - t0) // 100)
    return append_lat, flush_lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--n-fsync", type=int, default=500, help="writes per round with fsync")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    args = ap.parse_args()
    results: dict[str, list[int]] = {k: [] for k in (
        "journal-normal", "journal-full", "sqlite-commit", "file-write", "file-fsync",
        "append", "flush-per-record")}
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        for r in range(args.rounds):
            results["journal-normal"] += bench_journal(f"{d}/n{r}.sqlite", "normal", args.n, 0)
            results["sqlite-commit"] += bench_sqlite_commit(f"{d}/c{r}.sqlite", args.n)
            results["file-write"] += bench_file(f"{d}/w{r}.log", False, args.n)
            results["journal-full"] += bench_journal(f"{d}/f{r}.sqlite", "full", args.n_fsync, 0)
            results["file-fsync"] += bench_file(f"{d}/s{r}.log", True, args.n_fsync)
            a, f = bench_append(f"{d}/a{r}.sqlite", args.n)
            results["append"] += a
            results["flush-per-record"] += f
    out = {name: summary(lat) | {"samples": len(lat)} for name, lat in results.items()}
    out["ratios"] = {
        "sqlite_commit_vs_journal_normal_p50": round(out["sqlite-commit"]["p50_ns"]
                                                     / out["journal-normal"]["p50_ns"], 2),
        "journal_normal_vs_file_write_p50": round(out["journal-normal"]["p50_ns"]
                                                  / out["file-write"]["p50_ns"], 2),
        "journal_full_vs_file_fsync_p50": round(out["journal-full"]["p50_ns"]
                                                / out["file-fsync"]["p50_ns"], 2),
        "journal_full_vs_normal_p50": round(out["journal-full"]["p50_ns"]
                                            / out["journal-normal"]["p50_ns"], 2),
    }
    out["machine"] = {"python": platform.python_version(), "platform": platform.platform(),
                      "cpus": os.cpu_count()}
    for name, s in out.items():
        if name in ("ratios", "machine"):
            continue
        print(f"{name:<18} p50 {s['p50_ns'] / 1000:9.1f} us   p99 {s['p99_ns'] / 1000:9.1f} us"
              f"   p99.9 {s['p999_ns'] / 1000:9.1f} us   ({s['samples']} samples)")
    for k, v in out["ratios"].items():
        print(f"{k}: {v}")
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
