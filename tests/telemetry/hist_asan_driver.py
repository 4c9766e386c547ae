"""Run under AddressSanitizer/UBSan by test_hist_sanitize.py: random record / merge /
reset / quantile sequences over the whole value range, through a sanitized build."""
import importlib
import random
import sys

sys.path.insert(0, sys.argv[1])
core = importlib.import_module("_core_asan")
ffi, lib = core.ffi, core.lib

rng = random.Random(8)
hists = [lib.pe_hist_new() for _ in range(4)]
top = lib.pe_hist_max_trackable()
edges = [0, 1, 127, 128, 255, 256, 257, 511, 512, top - 1, top, top + 1, 2**62, 2**63 - 1]
qs = ffi.new("double[]", [0.0, 0.001, 50.0, 99.0, 99.9, 100.0])
out = ffi.new("int64_t[]", 6)
for step in range(200_000):
    h = rng.choice(hists)
    op = rng.random()
    if op < 0.80:
        v = rng.choice(edges) if rng.random() < 0.1 else int(rng.lognormvariate(9, 3)) % (2**63)
        assert lib.pe_hist_record_n(h, v, rng.randint(0, 3)) == 0
    elif op < 0.85:
        assert lib.pe_hist_record(h, -rng.randint(1, 2**62)) == lib.PE_HIST_ERR_NEGATIVE
    elif op < 0.92:
        assert lib.pe_hist_percentiles(h, qs, out, 6) == 0
        assert list(out) == sorted(out) and (lib.pe_hist_count(h) == 0 or out[5] == lib.pe_hist_max(h))
    elif op < 0.97:
        lib.pe_hist_merge(h, rng.choice(hists))
    else:
        lib.pe_hist_reset(h)
for h in hists:
    lib.pe_hist_free(h)
print("hist-asan-driver-ok")
