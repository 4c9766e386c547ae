"""The decision log: one canonical JSON object a line, one line per decision, in decision order.

Keys (sorted, no whitespace; the same input gives the same bytes)::

    t_ns             receive time of the recording line that closed the bar (ns since epoch)
    bar              open time of the bar the decision was made on (ms); for a protective
                     exit or an exit leg, the symbol's last closed bar
    strategy symbol  the strategy id and symbol
    kind             "entry" | "exit" | "protective_exit" | "exit_leg" (a strategy.exit
                     stop, take-profit or trailing leg the engine fired on a trade)
    rank             n-th decision of this strategy on this bar (part of the client order id)
    close stop       the bar's close and the protective stop the strategy asked for (0: the
                     risk manager's default); null for protective exits and exit legs
    book             "synced" | "out_of_sync" | "stale" (unchanged for stale_ms, 5 s): no
                     decision is acted on unless synced
    risk             {"verdict": "accepted" | "refused" | "skipped", "reason": code[, "message"]}
                     refused: the risk gate's reason code (TRADE_LOSS, EXPOSURE, ...), BOOK
                     (no price) or ZERO_QTY; skipped: IN_POSITION, NO_POSITION, ORDER_OPEN,
                     DUPLICATE, BOOK_OUT_OF_SYNC, BOOK_STALE; a protective exit's reason is the risk action's,
                     an exit leg's STOP, TAKE_PROFIT or TRAIL
    client_order_id  the deterministic id (pyengine.ids) a live session gives the same decision
    order            {"side", "type", "qty"} as sent, or null
    status           the order's final status (FILLED, EXPIRED, REJECTED, ...), or null
    fills            [{"price", "qty", "commission", "asset", "trade_id", "time_ms"}]
    error            the venue's rejection, when there was one
"""
from __future__ import annotations

import pathlib
from typing import Any, Iterable

import orjson


def dumps(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n"


def write_decisions(path: pathlib.Path, records: Iterable[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(dumps(r) for r in records))


def read_decisions(path: pathlib.Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def write_trades(path: pathlib.Path, records: Iterable[dict[str, Any]]) -> int:
    """Every fill as a CSV row; returns how many."""
    rows = ["time_ms,strategy,symbol,kind,side,price,qty,commission,commission_asset,"
            "trade_id,client_order_id"]
    for r in records:
        for f in r["fills"]:
            rows.append(f"{f['time_ms']},{r['strategy']},{r['symbol']},{r['kind']},"
                        f"{r['order']['side']},{f['price']},{f['qty']},{f['commission']},"
                        f"{f['asset']},{f['trade_id']},{r['client_order_id']}")
    path.write_text("\n".join(rows) + "\n")
    return len(rows) - 1
