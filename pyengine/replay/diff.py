"""``--diff JOURNAL``: the replay's decisions against a live session's journal.

Both sides name a strategy decision by the same deterministic client order id (strategy,
symbol, bar open time, rank, engine id), so they are matched by id. For each id:

* ``missing in replay``: the live session sent an order the replay never decided;
* ``extra in replay``: the replay sent an order the live session did not;
* ``risk verdict differs``: one side's risk gate (or position/book check) let the order
  through, the other refused or skipped it (with the reason code);
* ``side differs`` / ``quantity differs`` / ``price differs``: the orders differ;
* ``fill price differs`` / ``fill quantity differs`` / ``status differs``: same order,
  different outcome (average fill price over the order's fills).

Exit legs (a ``strategy.exit`` stop, take-profit or trailing leg, leg 2 of an id whose
sequence is the time of the trade that reached it) are matched by id like decisions.
Protective exits (risk actions, leg 1 of an id whose sequence is a clock time, not a bar)
cannot be matched by id; they are paired in time order per strategy and symbol. The live
journal does not tie a risk refusal to its order id; for a decision only the replay sent,
the live refusal of the same symbol nearest the bar's close (within 10 s) is quoted.

What usually explains a difference: the live session warmed its strategies up on REST klines
(the replay starts cold), saw bars the recording does not hold, or filled against a book a
few milliseconds later than the replay's.
"""
from __future__ import annotations

import datetime as dt
import pathlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pyengine.engine.execution import DECISION_LEG, EXIT_LEG, PROTECTIVE_LEG
from pyengine.errors import UserError
from pyengine.ids import parse_client_order_id
from pyengine.journal import JournalError, JournalReader

NEAR_MS = 10_000


@dataclass
class LiveOrder:
    coid: str
    strategy: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    seq: int = 0
    status: str | None = None
    fills: list[tuple[Decimal, Decimal]] = field(default_factory=list)


@dataclass(frozen=True)
class Difference:
    bar: int
    strategy: str
    symbol: str
    client_order_id: str
    what: str
    replay: str
    live: str

    def line(self) -> str:
        when = dt.datetime.fromtimestamp(self.bar / 1000, dt.timezone.utc)
        return (f"{when:%Y-%m-%d %H:%M:%S} {self.strategy} {self.symbol} {self.client_order_id}: "
                f"{self.what}: replay {self.replay}; live {self.live}")

    def as_dict(self) -> dict[str, Any]:
        return {"bar": self.bar, "strategy": self.strategy, "symbol": self.symbol,
                "client_order_id": self.client_order_id, "what": self.what,
                "replay": self.replay, "live": self.live}


def read_journal(path: pathlib.Path) -> tuple[dict[str, LiveOrder], list[tuple[int, str, str, str]]]:
    """Live orders by client order id, and risk refusals (wall ms, symbol, code, message)."""
    if not path.is_file():
        raise UserError(f"--diff {path}: no such journal file")
    orders: dict[str, LiveOrder] = {}
    refusals: list[tuple[int, str, str, str]] = []
    try:
        with JournalReader(path) as r:
            records = list(r.records()) + list(r.unflushed_intents())
    except JournalError as exc:
        raise UserError(f"--diff {path}: {exc}") from None
    for rec in records:
        d = rec.data
        if rec.kind == "intent" and rec.client_order_id not in orders:
            parsed = parse_client_order_id(rec.client_order_id or "")
            orders[rec.client_order_id] = LiveOrder(
                rec.client_order_id, rec.strategy_id or "", rec.symbol or "", d.get("side", ""),
                Decimal(d.get("qty") or 0), _dec(d.get("price")), parsed.seq if parsed else 0)
        elif rec.kind == "order" and rec.client_order_id in orders:
            orders[rec.client_order_id].status = d.get("status")
        elif rec.kind == "fill" and rec.client_order_id in orders:
            orders[rec.client_order_id].fills.append((Decimal(d["price"]), Decimal(d["qty"])))
        elif rec.kind == "risk" and d.get("kind") == "refusal":
            refusals.append((rec.wall_ms, rec.symbol or "", d.get("code", ""), d.get("message", "")))
    return orders, refusals


def span_note(journal: pathlib.Path, first_ns: int, last_ns: int) -> str | None:
    """A warning when none of the journal's decisions falls inside the recording's span."""
    bars = [p.seq // 1000 for p in (parse_client_order_id(c) for c in read_journal(journal)[0])
            if p is not None and p.leg == DECISION_LEG]
    lo, hi = first_ns // 1_000_000 - 60_000, last_ns // 1_000_000 + 60_000
    if not bars or any(lo <= b <= hi for b in bars):
        return None

    def t(ms: int) -> str:
        return f"{dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc):%Y-%m-%d %H:%M}"
    return (f"the journal's decisions ({t(min(bars))} to {t(max(bars))} UTC) all lie outside the "
            f"recording ({t(lo + 60_000)} to {t(hi - 60_000)} UTC): that session traded other "
            "market data (a `pyengine run` paper session shifts the bundled data to start now), "
            "so every decision differs; diff a live session against its own recording")


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v)


def _avg(fills: list[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal]:
    qty = sum((q for _, q in fills), Decimal(0))
    if not qty:
        return Decimal(0), qty
    return (sum((p * q for p, q in fills), Decimal(0)) / qty).quantize(Decimal("1e-8")), qty


def _replay_fills(rec: dict[str, Any]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(f["price"]), Decimal(f["qty"])) for f in rec["fills"]]


def _order_text(side: str, qty: Decimal) -> str:
    return f"{side} {qty.normalize():f}"


def compare(records: list[dict[str, Any]], journal: pathlib.Path,
            bar_ms: dict[str, int] | None = None) -> list[Difference]:
    """Every decision that differs, in bar order. ``bar_ms``: bar length per strategy id (for
    quoting the live refusal nearest a bar's close; default 1 s)."""
    live, refusals = read_journal(journal)
    bar_ms = bar_ms or {}
    out: list[Difference] = []
    seen: set[str] = set()

    def diff(r: dict[str, Any], what: str, replay: str, live_text: str) -> None:
        out.append(Difference(r["bar"], r["strategy"], r["symbol"], r["client_order_id"], what,
                              replay, live_text))

    protective_replay: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if r["kind"] == "protective_exit":
            if r["order"] is not None:
                protective_replay.setdefault((r["strategy"], r["symbol"]), []).append(r)
            continue
        coid = r["client_order_id"]
        seen.add(coid)
        lo = live.get(coid)
        verdict = r["risk"]["verdict"] + (f" ({r['risk']['reason']})" if r["risk"]["reason"] else "")
        if lo is None:
            if r["order"] is None:
                continue                       # neither side acted
            close_ms = r["bar"] + bar_ms.get(r["strategy"], 1000)
            near = [x for x in refusals if x[1] == r["symbol"] and abs(x[0] - close_ms) <= NEAR_MS]
            sent = _order_text(r["order"]["side"], Decimal(r["order"]["qty"]))
            if near:
                x = min(near, key=lambda x: abs(x[0] - close_ms))
                diff(r, "risk verdict differs", f"accepted, sent {sent}",
                     f"no order; its risk gate refused a {r['symbol']} order then: {x[2]} ({x[3]})")
            else:
                diff(r, "extra in replay", f"sent {sent}", "no order for this decision")
            continue
        if r["order"] is None:
            what = "risk verdict differs" if r["risk"]["verdict"] == "refused" else "missing in replay"
            diff(r, what, f"no order: {verdict}, book {r['book']}",
                 f"sent {_order_text(lo.side, lo.qty)}")
            continue
        _compare_orders(r, lo, diff)
    for coid, lo in live.items():
        parsed = parse_client_order_id(coid)
        if coid in seen or (parsed is not None and parsed.leg == PROTECTIVE_LEG):
            continue
        bar = parsed.seq // 1000 if parsed else 0
        out.append(Difference(bar, lo.strategy, lo.symbol, coid, "missing in replay",
                              "no exit leg fired on this trade" if parsed and parsed.leg == EXIT_LEG
                              else "the strategy made no decision on this bar",
                              f"sent {_order_text(lo.side, lo.qty)}"))
    out.extend(_protective(protective_replay, live))
    out.sort(key=lambda d: (d.bar, d.strategy, d.symbol, d.client_order_id, d.what))
    return out


def _compare_orders(r: dict[str, Any], lo: LiveOrder, diff) -> None:
    o = r["order"]
    if o["side"] != lo.side:
        diff(r, "side differs", o["side"], lo.side)
    if Decimal(o["qty"]) != lo.qty:
        diff(r, "quantity differs", f"{Decimal(o['qty']).normalize():f}", f"{lo.qty.normalize():f}")
    price = _dec(o.get("price"))
    if price != lo.price:
        diff(r, "price differs", str(price), str(lo.price))
    rp, rq = _avg(_replay_fills(r))
    lp, lq = _avg(lo.fills)
    if rq != lq:
        diff(r, "fill quantity differs", f"{rq.normalize():f}", f"{lq.normalize():f}")
    if rp != lp:
        diff(r, "fill price differs", f"{rp.normalize():f}", f"{lp.normalize():f}")
    if lo.status is not None and r["status"] != lo.status:
        diff(r, "status differs", str(r["status"]), lo.status)


def _protective(replay: dict[tuple[str, str], list[dict[str, Any]]],
                live: dict[str, LiveOrder]) -> list[Difference]:
    live_by: dict[tuple[str, str], list[LiveOrder]] = {}
    for coid, lo in live.items():
        parsed = parse_client_order_id(coid)
        if parsed is not None and parsed.leg == PROTECTIVE_LEG:
            live_by.setdefault((lo.strategy, lo.symbol), []).append(lo)
    out: list[Difference] = []
    for key in sorted(set(replay) | set(live_by)):
        rs = replay.get(key, [])
        ls = sorted(live_by.get(key, []), key=lambda lo: lo.seq)
        for i in range(max(len(rs), len(ls))):
            r = rs[i] if i < len(rs) else None
            lo = ls[i] if i < len(ls) else None
            if r is None:
                out.append(Difference(lo.seq // 1000, key[0], key[1], lo.coid, "missing in replay",
                                      "no protective exit", f"sent {_order_text(lo.side, lo.qty)}"))
            elif lo is None:
                out.append(Difference(r["bar"], key[0], key[1], r["client_order_id"],
                                      "extra in replay",
                                      f"protective exit ({r['risk']['reason']}) "
                                      f"{_order_text(r['order']['side'], Decimal(r['order']['qty']))}",
                                      "no protective exit"))
            else:
                _compare_orders(r, lo, lambda rr, what, a, b: out.append(Difference(
                    rr["bar"], key[0], key[1], f"{rr['client_order_id']}~{lo.coid}", what, a, b)))
    return out
