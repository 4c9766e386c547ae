"""Pre-trade risk check benchmark.

Walks the real ZECUSDT 1m closes (bundled) as the market, one order decision per bar
(entries sized by the gate, exits of the position, an oversized entry now and then),
and times every pre-trade check as the engine calls it (``RiskManager.check``: Python
wrapper + C gate). The peer, timed in the same run on the same orders and the same
account state, is the naive Decimal implementation of the same rules
(``risk.reference``). Fills, marks and releases between checks are not timed; the young
GC generation is emptied (untimed) before each timed call, so neither side pays for the
other's garbage.

    python tools/bench/risk.py --out bench-risk.json [--orders 20000]

A second series times ``RiskManager.check_book`` on a real C book (the REST snapshot of
the bundled BTCUSDT recording), entries of 0.001 to 1 BTC.
"""
from __future__ import annotations

import argparse
import csv
import gc
import gzip
import json
import os
import platform
import statistics
import sys
import time
from decimal import Decimal

# this file is named risk.py: make `import risk` find the package, not this script
sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyengine import bundled  # noqa: E402
from risk import (BUY, LIMIT, MARKET, RESIZE, SELL, MemoryRiskStore, Quote,  # noqa: E402
                  RiskConfig, RiskManager, load_exchange_info)
from risk.reasons import CODES  # noqa: E402
from risk.reference import from_gate, reference_check  # noqa: E402

MINUTE_NS = 60_000_000_000
TICK = Decimal("0.1")


def closes(limit: int) -> list[tuple[int, Decimal]]:
    rows = []
    with gzip.open(bundled.ZECUSDT_1M, "rt") as f:
        for row in csv.DictReader(f):
            # the bundled exchangeInfo (2021) has ZECUSDT's tick at 0.1; 2026 closes use 0.01
            rows.append((int(row["open_time"]) * 1_000_000, Decimal(row["close"]).quantize(TICK)))
            if len(rows) == limit:
                break
    return rows


def btc_book():
    """A C book loaded from the REST depth snapshot in the bundled BTCUSDT recording."""
    from pyengine._core import ffi, lib
    with gzip.open(bundled.BTCUSDT_FEED, "rt") as f:
        for line in f:
            msg = json.loads(line)["msg"]
            if "lastUpdateId" in msg:
                body = json.dumps(msg).encode()
                break
    book = lib.pe_book_new(2, 5)          # BTCUSDT's scales in the bundled exchangeInfo
    assert lib.pe_book_load_snapshot_json(book, body, len(body), ffi.new("size_t *")) == 0
    # the first diff after the snapshot makes it readable (the sync procedure)
    last = json.loads(body)["lastUpdateId"]
    assert lib.pe_book_diff_begin(book, last + 1, last + 1) == 0 and lib.pe_book_diff_end(book) == 0
    return book


def run_book(n_orders: int) -> dict:
    """rm.check_book: the quote (best prices, impact of the order's size on both sides)
    read from a real C book inside the gate call, as the engine's hot path does."""
    from pyengine._core import ffi, lib
    rules = load_exchange_info(bundled.EXCHANGE_INFO)
    wall = 1_723_161_600_000_000_000
    rm = RiskManager(RiskConfig(), rules, MemoryRiskStore(), wall_ns=wall,
                     initial_cash=Decimal("100000"))
    btc = rm.index("BTCUSDT")
    book = btc_book()
    best = ffi.new("int64_t[2]")
    lib.pe_book_best(book, lib.PE_ASK, best, best + 1)
    ask = best[0]
    timer, collect = time.perf_counter_ns, gc.collect
    times, codes = [], {}
    mono = 10 * MINUTE_NS
    for n in range(n_orders):
        mono += 250_000_000
        qty = 100 * (1 + n % 1000)                      # 0.001 .. 1 BTC
        market = n % 2 == 0
        collect(0)
        t0 = timer()
        code = rm.check_book(n, btc, BUY, MARKET if market else LIMIT, 0 if market else ask,
                             qty, 0, book, mono, mono, wall + mono, RESIZE)
        t1 = timer()
        times.append(t1 - t0)
        name = CODES[code]
        codes[name] = codes.get(name, 0) + 1
        if code == 0:
            rm.on_order_done(n)
    lib.pe_book_free(book)
    times.sort()
    return {"book_p50_ns": pct(times, 0.50), "book_p99_ns": pct(times, 0.99),
            "book_outcomes": codes}


def pct(sorted_ns: list[int], q: float) -> int:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))]


def run(n_orders: int) -> dict:
    rules = load_exchange_info(bundled.EXCHANGE_INFO)
    bars = closes(n_orders + 1)
    first_wall = bars[0][0]
    rm = RiskManager(RiskConfig(), rules, MemoryRiskStore(), wall_ns=first_wall,
                     initial_cash=Decimal("10000"))
    zec = rm.index("ZECUSDT")
    r = rules["ZECUSDT"]
    quote = Quote(synced=True)
    ours, peer, codes, mismatches = [], [], {}, 0
    mono = 10 * MINUTE_NS
    timer, cpu = time.perf_counter_ns, time.thread_time_ns
    collect = gc.collect
    ours_cpu: list[int] = []
    gc.collect()
    for n, (wall, close) in enumerate(bars[1:]):
        px = r.price(close)
        mono += MINUTE_NS
        quote.bid, quote.ask = px - r.tick, px
        quote.buy_impact = quote.sell_impact = r.tick
        quote.updated_ns = mono - 1_000_000
        for action in rm.on_mark(zec, px, wall):
            oid = f"p{n}"
            if rm.check(oid, zec, SELL, MARKET, 0, action.qty, 0, quote, mono, wall, 2) == 0:
                rm.on_fill(oid, rm.result.qty, quote.bid, wall)
        pos = rm.native.sym[zec].pos_qty
        if pos > 0 and n % 3 == 2:
            args = (SELL, LIMIT, px, pos - pos % r.step or pos, 0, RESIZE)
        else:
            want = Decimal(5000 if n % 7 else 50000) / close    # an oversized one now and then
            args = (BUY, LIMIT if n % 2 else MARKET, quote.bid if n % 2 else 0,
                    r.qty(want.quantize(Decimal(1).scaleb(-r.qty_scale))), 0, RESIZE)
        side, otype, price, qty, stop, flags = args
        acct, syms = from_gate(rm.native, rm.rules, rm.config.quote_scale)
        dec = (Decimal(price).scaleb(-r.price_scale), Decimal(qty).scaleb(-r.qty_scale),
               Decimal(quote.bid).scaleb(-r.price_scale), Decimal(quote.ask).scaleb(-r.price_scale),
               Decimal(quote.buy_impact).scaleb(-r.price_scale),
               Decimal(quote.sell_impact).scaleb(-r.price_scale))
        oid = f"o{n}"
        # start both timed calls with an empty young generation, so that neither pays
        # for a collection triggered by the other's (or the harness's) garbage
        collect(0)
        c0 = cpu()
        t0 = timer()
        code = rm.check(oid, zec, side, otype, price, qty, stop, quote, mono, wall, flags)
        t1 = timer()
        c1 = cpu()
        ours_cpu.append(c1 - c0)
        collect(0)
        t1b = timer()
        ref_code, ref_qty = reference_check(
            acct, syms[zec], "BUY" if side == BUY else "SELL",
            {LIMIT: "LIMIT", MARKET: "MARKET"}[otype], True, False, dec[0], dec[1], Decimal(0),
            dec[2], dec[3], dec[4], dec[5], True, quote.updated_ns, mono, wall)
        t2 = timer()
        ours.append(t1 - t0)
        peer.append(t2 - t1b)
        name = CODES[code]
        codes[name] = codes.get(name, 0) + 1
        got_qty = Decimal(rm.result.qty).scaleb(-r.qty_scale) if code == 0 else Decimal(0)
        if name != ref_code or got_qty != ref_qty:
            mismatches += 1
        if code == 0:
            fill_px = rm.result.price
            rm.on_fill(oid, rm.result.qty, fill_px, wall)
    ours.sort()
    peer.sort()
    ours_cpu.sort()
    return {
        "orders": len(ours),
        "p50_ns": pct(ours, 0.50), "p99_ns": pct(ours, 0.99), "p999_ns": pct(ours, 0.999),
        "mean_ns": round(statistics.fmean(ours)),
        # thread CPU time around the same calls (plus two clock reads): the work itself,
        # without the time the process spent preempted on a busy machine
        "cpu_p50_ns": pct(ours_cpu, 0.50), "cpu_p99_ns": pct(ours_cpu, 0.99),
        "peer": "naive Decimal implementation of the same rules (risk.reference)",
        "peer_p50_ns": pct(peer, 0.50), "peer_p99_ns": pct(peer, 0.99),
        "speedup_p50_vs_peer": round(pct(peer, 0.50) / pct(ours, 0.50), 1),
        "speedup_p99_vs_peer": round(pct(peer, 0.99) / pct(ours, 0.99), 1),
        "outcomes": codes,
        "disagreements_with_peer": mismatches,
        "final_state": rm.summary()["state"],
        "target_p99_ns": 5000,
        "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON file to write")
    ap.add_argument("--orders", type=int, default=20_000)
    args = ap.parse_args()
    result = run(args.orders)
    result.update(run_book(args.orders))
    for k, v in result.items():
        print(f"{k:>26}: {v}")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
