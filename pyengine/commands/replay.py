"""``pyengine replay DIR|FILE [--speed N|max] [--config FILE] [--strategy PINE ...] [--out DIR] [--diff JOURNAL]``

Feeds a recording through the engine's decision path (C parser, books and bars, the
strategies' VMs, the risk gate, execution against the simulator's matching engine) in one
process and writes the decision log (``decisions.jsonl``: one canonical JSON line per
decision, byte-identical for the same input), the fills (``trades.csv``) and the session's
journal. ``--diff JOURNAL`` lists every decision that differs from a live session's journal,
and why; the exit code is then 1 when anything differs. Implementation: ``pyengine/replay/``
(owned by the replay helper, issue 9).
"""
from __future__ import annotations

import argparse
import pathlib
import tempfile

from pyengine.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay a recording through the engine's decision path "
                                      "against the simulator's matching engine")
    p.add_argument("path", type=pathlib.Path, metavar="DIR|FILE",
                   help="a recording (.jsonl or .jsonl.gz), or a directory of them (merged "
                        "by receive time)")
    p.add_argument("--speed", default="max",
                   help="N x the recording's pace, or 'max' (default): decisions do not "
                        "depend on it")
    p.add_argument("--config", type=pathlib.Path,
                   help="TOML configuration: strategies, engine id (client order ids), "
                        "universe, risk limits")
    p.add_argument("--strategy", action="extend", nargs="+", type=pathlib.Path, metavar="PINE",
                   help="strategy files to run instead (default: the library strategies of "
                        "the paper session)")
    p.add_argument("--interval", default="1s",
                   help="bar interval for --strategy files, built from trades (default 1s)")
    p.add_argument("--out", type=pathlib.Path,
                   help="output directory (default: a new temporary directory)")
    p.add_argument("--diff", type=pathlib.Path, metavar="JOURNAL",
                   help="compare the decisions with a live session's journal")
    p.set_defaults(func=run)


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise UserError(f"--speed: expected a number or 'max', got {text!r}") from None
    if not speed > 0:
        raise UserError(f"--speed: must be above 0, got {text}")
    return speed


def _out_dir(path: pathlib.Path | None) -> pathlib.Path:
    if path is None:
        return pathlib.Path(tempfile.mkdtemp(prefix="pyengine-replay-"))
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path}: not a directory")
    path.mkdir(parents=True, exist_ok=True)
    used = [n for n in ("decisions.jsonl", "journal.sqlite") if (path / n).exists()]
    if used:
        raise UserError(f"--out {path}: holds an earlier replay ({', '.join(used)}); give an "
                        "empty or new directory")
    return path


def run(args: argparse.Namespace) -> int:
    import orjson

    from pyengine import bundled
    from pyengine.ledger import interval_ms
    from pyengine.replay import replay, source
    from pyengine.replay.diff import compare, span_note
    from pyengine.replay.plan import plan

    speed = _speed(args.speed)
    if args.diff is not None and not args.diff.is_file():
        raise UserError(f"--diff {args.diff}: no such journal file")
    rec = source.load(args.path)
    source.check_symbols(rec, {s["symbol"] for s in bundled.exchange_info()["symbols"]})
    cfg, notes = plan(rec, args.config, args.strategy, args.interval)
    out = _out_dir(args.out)
    print(f"pyengine replay: {rec.describe()}")
    print(f"pyengine replay: {len(cfg.strategies)} strategies "
          f"({', '.join(f'{s.id} {s.interval} {s.source}' for s in cfg.strategies)}), "
          f"engine id {cfg.namespace!r}, speed {args.speed}")
    for note in notes:
        print(f"pyengine replay: note: {note}")
    result = replay(rec, cfg, out, speed=speed)
    print(f"pyengine replay: {rec.records:,} records, "
          f"{(rec.last_ns - rec.first_ns) / 60e9:.1f} min of market: {result.summary()}")
    for sym in result.stats.unsynced:
        print(f"pyengine replay: warning: {sym}: the recording holds no usable depth snapshot; "
              "its book never synced, so no decision on it was acted on")
    print(f"pyengine replay: decision log {result.decisions_path}")
    print(f"pyengine replay: trades {result.trades_path}; journal {out / 'journal.sqlite'}")
    if args.diff is None:
        return 0
    diffs = compare(result.records, args.diff,
                    {s.id: interval_ms(s.interval) for s in cfg.strategies})
    (out / "diff.jsonl").write_bytes(b"".join(orjson.dumps(d.as_dict(), option=orjson.OPT_SORT_KEYS)
                                              + b"\n" for d in diffs))
    for d in diffs:
        print(d.line())
    note = span_note(args.diff, rec.first_ns, rec.last_ns)
    if note:
        print(f"pyengine replay: warning: {note}")
    print(f"pyengine replay: {len(diffs)} differences against {args.diff} "
          f"(also in {out / 'diff.jsonl'})")
    return 1 if diffs else 0
