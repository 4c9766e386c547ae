"""Where the risk manager keeps its state and events. ``RiskStore`` is the whole interface
(so the engine's journal can back it later); ``SqliteRiskStore`` is the embedded default.
Operator commands (halt/resume from the CLI while an engine runs) go through the same file:
the CLI queues them, the running manager applies them when it polls."""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


@dataclass(frozen=True)
class RiskEvent:
    """A state change, rollover, refusal or action, with a reason code and a sentence."""
    wall_ns: int
    kind: str            # "state" | "refusal" | "rollover" | "action" | "operator" | "account"
    code: str            # reason code, e.g. "TRADE_LOSS", "DAY_LOSS", "HALT"
    message: str         # one human sentence
    state: str           # ACTIVE | REDUCING | HALTED after the event
    symbol: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class RiskStore(Protocol):
    def save_state(self, state: dict[str, Any]) -> None: ...
    def load_state(self) -> dict[str, Any] | None: ...
    def append_event(self, event: RiskEvent) -> None: ...


class SqliteRiskStore:
    """SQLite in WAL mode; safe to read (``pyengine risk show``) while an engine writes."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=5.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript("""
                CREATE TABLE IF NOT EXISTS risk_state (
                    id INTEGER PRIMARY KEY CHECK (id = 1), saved_ns INTEGER, body BLOB);
                CREATE TABLE IF NOT EXISTS risk_events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, wall_ns INTEGER, kind TEXT,
                    code TEXT, state TEXT, symbol TEXT, message TEXT, data BLOB);
                CREATE TABLE IF NOT EXISTS risk_commands (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, queued_ns INTEGER, command TEXT,
                    reason TEXT, operator TEXT, applied_ns INTEGER);
            """)
        except sqlite3.Error as exc:
            from pyengine.errors import UserError
            raise UserError(f"risk journal {path}: {exc}") from None

    def save_state(self, state: dict[str, Any]) -> None:
        self._db.execute("INSERT OR REPLACE INTO risk_state (id, saved_ns, body) VALUES (1, ?, ?)",
                         (time.time_ns(), orjson.dumps(state)))

    def load_state(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT body FROM risk_state WHERE id = 1").fetchone()
        return orjson.loads(row[0]) if row else None

    def append_event(self, event: RiskEvent) -> None:
        self._db.execute(
            "INSERT INTO risk_events (wall_ns, kind, code, state, symbol, message, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event.wall_ns, event.kind, event.code, event.state, event.symbol, event.message,
             orjson.dumps(event.data)))

    def events(self, limit: int = 50) -> list[RiskEvent]:
        rows = self._db.execute(
            "SELECT wall_ns, kind, code, message, state, symbol, data FROM risk_events "
            "ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [RiskEvent(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6]))
                for r in reversed(rows)]

    def queue_command(self, command: str, reason: str, operator: str) -> None:
        if command not in ("halt", "resume"):
            raise ValueError(f"unknown risk command {command!r}")
        self._db.execute("INSERT INTO risk_commands (queued_ns, command, reason, operator) "
                         "VALUES (?, ?, ?, ?)", (time.time_ns(), command, reason, operator))

    def take_commands(self) -> list[tuple[str, str, str]]:
        """Pending operator commands, oldest first, marked applied."""
        rows = self._db.execute("SELECT seq, command, reason, operator FROM risk_commands "
                                "WHERE applied_ns IS NULL ORDER BY seq").fetchall()
        if rows:
            self._db.execute("UPDATE risk_commands SET applied_ns = ? WHERE seq <= ? "
                             "AND applied_ns IS NULL", (time.time_ns(), rows[-1][0]))
        return [(r[1], r[2], r[3]) for r in rows]

    def close(self) -> None:
        self._db.close()


class MemoryRiskStore:
    """Keeps state and events in memory (backtests, benchmarks): nothing survives the
    process, so the engine never uses it for live or paper trading."""

    def __init__(self) -> None:
        self._state: bytes | None = None
        self.events: list[RiskEvent] = []

    def save_state(self, state: dict[str, Any]) -> None:
        self._state = orjson.dumps(state)

    def load_state(self) -> dict[str, Any] | None:
        return orjson.loads(self._state) if self._state is not None else None

    def append_event(self, event: RiskEvent) -> None:
        self.events.append(event)
