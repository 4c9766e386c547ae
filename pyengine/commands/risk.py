"""``pyengine risk show|halt|resume --journal PATH``: the risk manager's saved state and
events, and the operator's kill switch (queued in the journal; a running engine applies it
within its next poll, a stopped one at start)."""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os

from pyengine.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("risk", help="risk state, events and the kill switch")
    sub = p.add_subparsers(dest="risk_command", metavar="ACTION", required=True)
    for name, text in (("show", "state, limits used, positions and recent events"),
                       ("halt", "kill switch: refuse every new order until resumed"),
                       ("resume", "lift a HALT (REDUCING lifts by itself at the boundary)")):
        q = sub.add_parser(name, help=text)
        q.add_argument("--journal", required=True, metavar="PATH",
                       help="the risk journal (SQLite) of the engine")
        if name == "show":
            q.add_argument("--events", type=int, default=15, metavar="N",
                           help="how many recent events to print (default 15)")
        else:
            q.add_argument("--reason", default="operator request", help="why (journaled)")
        q.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from risk.report import saved_summary
    from risk.store import SqliteRiskStore

    if not os.path.isfile(args.journal):
        raise UserError(f"risk journal {args.journal} does not exist")
    store = SqliteRiskStore(args.journal)
    try:
        state = store.load_state()
        if args.risk_command == "show":
            if state is None:
                raise UserError(f"{args.journal} holds no risk state yet")
            for key, value in saved_summary(state).items():
                if key == "positions":
                    for sym, pos in value.items():
                        print(f"  {sym:<10} qty {pos['qty']}  mark {pos['mark']}  "
                              f"stop {pos['stop']}  value {pos['value']}")
                else:
                    print(f"{key:>23}: {value}")
            events = store.events(args.events)
            if events:
                print("recent events:")
            for e in events:
                when = dt.datetime.fromtimestamp(e.wall_ns / 1e9, dt.timezone.utc)
                print(f"  {when:%Y-%m-%d %H:%M:%S} {e.kind:<8} {e.code:<14} {e.message}")
            return 0
        operator = f"cli:{getpass.getuser()}"
        store.queue_command(args.risk_command, args.reason, operator)
        print(f"{args.risk_command} queued by {operator}; a running engine applies it at its "
              f"next poll (about a second), a stopped one when it starts")
        return 0
    finally:
        store.close()
