"""Run under AddressSanitizer/UBSan by test_sanitize.py: exercises the C book and parser
(the real recording, mutated frames, random book operations) through a sanitized build."""
import importlib
import itertools
import random
import sys

sys.path.insert(0, sys.argv[1])
sys.modules["pyengine._core"] = importlib.import_module("_core_asan")

from pyengine import bundled  # noqa: E402
from pyengine.book import ASK, BID, Book, BookError, Feed, MessageError  # noqa: E402
from pyengine.recording import frames  # noqa: E402
from tests.book.feeds import replay  # noqa: E402

specs = bundled.symbol_specs()
feed = Feed([specs["BTCUSDT"], specs["ETHUSDT"]])
r = replay(bundled.BTCUSDT_FEED, feed, "BTCUSDT")
assert r.stats.gaps == 0 and not r.stats.errors, r.stats.errors
book = feed.book("BTCUSDT")
book.top(BID, 10000), book.impact(ASK, 10**12), book.depth_to(BID, 1)

rng = random.Random(1)
sample = [raw for _, raw in itertools.islice(frames(bundled.BTCUSDT_FEED), 4000)]
snapshot = next(raw for raw in sample if raw.startswith(b'{"lastUpdateId"'))
for i in range(20000):
    frame = bytearray(rng.choice(sample))
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(frame)) if frame else 0
        op = rng.random()
        if op < 0.4 and frame:
            frame[pos] = rng.randrange(256)
        elif op < 0.6:
            del frame[pos:]
        elif op < 0.8:
            frame[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        else:
            del frame[pos:pos + rng.randint(1, 30)]
    try:
        feed.on_message(bytes(frame))
    except MessageError:
        pass
    if book.state == "out-of-sync":
        book.load_snapshot(snapshot)

b = Book(specs["ETHUSDT"])
for i in range(20000):
    try:
        if rng.random() < 0.02:
            b.load_levels(rng.randint(1, 50), [(rng.randint(1, 300), rng.randint(0, 9)) for _ in range(20)],
                          [(rng.randint(301, 600), rng.randint(0, 9)) for _ in range(20)])
        lid = b.last_update_id
        b.apply_diff(lid + 1, lid + rng.randint(1, 3), [(rng.randint(1, 600), rng.randint(0, 9))],
                     [(rng.randint(1, 600), rng.randint(0, 9))])
        if b.synced:
            b.top(ASK, 100), b.impact(BID, rng.randint(1, 50)), b.depth_to(ASK, rng.randint(1, 600))
    except BookError:
        pass
# whole-recording replay in C, with trade bars, over the real file and mutated copies
import gzip  # noqa: E402
import pathlib  # noqa: E402
from pyengine.book import NO_EXIT_BAND, STOP_BAR, STOP_EXIT  # noqa: E402

whole = gzip.open(bundled.BTCUSDT_FEED).read()[:3_000_000]
import dsl  # noqa: E402
strategies = [dsl.compile_file(p) for p in sorted((pathlib.Path(dsl.__path__[0]) / "library")
                                                   .glob("*.pine"))]
for trial in range(40):
    data = bytearray(whole[:200_000] if trial else whole)
    for _ in range(trial * 5):
        data[rng.randrange(len(data))] = rng.randrange(256)
    data = bytes(data)
    f = Feed([specs["BTCUSDT"]])
    f.set_bar_interval("BTCUSDT", rng.choice([1, 1000, 60000]))
    vms = [dsl.Vm(p, mintick=0.01, mode="spot") for p in strategies] if trial % 2 == 0 else []
    for vm in vms:                      # the replay's strategies, run by the feed itself
        f.add_vm("BTCUSDT", vm.ptr)
    # an exit band around the recording's prices (6.1M-6.2M at scale 2): trades on both
    # sides of it stop the loop, which then moves it, as the engine's exit legs do
    band = NO_EXIT_BAND if trial % 3 == 0 else (rng.randint(6_100_000, 6_150_000),
                                                 rng.randint(6_150_001, 6_200_000))
    f.set_exit_band("BTCUSDT", *band)
    off = 0
    while off < len(data):
        stopped, off = f.replay(data, off, STOP_BAR | STOP_EXIT)
        if not stopped:
            break
        if f.msg.exit_hit:
            px = f.msg.price
            f.set_exit_band("BTCUSDT", max(px - rng.randint(1, 5000), 0), px + rng.randint(1, 5000))
        if f.msg.bar_closed and f.msg.vm_act:
            for vm in vms:
                vm.take_intents()
print("asan-driver-ok")
