"""Order-book benchmark on the real BTCUSDT recording (bundled, 2024-08-08/09).

Every depth diff after the snapshot is applied and the top of book is read after each
message, as a strategy would, through:
  (a) ours: raw frame bytes -> C parser -> C book (pyengine.book.Feed)
  (b) orjson + sortedcontainers.SortedDict (float keys)
  (c) orjson + the `order-book` C extension (bmoscon; GPL-3, benchmark only)
All three run in one process, in turns, so the ratios are comparable on a noisy machine.

    python tools/bench/book.py --out bench-book.json [--rounds 5]
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
import tracemalloc

import orjson

from pyengine import bundled
from pyengine.book import Feed
from pyengine.recording import depth_session


def run_ours(snapshot, diffs, spec):
    """The new top of book comes back in the parsed message itself."""
    feed = Feed([spec])
    book = feed.book(spec.symbol)
    book.load_snapshot(snapshot)
    on_message = feed.on_message
    clock = time.perf_counter_ns
    lat = []
    append = lat.append
    for raw in diffs:
        t0 = clock()
        m = on_message(raw)
        top = m.bid_px, m.bid_qty, m.ask_px, m.ask_qty
        append(clock() - t0)
    assert top == (*book.best_bid(), *book.best_ask())
    return lat, book.memory_bytes(), (book.best_bid(), book.best_ask())


def run_ours_queries(snapshot, diffs, spec):
    """The same, but asking the book with two more calls after each message."""
    feed = Feed([spec])
    book = feed.book(spec.symbol)
    book.load_snapshot(snapshot)
    on_message, best_bid, best_ask = feed.on_message, book.best_bid, book.best_ask
    clock = time.perf_counter_ns
    lat = []
    for raw in diffs:
        t0 = clock()
        on_message(raw)
        best_bid()
        best_ask()
        lat.append(clock() - t0)
    return lat


def run_sorted(snapshot, diffs):
    from sortedcontainers import SortedDict
    snap = orjson.loads(snapshot)
    bids = SortedDict({float(p): float(q) for p, q in snap["bids"]})
    asks = SortedDict({float(p): float(q) for p, q in snap["asks"]})
    clock = time.perf_counter_ns
    lat = []
    for raw in diffs:
        t0 = clock()
        d = orjson.loads(raw)["data"]
        for side, levels in ((bids, d["b"]), (asks, d["a"])):
            for p, q in levels:
                price, qty = float(p), float(q)
                if qty == 0.0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        bids.peekitem(-1)
        asks.peekitem(0)
        lat.append(clock() - t0)
    return lat, (bids.peekitem(-1), asks.peekitem(0))


def run_order_book(snapshot, diffs):
    from order_book import OrderBook
    snap = orjson.loads(snapshot)
    ob = OrderBook()
    for p, q in snap["bids"]:
        ob.bids[float(p)] = float(q)
    for p, q in snap["asks"]:
        ob.asks[float(p)] = float(q)
    clock = time.perf_counter_ns
    lat = []
    for raw in diffs:
        t0 = clock()
        d = orjson.loads(raw)["data"]
        for side, levels in ((ob.bids, d["b"]), (ob.asks, d["a"])):
            for p, q in levels:
                price, qty = float(p), float(q)
                if qty == 0.0:
                    if price in side:
                        del side[price]
                else:
                    side[price] = qty
        ob.bids.index(0)
        ob.asks.index(0)
        lat.append(clock() - t0)
    return lat, (ob.bids.index(0), ob.asks.index(0))


def peak_python_memory(fn, *args):
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    spec = bundled.symbol_specs()["BTCUSDT"]
    snapshot, diffs = depth_session(bundled.BTCUSDT_FEED)
    levels = sum(len(v) for d in diffs for v in (orjson.loads(d)["data"]["b"], orjson.loads(d)["data"]["a"]))
    ours, ours_q, sorted_, ob = [], [], [], []
    gc.disable()
    try:
        for _ in range(args.rounds):
            lat, mem, top_ours = run_ours(snapshot, diffs, spec)
            ours += lat
            ours_q += run_ours_queries(snapshot, diffs, spec)
            lat, top_sorted = run_sorted(snapshot, diffs)
            sorted_ += lat
            lat, _ = run_order_book(snapshot, diffs)
            ob += lat
    finally:
        gc.enable()
    # the three books must agree on the final top of book
    assert float(spec.price(top_ours[0][0])) == top_sorted[0][0], (top_ours, top_sorted)
    assert float(spec.price(top_ours[1][0])) == top_sorted[1][0]
    mean = statistics.fmean
    result = {
        "messages": len(diffs),
        "rounds": args.rounds,
        "levels_per_msg": round(levels / len(diffs), 1),
        "ns_per_msg": {"ours": round(mean(ours)), "ours_with_query_calls": round(mean(ours_q)),
                       "sortedcontainers": round(mean(sorted_)),
                       "order_book": round(mean(ob))},
        "p50_ns": pct(ours, 0.5), "p99_ns": pct(ours, 0.99), "p999_ns": pct(ours, 0.999),
        "speedup_vs_sortedcontainers": round(mean(sorted_) / mean(ours), 1),
        "speedup_vs_order_book": round(mean(ob) / mean(ours), 1),
        "peak_memory_bytes": {"ours_c_book": mem,
                              "sortedcontainers_python_heap": peak_python_memory(run_sorted, snapshot, diffs),
                              "order_book_python_heap": peak_python_memory(run_order_book, snapshot, diffs)},
        "machine": platform.machine(), "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
