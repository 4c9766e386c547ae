"""``pyengine journal show [--follow] PATH``: print a journal, also while an engine writes it."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import orjson

from pyengine.errors import UserError
from pyengine.journal import KINDS, JournalError, JournalReader, Record

PAGE = 10_000


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("journal", help="inspect an engine's journal")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the records of a journal (safe while the "
                                           "engine runs); intents not yet flushed from the "
                                           "intent log come last, marked 'log'")
    show.add_argument("path", help="the journal file (journal.path in the config)")
    show.add_argument("--follow", "-f", action="store_true",
                      help="keep printing new records as they are written (Ctrl-C stops)")
    show.add_argument("--kind", action="append", choices=sorted(KINDS),
                      help="only records of this kind (repeatable)")
    show.add_argument("--since", type=int, default=0, metavar="SEQ",
                      help="only records after this sequence number")
    show.add_argument("--tail", type=int, metavar="N", help="only the last N records")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.add_argument("--interval", type=float, default=0.2, help=argparse.SUPPRESS)
    show.set_defaults(func=run_show)


def format_record(r: Record) -> str:
    t = dt.datetime.fromtimestamp(r.wall_ms / 1000, dt.timezone.utc)
    where = " ".join(x for x in (r.strategy_id, r.symbol, r.client_order_id) if x)
    if r.trade_id is not None:
        where += f" #{r.trade_id}"
    data = orjson.dumps(r.data, option=orjson.OPT_SORT_KEYS).decode()
    seq = r.seq or "log"           # an intent still in the intent log, not yet flushed
    return f"{seq:>8} {t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} {r.kind:<9} " \
           f"{where} {data}"


def _json(r: Record) -> str:
    return orjson.dumps({"seq": r.seq, "kind": r.kind, "wall_ms": r.wall_ms,
                         "mono_ns": r.mono_ns, "strategy_id": r.strategy_id,
                         "symbol": r.symbol, "client_order_id": r.client_order_id,
                         "trade_id": r.trade_id, "data": r.data}).decode()


def run_show(args: argparse.Namespace) -> int:
    try:
        reader = JournalReader(args.path)
    except FileNotFoundError:
        raise UserError(f"{args.path}: no such journal file") from None
    except JournalError as exc:
        raise UserError(str(exc)) from None
    fmt = _json if args.json else format_record
    since = args.since
    if args.tail is not None:
        since = max(since, reader.last_seq() - args.tail)
    try:
        while True:
            n = 0
            for r in reader.records(since_seq=since, kinds=args.kind, limit=PAGE):
                print(fmt(r))
                since, n = r.seq, n + 1
            sys.stdout.flush()
            if n == PAGE:
                continue
            if not args.follow:
                for r in reader.unflushed_intents():
                    if args.kind is None or "intent" in args.kind:
                        print(fmt(r))
                break
            time.sleep(args.interval)
    except BrokenPipeError:
        pass
    except KeyboardInterrupt:
        pass
    finally:
        reader.close()
    return 0
