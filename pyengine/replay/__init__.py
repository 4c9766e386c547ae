"""Replay of recorded feeds through the engine's decision path, in one process.

Owned by the replay helper (issue 9, "Record and replay"); the engine helper owns
``pyengine/engine/`` and this package composes its classes rather than editing them.

    rec = source.load(path)                                   # any recording layout
    result = replay(rec, SessionConfig(strategies, namespace, risk), out_dir)
    result.records      # the decision log (also written to out_dir/decisions.jsonl)

Modules: ``source`` (recordings -> one buffer of normalised lines), ``session`` (the engine's
StrategyRunner, Execution and UserData with the simulator's matching engine in-process),
``cfeed`` (the loop: the recording through the C parser/books/bars in one call, Python woken
only for bar closes and snapshots), ``perframe`` (the per-frame reference and benchmark peer),
``bars`` (C bars -> the ledger's bar rules), ``venue`` (in-process simulator), ``clock``
(recording time for the decision path), ``log`` (the decision log), ``diff`` (replay vs a
live journal), ``plan`` (which strategies a replay runs).
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Callable

from pyengine.replay.cfeed import Stats, replay_c
from pyengine.replay.log import write_decisions, write_trades
from pyengine.replay.session import ReplaySession, SessionConfig
from pyengine.replay.source import Recording

__all__ = ["Result", "SessionConfig", "replay"]


@dataclasses.dataclass
class Result:
    records: list[dict[str, Any]]
    stats: Stats
    session: ReplaySession
    decisions_path: pathlib.Path
    trades_path: pathlib.Path
    fills: int

    def summary(self) -> str:
        s, st = self.session, self.stats
        pnl = s.state.portfolio.pnl()
        sent = s.execution.counts["sent"]
        return (f"{st.messages:,} messages in {st.seconds:.2f} s ({st.msgs_per_s:,.0f} msgs/s, "
                f"Python woken {st.wakeups:,} times), {s.bars:,} bars, {len(self.records)} "
                f"decisions, {sent} orders, {self.fills} fills, net PnL {pnl.net:+.4f} USDT "
                f"(realised {pnl.realised:+.4f}, fees {pnl.fees:.4f})")


def replay(rec: Recording, cfg: SessionConfig, out: pathlib.Path, *, speed: float | None = None,
           loop: Callable[..., Stats] | None = None) -> Result:
    """Run ``rec`` through the decision path; writes ``decisions.jsonl``, ``trades.csv`` and
    the session's ``journal.sqlite`` into ``out``. ``loop``: the market-data loop (default
    the C replay; ``perframe.replay_per_frame`` for the per-frame reference)."""
    session = ReplaySession(cfg, rec.symbols, out, rec.first_ns)
    try:
        stats = (loop or replay_c)(rec, session, **({"speed": speed} if speed else {}))
    finally:
        session.close()
    decisions = out / "decisions.jsonl"
    trades = out / "trades.csv"
    write_decisions(decisions, session.records)
    fills = write_trades(trades, session.records)
    return Result(session.records, stats, session, decisions, trades, fills)
