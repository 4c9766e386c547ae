"""A recording with a hole in the depth stream: decisions on a stale book and, once the diffs
resume with a sequence gap, on an out-of-sync book are logged but never acted on."""
import gzip

from pyengine import bundled
from pyengine.replay import replay, source
from pyengine.replay.plan import plan

HOLE_S = (120, 150)       # seconds after the start with no depth diff


def test_stale_then_out_of_sync_book_acts_on_nothing(tmp_path):
    lines = gzip.open(bundled.BTCUSDT_FEED).read().splitlines(keepends=True)
    t0 = int(lines[0][len(b'{"recv_ts_ns":'):lines[0].index(b",")])
    lo, hi = t0 + HOLE_S[0] * 10**9, t0 + HOLE_S[1] * 10**9

    def keep(line: bytes) -> bool:
        ts = int(line[len(b'{"recv_ts_ns":'):line.index(b",")])
        return not (lo <= ts < hi and b'"depthUpdate"' in line[:200])

    path = tmp_path / "btc-hole.jsonl"
    path.write_bytes(b"".join(filter(keep, lines)))
    rec = source.load(path)
    cfg, _ = plan(rec, None, None)
    result = replay(rec, cfg, tmp_path / "out")
    assert result.stats.resyncs >= 1
    by_book: dict[str, list[dict]] = {}
    for r in result.records:
        if r["kind"] == "protective_exit":
            continue            # risk actions go out whatever the book's state
        by_book.setdefault(r["book"], []).append(r)
    stale, unsynced = by_book.get("stale", []), by_book.get("out_of_sync", [])
    print(f"\n{ {k: len(v) for k, v in by_book.items()} }")
    assert stale and unsynced
    assert all(lo + 5 * 10**9 <= r["t_ns"] < hi for r in stale)
    assert all(r["t_ns"] >= hi for r in unsynced)
    assert all(r["order"] is None and r["risk"]["reason"].startswith("BOOK_")
               for r in stale + unsynced)
    assert all(r["t_ns"] < hi for r in by_book["synced"])
