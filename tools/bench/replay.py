"""Replay throughput: messages per second through the full decision path.

On the bundled real recordings (BTCUSDT and ETHUSDT, 2024-08-08/09, merged by receive time,
179,316 market-data frames), each round runs in turns, in one process:

  (a) ``pyengine replay``'s loop: the recording through the C parser, books, bar builder and
      the strategies' VMs in one C call, Python woken only for closed bars (marks and stops,
      the decisions the VMs asked for, the risk gate, orders matched by the simulator's
      engine) and snapshots;
  (b) the per-frame peer: every frame through ``Feed.on_message`` from Python, trades into
      the live engine's ``KlineLedger`` (how the live engine consumes a websocket), the same
      session behind it;
  (c) the C loop alone (parser, books, bars; no strategy), the ceiling for (a).

(a) and (b) make byte-identical decision logs (checked here, and in tests/replay). Messages
per second = frames / wall time of the loop. A message is one market-data frame as received,
parsed once: on the bundled recordings 131,932 bookTickers, 34,419 trades and 12,965 depth
diffs; the two REST snapshot lines are not counted. Reading, decompressing and merging the
recording, and compiling the strategies once per session, are outside the timed loop
(``load_s`` reports the first); the peer also splits the recording lines in Python, as any
Python reader of a recording must. Best of ``--rounds``; every round's figure is in
``msgs_per_s_rounds`` (on a shared machine the spread is the load's).

    python tools/bench/replay.py --out bench-replay.json [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import sys
import tempfile
import time

# the repository, not this directory (whose risk.py would shadow the risk package)
sys.path[0] = str(pathlib.Path(__file__).resolve().parents[2])

from pyengine import bundled  # noqa: E402
from pyengine.book import MSG_SNAPSHOT, STOP_BAR  # noqa: E402
from pyengine.replay import replay, source  # noqa: E402
from pyengine.replay.perframe import replay_per_frame  # noqa: E402
from pyengine.replay.plan import plan  # noqa: E402

TARGET = 1_000_000


def c_only(rec) -> float:
    """Seconds for the recording through parser, books and 1 s bars, no strategy."""
    from pyengine.book import Feed
    specs = bundled.symbol_specs()
    feed = Feed([specs[s] for s in rec.symbols])
    for s in rec.symbols:
        feed.set_bar_interval(s, 1000)
    pos, seconds = feed.pos, 0.0
    for chunk in rec.chunks():
        buf, off = chunk.buf, 0
        t0 = time.perf_counter()
        while True:
            stopped, off = feed.replay(buf, off, STOP_BAR)
            if not stopped:
                break
            if feed.msg.kind == MSG_SNAPSHOT:
                feed.book(chunk.line_symbol(pos.frame_offset)).load_snapshot(
                    buf[pos.frame_offset:pos.frame_offset + pos.frame_len])
        seconds += time.perf_counter() - t0
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, required=True)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="pyengine-bench-replay-"))
    data = work / "recording"
    data.mkdir()
    for f in (bundled.BTCUSDT_FEED, bundled.ETHUSDT_FEED):
        (data / f.name).symlink_to(f)
    rec = source.load(data)
    t0 = time.perf_counter()
    sum(1 for _ in rec.chunks())
    load_s = time.perf_counter() - t0
    cfg, _ = plan(rec, None, None)

    best = {"c": float("inf"), "peer": float("inf"), "c_only": float("inf")}
    rounds = []
    logs = set()
    result = None
    for i in range(args.rounds):
        for name, loop in (("c", None), ("peer", replay_per_frame)):
            r = replay(rec, cfg, work / f"{name}-{i}", loop=loop)
            best[name] = min(best[name], r.stats.seconds)
            if name == "c":
                rounds.append(r.stats.seconds)
            logs.add(r.decisions_path.read_bytes())
            result = r if name == "c" else result
        best["c_only"] = min(best["c_only"], c_only(rec))

    msgs = result.stats.messages
    out = {
        "recording": [p.name for p in rec.paths],
        "messages": msgs,
        "bars": result.session.bars,
        "decisions": len(result.records),
        "orders": result.session.execution.counts["sent"],
        "fills": result.fills,
        "python_wakeups": result.stats.wakeups,
        "msgs_per_s": round(msgs / best["c"]),
        "msgs_per_s_rounds": [round(msgs / t) for t in rounds],
        "peer_per_frame_msgs_per_s": round(msgs / best["peer"]),
        "ratio_vs_per_frame": round(best["peer"] / best["c"], 2),
        "c_only_msgs_per_s": round(msgs / best["c_only"]),
        "decision_path_share": round(1 - best["c_only"] / best["c"], 3),
        "target_msgs_per_s": TARGET,
        "meets_target": msgs / best["c"] >= TARGET,
        "identical_decision_logs": len(logs) == 1,
        "load_s": round(load_s, 3),
        "rounds": args.rounds,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    print(f"replay of {', '.join(out['recording'])}: {msgs:,} messages, {out['bars']:,} bars, "
          f"{out['decisions']} decisions, {out['orders']} orders, {out['fills']} fills "
          f"(Python woken {out['python_wakeups']:,} times)")
    print(f"  pyengine replay (C loop + decision path): {out['msgs_per_s']:>12,} msgs/s "
          f"(target {TARGET:,}: {'met' if out['meets_target'] else 'NOT met'}; median of "
          f"{len(rounds)} rounds {round(msgs / statistics.median(rounds)):,})")
    print(f"  per-frame peer (Feed.on_message/frame):   {out['peer_per_frame_msgs_per_s']:>12,} msgs/s "
          f"-> {out['ratio_vs_per_frame']}x")
    print(f"  C loop alone (no strategies):             {out['c_only_msgs_per_s']:>12,} msgs/s "
          f"(decision path: {out['decision_path_share']:.0%} of the replay's time)")
    print(f"  decision logs identical across loops and rounds: {out['identical_decision_logs']}; "
          f"reading and normalising the recording: {out['load_s']} s (not in the figures)")
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
