"""SQLite sink (the embedded default): one row per point, WAL mode so readers never block."""
from __future__ import annotations

import sqlite3
import threading

from pyengine.telemetry.encode import dumps
from pyengine.telemetry.metrics import Point

SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    ts_ns INTEGER NOT NULL,
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,     -- JSON object
    fields TEXT NOT NULL    -- JSON object
);
CREATE INDEX IF NOT EXISTS metrics_by_name_time ON metrics (measurement, ts_ns);
"""

_INSERT_BATCH = """
INSERT INTO metrics (ts_ns, measurement, tags, fields)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
       json_extract(value, '$[2]'), json_extract(value, '$[3]')
FROM json_each(?)
"""


class SqliteSink:
    name = "sqlite"
    max_batch = 5000

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # created lazily inside the worker thread that uses it
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            self._conn = conn
        return self._conn

    def write(self, points: list[Point]) -> None:
        # One statement for the whole batch: executemany would release and re-take the GIL
        # once per row, and each re-take can stall the engine's trio thread mid-tick.
        batch = dumps([(p.ts_ns, p.measurement, p.tags, p.fields) for p in points])
        with self._lock:
            conn = self._connection()
            with conn:
                conn.execute(_INSERT_BATCH, (batch,))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
