"""Which strategies a replay runs, on which bars, under which ids and limits.

* no ``--config`` / ``--strategy``: the library strategies of ``pyengine run``'s paper
  session on 1-second bars built from trades (ids ``ma_trend_1s`` ...), on every symbol of
  the recording;
* ``--strategy PINE`` (repeatable): those files (id = file name without ``.pine``) on
  ``--interval`` bars of every symbol;
* ``--config FILE``: the file's strategies, engine id (the client order id namespace, so
  the ids match that live session's), universe and risk limits. A strategy runs on the
  recording's kline stream of its interval when the recording holds one, otherwise on bars
  built from trades (a live session always has the kline stream; a recorder may not).
"""
from __future__ import annotations

import pathlib

from pyengine.config import default_config, load_config
from pyengine.engine.paper import LIBRARY, STRATEGIES
from pyengine.engine.strategies import StrategySpec
from pyengine.errors import UserError
from pyengine.ledger import INTERVAL_MS
from pyengine.replay.session import SessionConfig
from pyengine.replay.source import Recording


def plan(rec: Recording, config: pathlib.Path | None, pines: list[pathlib.Path] | None,
         interval: str = "1s") -> tuple[SessionConfig, list[str]]:
    """The session's configuration, and notes for the user about what was left out."""
    if interval not in INTERVAL_MS:
        raise UserError(f"--interval {interval!r}: use one of {', '.join(INTERVAL_MS)}")
    notes: list[str] = []
    cfg = load_config(config, resolve_secrets=False) if config else default_config()
    universe = set(cfg.universe.symbols)
    symbols = [s for s in rec.symbols if s in universe]
    for s in rec.symbols:
        if s not in universe:
            notes.append(f"{s}: outside the universe ({', '.join(cfg.universe.symbols)}): not traded")
    if config and pines:
        raise UserError("give strategies either with --config or with --strategy, not both")
    specs: list[StrategySpec] = []
    if config:
        for s in cfg.strategies:
            if not s.enabled:
                continue
            syms = [x for x in (s.symbols or cfg.universe.symbols) if x in symbols]
            if not syms:
                notes.append(f"strategy {s.id}: none of its symbols is in the recording")
                continue
            kline = all((x, s.interval) in rec.kline_streams for x in syms)
            specs.append(StrategySpec(s.id, s.pine, syms, s.interval,
                                      "kline" if kline else "trades", dict(s.inputs)))
    elif pines:
        for p in pines:
            if not p.is_file():
                raise UserError(f"--strategy {p}: no such file")
            specs.append(StrategySpec(p.stem, p, list(symbols), interval, "trades"))
    else:
        specs = [StrategySpec(f"{sid}_1s", LIBRARY / pine, list(symbols), "1s", "trades")
                 for sid, pine in STRATEGIES]
    if not specs or not symbols:
        raise UserError(f"no strategy to run on {', '.join(rec.symbols)}")
    return SessionConfig(specs, cfg.engine.id, cfg.risk), notes
