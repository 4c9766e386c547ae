"""The write-ahead journal: one SQLite file in WAL mode, append-only.

Engine-facing API (one ``Journal`` per engine, used from the trio thread only)::

    j = Journal(path, synchronous="normal")    # or "full"; creates the file; one writer:
                                               # JournalError if another engine holds it
    j.record_intent(coid, strategy_id=..., symbol=..., data={...})
          # durable when it returns: call it, THEN send the order.  Raises DuplicateIntent
          # when this client order id was journaled before (a restarted engine re-deriving
          # the id of a decision it already made must not send it again).
    j.append("ack" | "order" | "fill" | "balance" | "risk" | "state" | "reconcile" | "note"
             | "exit",                         # exit: a strategy.exit leg (engine/exits.py)
             data, symbol=..., client_order_id=..., strategy_id=..., trade_id=...)
          # queued in memory (no I/O on the hot path), written by the next flush
    j.flush()                                  # write the queue in one transaction
    await j.run_flusher(interval_s)            # trio task: flush every interval; checkpoint
                                               # the WAL in a worker thread
    j.close()                                  # flush + checkpoint + close
    j.records(since_seq=0, kinds=None)         # iterator of Record, in journal order
    j.has_intent(coid); j.last_trade_ids()     # {symbol: highest journaled trade id}

    JournalReader(path)                        # read-only, safe while an engine writes
    reader.records(since_seq, kinds), reader.last_seq(), reader.unflushed_intents()

Durability. ``record_intent`` copies the intent as one line into the intent log
(``<path>-intents``), a file mapped into memory (``MAP_SHARED``): the bytes are in the kernel's
page cache as soon as they are copied, with no system call, and survive the death of the
process (kill -9) just as a ``write()`` would, before it returns (about 1 us, against about
25 us for a committed SQLite transaction; see tools/bench/journal.py). With
``synchronous="full"`` it also ``msync``s the line's pages and survives power loss. The log is
a zero-filled file of ``LOG_BYTES``; its content ends at the first NUL byte, and a last line
without its newline (a copy cut short by a crash) was never reported written. The intent is
queued for the database like every other record; ``flush`` writes the queue in one
transaction and then zeroes the part of the log it used. A restarted ``Journal`` first moves
whatever the log still holds into the database, so nothing that was reported written is lost,
and the journal keeps the order in which things happened.
Automatic checkpoints are off so the hot path never pays for one; ``run_flusher`` checkpoints in
a worker thread. Readers see intents in the database after the next flush (every 50 ms by
default); ``unflushed_intents()`` shows the log's.

Fills are unique by (symbol, exchange trade id) and intents by client order id (partial unique
indexes): a replayed fill is ignored (``INSERT OR IGNORE``), never counted twice.

Amounts go in as ``Decimal`` and are stored as JSON strings (exact), never as floats. Run
``run_flusher`` (or call ``flush``/``checkpoint``) or the WAL keeps growing.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import pathlib
import sqlite3
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Iterator

import orjson
import trio

from pyengine.errors import UserError

SCHEMA_VERSION = 1
KINDS = frozenset({"intent", "ack", "order", "fill", "balance", "risk", "state", "reconcile",
                   "note", "exit"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq             INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,
    wall_ms         INTEGER NOT NULL,
    mono_ns         INTEGER NOT NULL,
    strategy_id     TEXT,
    symbol          TEXT,
    client_order_id TEXT,
    trade_id        INTEGER,
    data            TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_intent ON records(client_order_id)
    WHERE kind = 'intent';
CREATE UNIQUE INDEX IF NOT EXISTS records_fill ON records(symbol, trade_id)
    WHERE kind = 'fill';
"""
# No other index: every page an intent's commit touches costs time on the hot path (an
# index on client_order_id for all kinds made intents about 1.5x slower).
_INSERT = ("INSERT OR IGNORE INTO records (kind, wall_ms, mono_ns, strategy_id, symbol, "
           "client_order_id, trade_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_PAGE = 5000
LOG_BYTES = 1 << 20        # the intent log's mapped size (about 4,000 intents between flushes)
_COLUMNS = "seq, kind, wall_ms, mono_ns, strategy_id, symbol, client_order_id, trade_id, data"


class JournalError(UserError):
    """The journal cannot be used: not a journal, newer schema, in use, not writable."""


class DuplicateIntent(Exception):
    """This client order id is already in the journal: the order must not be sent again."""


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    kind: str
    wall_ms: int
    mono_ns: int
    strategy_id: str | None
    symbol: str | None
    client_order_id: str | None
    trade_id: int | None
    data: dict[str, Any]


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"cannot journal a {type(obj).__name__}")


def _dumps(data: dict[str, Any]) -> str:
    return orjson.dumps(data, default=_default).decode("utf-8")


def _row(r: tuple) -> Record:
    return Record(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], orjson.loads(r[8]))


def _select(conn: sqlite3.Connection, since_seq: int, kinds: Iterable[str] | None,
            limit: int | None) -> Iterator[Record]:
    """Pages of rows, so that a long journal neither fills memory nor holds a read cursor
    open between pages."""
    where = "seq > ?"
    kinds = list(kinds) if kinds is not None else None
    if kinds is not None:
        where += f" AND kind IN ({','.join('?' * len(kinds))})"
    sql = f"SELECT {_COLUMNS} FROM records WHERE {where} ORDER BY seq LIMIT ?"
    left = limit
    while left is None or left > 0:
        n = _PAGE if left is None else min(_PAGE, left)
        rows = conn.execute(sql, [since_seq, *(kinds or ()), n]).fetchall()
        for r in rows:
            yield _row(r)
        if len(rows) < n:
            return
        since_seq = rows[-1][0]
        if left is not None:
            left -= len(rows)


def intent_log_path(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(path.name + "-intents")


def read_intent_log(path: pathlib.Path) -> list[tuple]:
    """The complete lines of an intent log as record rows (a line cut short by a crash in
    the middle of a write was never reported written, and is skipped)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    end = raw.find(b"\0")
    lines = (raw if end < 0 else raw[:end]).split(b"\n")[:-1]
    rows = []
    for n, line in enumerate(lines, 1):
        try:
            rows.append(tuple(orjson.loads(line)))
        except orjson.JSONDecodeError:
            raise JournalError(f"{path}:{n}: damaged intent log line") from None
    return rows


def _check_version(conn: sqlite3.Connection, path: pathlib.Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise JournalError(f"{path}: journal schema {version} is newer than this pyengine "
                           f"({SCHEMA_VERSION})")


class Journal:
    def __init__(self, path: str | os.PathLike, synchronous: str = "normal",
                 max_pending: int = 4096):
        if synchronous not in ("normal", "full"):
            raise ValueError("synchronous must be 'normal' or 'full'")
        self.path = pathlib.Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot create its directory: {exc.strerror}") \
                from None
        self._lock_fd = self._lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._setup(synchronous)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            os.close(self._lock_fd)
            raise JournalError(f"{self.path}: cannot use as a journal ({exc})") from None
        self._pending: list[tuple] = []
        self._max_pending = max_pending
        self._full = synchronous == "full"
        self._aside: sqlite3.Connection | None = None
        self.intent_log = intent_log_path(self.path)
        self._log_fd = os.open(self.intent_log, os.O_RDWR | os.O_CREAT, 0o644)
        self._log_pos = 0              # bytes of the log in use (lines not yet in the database)
        self._recover_intent_log()
        self._log = mmap.mmap(self._log_fd, LOG_BYTES)
        self._intents = {r[0] for r in self._conn.execute(
            "SELECT client_order_id FROM records WHERE kind = 'intent'")}
        self._closed = False

    def _recover_intent_log(self) -> None:
        """Intents a crashed engine logged but never flushed go into the database first."""
        rows = read_intent_log(self.intent_log)
        if rows:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            c.executemany(_INSERT, rows)
            c.execute("COMMIT")
        os.ftruncate(self._log_fd, 0)          # all zeros again, at its mapped size
        os.ftruncate(self._log_fd, LOG_BYTES)
        if self._full:
            os.fsync(self._log_fd)

    def _clear_log(self) -> None:
        """The lines in the log are in the database: zero them."""
        n = self._log_pos
        if n:
            self._log[:n] = bytes(n)
            if self._full:
                self._log.flush(0, n)
            self._log_pos = 0

    def _lock(self) -> int:
        """One writer per journal: two engines on one journal could send one decision twice.
        The lock dies with the process, so a restart after kill -9 takes it at once."""
        lock = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot create the lock file {lock}: "
                               f"{exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise JournalError(f"{self.path}: in use by another engine (pid {holder}, "
                               f"lock {lock})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def _setup(self, synchronous: str) -> None:
        c = self._conn
        mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise JournalError(f"{self.path}: cannot switch to WAL mode (got {mode})")
        c.execute(f"PRAGMA synchronous={synchronous.upper()}")
        c.execute("PRAGMA wal_autocheckpoint=0")
        c.execute("PRAGMA busy_timeout=5000")
        _check_version(c, self.path)
        c.executescript(_SCHEMA)
        c.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # ------------------------------------------------------------ writing

    def record_intent(self, client_order_id: str, *, strategy_id: str, symbol: str,
                      data: dict[str, Any]) -> None:
        """Journal an order intent durably: send the order only after this returns."""
        if client_order_id in self._intents:
            raise DuplicateIntent(client_order_id)
        row = ("intent", time.time_ns() // 1_000_000, time.monotonic_ns(), strategy_id, symbol,
               client_order_id, None, _dumps(data))
        line = orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
        start = self._log_pos
        end = start + len(line)
        if end > LOG_BYTES:
            if len(line) > LOG_BYTES:
                raise ValueError(f"intent {client_order_id}: {len(line)} bytes, more than the "
                                 f"intent log holds ({LOG_BYTES})")
            self.flush()                          # the log is full: empty it first
            start, end = 0, len(line)
        self._log[start:end] = line
        self._log_pos = end
        if self._full:
            page = start - start % mmap.PAGESIZE
            self._log.flush(page, end - page)
        self._intents.add(client_order_id)
        self._pending.append(row)
        if len(self._pending) >= self._max_pending:
            self.flush()

    def append(self, kind: str, data: dict[str, Any], *, symbol: str | None = None,
               client_order_id: str | None = None, strategy_id: str | None = None,
               trade_id: int | None = None) -> None:
        """Queue a record; it is written by the next flush (or intent)."""
        if kind not in KINDS or kind == "intent":
            raise ValueError(f"unknown journal record kind {kind!r}")
        if kind == "fill" and (symbol is None or trade_id is None):
            raise ValueError("a fill needs its symbol and exchange trade id")
        self._pending.append((kind, time.time_ns() // 1_000_000, time.monotonic_ns(),
                              strategy_id, symbol, client_order_id, trade_id, _dumps(data)))
        if len(self._pending) >= self._max_pending:
            self.flush()

    def flush(self) -> int:
        """Write the queued records (intents included) in one transaction, then empty the
        intent log; returns how many records were queued."""
        n = len(self._pending)
        if n:
            c = self._conn
            # In "full" mode the commit must be fsynced only when it takes over intents from
            # the log (which is emptied next); other records need no fsync of their own.
            relaxed = self._full and not self._log_pos
            if relaxed:
                c.execute("PRAGMA synchronous=NORMAL")
            try:
                c.execute("BEGIN IMMEDIATE")
                try:
                    c.executemany(_INSERT, self._pending)
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
                c.execute("COMMIT")
            finally:
                if relaxed:
                    c.execute("PRAGMA synchronous=FULL")
            self._pending.clear()
        self._clear_log()
        return n

    def checkpoint(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _checkpoint_aside(self) -> None:
        # Its own connection, used from a worker thread: copying WAL pages into the database
        # (and, with synchronous=full, fsyncing it) never blocks the trio thread.
        if self._aside is None:
            self._aside = sqlite3.connect(self.path, isolation_level=None,
                                          check_same_thread=False)
            self._aside.execute("PRAGMA busy_timeout=5000")
        self._aside.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def run_flusher(self, interval_s: float = 0.05, checkpoint_s: float = 1.0,
                          task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Flush every ``interval_s``; checkpoint the WAL every ``checkpoint_s`` in a thread."""
        task_status.started()
        next_checkpoint = trio.current_time() + checkpoint_s
        try:
            while True:
                await trio.sleep(interval_s)
                self.flush()
                if trio.current_time() >= next_checkpoint:
                    await trio.to_thread.run_sync(self._checkpoint_aside)
                    next_checkpoint = trio.current_time() + checkpoint_s
        finally:
            self.flush()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self.checkpoint()
        if self._aside is not None:
            self._aside.close()
        self._conn.close()
        self._log.close()
        os.ftruncate(self._log_fd, 0)            # nothing left in it: no zeros left behind
        os.close(self._log_fd)
        os.close(self._lock_fd)
        self._closed = True

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ reading (same process)

    def records(self, since_seq: int = 0, kinds: Iterable[str] | None = None,
                limit: int | None = None) -> Iterator[Record]:
        """Committed records after ``since_seq`` (queued ones are not included: flush first)."""
        return _select(self._conn, since_seq, kinds, limit)

    def has_intent(self, client_order_id: str) -> bool:
        return client_order_id in self._intents

    def last_trade_ids(self) -> dict[str, int]:
        return dict(self._conn.execute(
            "SELECT symbol, MAX(trade_id) FROM records WHERE kind = 'fill' GROUP BY symbol"))


class JournalReader:
    """Read-only access to a journal another process may be writing."""

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(str(self.path))
        self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            self._conn.execute("PRAGMA busy_timeout=5000")
            has_table = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise JournalError(f"{self.path}: not a pyengine journal ({exc})") from None
        if not has_table:
            self._conn.close()
            raise JournalError(f"{self.path}: not a pyengine journal (no records table)")
        _check_version(self._conn, self.path)

    def records(self, since_seq: int = 0, kinds: Iterable[str] | None = None,
                limit: int | None = None) -> Iterator[Record]:
        return _select(self._conn, since_seq, kinds, limit)

    def last_seq(self) -> int:
        return self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]

    def unflushed_intents(self) -> list[Record]:
        """Intents in the intent log, not yet in the database (seq 0)."""
        return [Record(0, r[0], r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]))
                for r in read_intent_log(intent_log_path(self.path))]

    def integrity_ok(self) -> bool:
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "JournalReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
