"""Runs the gate of a sanitized build (argv[1] holds _core_asan) on random and extreme
inputs; any ASan/UBSan report aborts the process."""
import importlib
import random
import sys

sys.path.insert(0, sys.argv[1])
core = importlib.import_module("_core_asan")
ffi, lib = core.ffi, core.lib

EXTREMES = [0, 1, -1, 2**50, 2**50 + 1, 2**62, -(2**62), 2**63 - 1, -(2**63)]


def value(rng):
    return rng.choice(EXTREMES) if rng.random() < 0.3 else rng.randrange(0, 10**9)


def main():
    rng = random.Random(1234)
    r = ffi.new("pe_risk *")
    res = ffi.new("pe_risk_result *")
    book = lib.pe_book_new(2, 5)
    lib.pe_book_snapshot_begin(book, 1)
    lib.pe_book_snapshot_level(book, lib.PE_BID, 6_000_000, 100_000)
    lib.pe_book_snapshot_level(book, lib.PE_ASK, 6_000_100, 50_000)
    lib.pe_book_snapshot_end(book)
    lib.pe_book_diff_begin(book, 2, 2)
    lib.pe_book_diff_end(book)
    for n in range(200_000):
        if n % 1000 == 0:        # a new random account now and then, extremes included
            for f in ("trade_loss_bps", "day_loss_bps", "week_loss_bps", "exposure_bps"):
                setattr(r, f, rng.choice([1, 100, 300, 7000]))
            r.fee_bps, r.stop_slip_bps = rng.choice([0, 10]), rng.choice([0, 10])
            r.default_stop_bps, r.price_band_bps = rng.choice([1, 200]), rng.choice([1, 500])
            r.stale_ns, r.max_per_second, r.max_per_10s = 5 * 10**9, 5, 40
            r.max_per_day, r.state, r.n_symbols = 1000, rng.choice([0, 1, 2]), 2
            r.equity = rng.choice([0, -5, 10**12, 10**15, 2**62])
            r.day_start_equity = r.week_start_equity = rng.choice([1, 10**12, 10**15, 2**62])
            r.deployed, r.open_risk_k = rng.choice([0, 10**14, 2**62]), rng.choice([0, 2**62])
            r.next_rollover_ns = 2**62
            for i in range(2):
                s = r.sym[i]
                s.allowed, s.quote_mul = 1, rng.choice([1, 10])
                s.tick, s.step, s.min_qty = rng.choice([0, 1, 5]), rng.choice([0, 1, 10]), 0
                s.min_notional, s.max_notional = rng.choice([0, 10**9]), rng.choice([0, 10**14])
                s.bid_up_bps = s.ask_up_bps = rng.choice([0, 50000])
                s.bid_down_bps = s.ask_down_bps = rng.choice([0, 2000])
                s.pos_qty, s.open_sell_qty = rng.choice([0, 10**6, 2**62]), 0
                s.mark = rng.choice([0, 6_000_000, 2**50])
        args = (rng.choice([0, 1, 2, -1]), rng.choice([0, 1, 2]), rng.choice([0, 1, 2, 3]),
                rng.choice([0, 1, 2, 3]), value(rng), value(rng), value(rng))
        lib.pe_risk_check(r, *args, value(rng), value(rng), value(rng), value(rng),
                          rng.choice([0, 1]), value(rng), value(rng), value(rng), res)
        lib.pe_risk_check_book(r, book, *args, value(rng), value(rng), value(rng), res)
        if r.ring_head > 10**6:
            r.ring_head = 0
    # a healthy account and book, then the clocks at their extremes
    r.state, r.equity, r.deployed, r.open_risk_k, r.ring_head = 0, 10**12, 0, 0, 0
    r.day_start_equity = r.week_start_equity = 10**12
    for now, updated, wall in ((2**63 - 1, -(2**63), 0), (-(2**63), 2**63 - 1, 0),
                               (2**63 - 1, 2**63 - 1, -(2**63)), (0, 0, 2**63 - 1)):
        for fn_args in ((r, 0, 0, 0, 1, 6_000_000, 100, 0, 5_999_999, 6_000_001, 0, 0, 1,
                         updated, now, wall, res),):
            lib.pe_risk_check(*fn_args)
            lib.pe_risk_check(r, 0, 1, 1, 0, 0, 100, 0, 5_999_999, 6_000_001, 0, 0, 1,
                              updated, now, wall, res)
        lib.pe_risk_check_book(r, book, 0, 0, 1, 1, 0, 100, 0, updated, now, wall, res)
    lib.pe_book_free(book)
    print("risk-asan-driver-ok")


main()
