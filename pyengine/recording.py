"""Recording files: raw Binance frames with their receive timestamps, one JSON object a line.

Layout (the bundled recordings' layout, see ``pyengine/data/PROVENANCE.md``)::

    {"recv_ts_ns":<wall ns>,"mono_ns":<monotonic ns>,"msg":<frame, byte for byte>}
    {"recv_ts_ns":<wall ns>,"mono_ns":<monotonic ns>,"url":"<REST url>","msg":<REST body>}

``msg`` is always the last key and holds the exchange's JSON text unchanged, so a reader slices
the bytes out of the line instead of parsing and re-serialising them (re-serialising would change
number formatting and break byte-exact replay). ``mono_ns`` and ``url`` are optional. The reader
also accepts the older bundled variants: ``recv_ts_us`` (integer µs), ``recv_ts`` (decimal
seconds) and ``data`` instead of ``msg``.

Files are plain ``.jsonl`` or gzip ``.jsonl.gz``. ``RecordingWriter`` rotates files by size and
age and deletes the oldest of its own files to stay inside a disk budget. A file cut short by a
crash (truncated gzip, partial last line) is read up to its last complete line, with a warning.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import gzip
import heapq
import logging
import os
import pathlib
import re
import time
import zlib
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import orjson

from pyengine.errors import UserError

log = logging.getLogger(__name__)

SUFFIXES = (".jsonl", ".jsonl.gz")
_PAYLOAD_KEYS = (b',"msg":', b',"data":')
_DECIMAL_SECONDS = re.compile(rb'"recv_ts":\s*([0-9][0-9.eE+-]*)')


class RecordingError(UserError):
    """A recording file that cannot be read: names the file and line."""


class Record(NamedTuple):
    recv_ts_ns: int          # wall-clock receive time, ns since the Unix epoch
    msg: bytes               # the frame or REST body exactly as received
    mono_ns: int | None      # monotonic receive time when the recorder wrote it
    url: str | None          # REST request URL for snapshot lines


def _is_recording(p: pathlib.Path) -> bool:
    return p.is_file() and p.name.endswith(SUFFIXES)


def recording_files(path: str | os.PathLike) -> list[pathlib.Path]:
    """The recording files at ``path`` (a file, or a directory's files in name order)."""
    p = pathlib.Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if _is_recording(f))
        if not files:
            raise RecordingError(f"{p}: no recording files (*.jsonl, *.jsonl.gz) in this directory")
        return files
    if not p.exists():
        raise RecordingError(f"{p}: no such file or directory")
    if not p.name.endswith(SUFFIXES):
        raise RecordingError(f"{p}: not a recording (expected a .jsonl or .jsonl.gz file)")
    return [p]


def records(path: str | os.PathLike) -> Iterator[Record]:
    """Every record of a file, or of all files of a directory merged by receive time."""
    files = recording_files(path)
    if len(files) == 1:
        return _file_records(files[0])
    return heapq.merge(*(_file_records(f) for f in files), key=lambda r: r.recv_ts_ns)


def frames(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """``(recv_ts_ns, raw_msg_bytes)`` for every record, in receive-time order."""
    for r in records(path):
        yield r.recv_ts_ns, r.msg


def depth_session(path: str | os.PathLike) -> tuple[bytes, list[bytes]]:
    """The recording's last REST depth snapshot and the diff frames Binance's sync procedure
    applies after it (``u`` > its lastUpdateId), as recorded."""
    snapshot, diffs = None, []
    for _, raw in frames(path):
        if raw.startswith(b'{"lastUpdateId"'):
            snapshot = raw
        elif b'"depthUpdate"' in raw[:80]:
            diffs.append(raw)
    if snapshot is None:
        raise UserError(f"{path}: the recording holds no depth snapshot")
    lid = orjson.loads(snapshot)["lastUpdateId"]
    return snapshot, [d for d in diffs if orjson.loads(d)["data"]["u"] > lid]


def _blocks(path: pathlib.Path) -> Iterator[bytes]:
    """Decompressed contents in large blocks; raises EOFError when a gzip file is cut short."""
    with open(path, "rb") as fh:
        if not path.name.endswith(".gz"):
            while raw := fh.read(1 << 20):
                yield raw
            return
        z = None                                  # None between gzip members
        while raw := fh.read(1 << 20):
            while raw:
                if z is None:
                    z = zlib.decompressobj(wbits=31)
                yield z.decompress(raw)
                raw, z = (z.unused_data, None) if z.eof else (b"", z)
        if z is not None:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")


def _file_records(path: pathlib.Path) -> Iterator[Record]:
    # Split large blocks: several times faster than line-by-line reads.
    rest, lineno = b"", 0
    try:
        for block in _blocks(path):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                lineno += 1
                if line:
                    yield _parse_line(path, lineno, line)
    except (EOFError, zlib.error) as exc:
        # A recorder killed mid-write leaves a truncated gzip member; what came before is good.
        log.warning("%s: recording ends early (%s); read up to the last complete line", path, exc)
        return
    if rest.strip():
        # A last line without newline is complete only if its message is whole JSON.
        rec = _parse_line(path, lineno + 1, rest)
        try:
            orjson.loads(rec.msg)
        except orjson.JSONDecodeError:
            log.warning("%s:%d: incomplete last line ignored", path, lineno + 1)
            return
        yield rec


_NS_HEAD = b'{"recv_ts_ns":'


def _parse_line(path: pathlib.Path, lineno: int, line: bytes) -> Record:
    line = line.rstrip()
    if line.startswith(_NS_HEAD) and line.endswith(b"}"):
        # Fast path for the usual layout; anything unusual takes the checked path below.
        j = line.find(b",", 14)
        if line.startswith(b'"msg":{', j + 1) and line[14:j].isdigit():
            return Record(int(line[14:j]), line[j + 7:-1], None, None)
        if line.startswith(b'"mono_ns":', j + 1):
            k = line.find(b",", j + 11)
            if (line.startswith(b'"msg":{', k + 1) and line[14:j].isdigit()
                    and line[j + 11:k].isdigit()):
                return Record(int(line[14:j]), line[k + 7:-1], int(line[j + 11:k]), None)
    where = f"{path}:{lineno}"
    if not line.startswith(b"{") or not line.endswith(b"}"):
        raise RecordingError(f"{where}: not a JSON object line")
    for key in _PAYLOAD_KEYS:
        i = line.find(key)
        if i > 0:
            break
    else:
        raise RecordingError(f'{where}: no "msg" (or "data") field')
    msg = line[i + len(key):-1].strip()
    try:
        head = orjson.loads(line[:i] + b"}")
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"{where}: bad header before the message: {exc}") from None
    if not msg or msg[:1] not in b"{[":
        raise RecordingError(f"{where}: the message is not a JSON object or array")
    if "recv_ts_ns" in head:
        ts = head["recv_ts_ns"]
    elif "recv_ts_us" in head:
        ts = head["recv_ts_us"] * 1000 if isinstance(head["recv_ts_us"], int) else None
    elif "recv_ts" in head:
        ts = _seconds_to_ns(_DECIMAL_SECONDS.search(line[:i]))
    else:
        raise RecordingError(f"{where}: no receive timestamp (recv_ts_ns, recv_ts_us or recv_ts)")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
        raise RecordingError(f"{where}: the receive timestamp is not a non-negative integer")
    mono = head.get("mono_ns")
    if mono is not None and (not isinstance(mono, int) or isinstance(mono, bool)):
        raise RecordingError(f"{where}: mono_ns is not an integer")
    url = head.get("url")
    if url is not None and not isinstance(url, str):
        raise RecordingError(f"{where}: url is not a string")
    return Record(ts, msg, mono, url)


def _seconds_to_ns(match: re.Match | None) -> int | None:
    # Decimal, not float: a float cannot hold 1633998512.0633569 s to the nanosecond.
    if match is None:
        return None
    try:
        return int(Decimal(match.group(1).decode()) * 1_000_000_000)
    except InvalidOperation:
        return None


@dataclasses.dataclass
class WriterStats:
    records: int = 0
    files_opened: int = 0
    files_deleted: int = 0
    bytes_deleted: int = 0


class RecordingWriter:
    """Appends records to rotating gzip JSONL files in ``directory`` within ``budget_bytes``.

    Files are named ``<prefix>-<UTC start time>-<sequence>.jsonl.gz`` so name order is time
    order. When the writer's files would exceed the budget, its oldest closed files are deleted
    (recording keeps the newest data). The budget counts compressed bytes on disk; the open file
    is at most ``min(max_file_bytes, budget_bytes // 2)`` so that one closed file can be kept.
    """

    def __init__(self, directory: str | os.PathLike, *, prefix: str = "rec",
                 budget_bytes: int = 10 * 2**30, max_file_bytes: int = 256 * 2**20,
                 max_file_age_s: float = 3600.0, flush_interval_s: float = 1.0,
                 compresslevel: int = 6) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.]+", prefix):
            raise ValueError(f"recording prefix {prefix!r}: use letters, digits, '_' or '.'")
        if budget_bytes < 2 * 4096:
            raise ValueError(f"recording budget {budget_bytes} bytes is too small (min 8192)")
        if max_file_bytes <= 0 or max_file_age_s <= 0:
            raise ValueError("max_file_bytes and max_file_age_s must be positive")
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.budget_bytes = budget_bytes
        self.max_file_bytes = min(max_file_bytes, budget_bytes // 2)
        self.max_file_age_s = max_file_age_s
        self.flush_interval_s = flush_interval_s
        self.compresslevel = compresslevel
        self.stats = WriterStats()
        self._name = re.compile(re.escape(prefix) + r"-\d{8}T\d{12}Z-\d{6}\.jsonl\.gz")
        self._closed = sorted(p for p in self.directory.iterdir() if self._name.fullmatch(p.name))
        self._closed_bytes = sum(p.stat().st_size for p in self._closed)
        self._seq = len(self._closed)
        self._raw = None
        self._gz: gzip.GzipFile | None = None
        self._opened_mono = 0.0
        self._flushed_mono = 0.0
        self.path: pathlib.Path | None = None

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, msg: bytes, *, recv_ts_ns: int | None = None, mono_ns: int | None = None,
              url: str | None = None) -> None:
        """Append one frame (or REST body with its ``url``) received at the given times."""
        if b"\n" in msg or b"\r" in msg:
            raise ValueError("a recorded message must be one line of JSON (it contains a newline)")
        if msg[:1] not in (b"{", b"["):
            raise ValueError(f"a recorded message must be a JSON object or array: {msg[:40]!r}")
        mono = time.monotonic_ns() if mono_ns is None else mono_ns
        wall = time.time_ns() if recv_ts_ns is None else recv_ts_ns
        head = b'{"recv_ts_ns":%d,"mono_ns":%d,' % (wall, mono)
        if url is not None:
            head += b'"url":' + orjson.dumps(url) + b","
        now = time.monotonic()
        if self._gz is None:
            self._open(wall)
        elif (self._raw.tell() >= self.max_file_bytes
              or now - self._opened_mono >= self.max_file_age_s):
            self._rotate(wall)
        self._gz.write(head + b'"msg":' + msg + b"}\n")
        self.stats.records += 1
        if now - self._flushed_mono >= self.flush_interval_s:
            self.flush()
            self._flushed_mono = now
        self._enforce_budget()

    def flush(self) -> None:
        """Make everything written so far readable from disk (a gzip sync flush)."""
        if self._gz is not None:
            self._gz.flush()
            self._raw.flush()

    def close(self) -> None:
        if self._gz is not None:
            self._gz.close()
            self._raw.close()
            self._closed.append(self.path)
            self._closed_bytes += self.path.stat().st_size
            self._gz = self._raw = None
            self._enforce_budget()

    def disk_bytes(self) -> int:
        """Bytes of this writer's files on disk now (closed files plus the open one)."""
        return self._closed_bytes + (self._raw.tell() if self._raw is not None else 0)

    def _open(self, wall_ns: int) -> None:
        start = _dt.datetime.fromtimestamp(wall_ns / 1e9, _dt.timezone.utc)
        self.path = self.directory / f"{self.prefix}-{start:%Y%m%dT%H%M%S%f}Z-{self._seq:06d}.jsonl.gz"
        self._seq += 1
        self._raw = open(self.path, "xb")
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=self.compresslevel,
                                 mtime=0)
        self._opened_mono = self._flushed_mono = time.monotonic()
        self.stats.files_opened += 1

    def _rotate(self, wall_ns: int) -> None:
        self.close()
        self._open(wall_ns)

    def _enforce_budget(self) -> None:
        while self._closed and self.disk_bytes() > self.budget_bytes:
            oldest = self._closed.pop(0)
            size = oldest.stat().st_size
            self._closed_bytes -= size
            oldest.unlink()
            self.stats.files_deleted += 1
            self.stats.bytes_deleted += size
            log.info("recording budget: deleted %s (%d bytes)", oldest.name, size)

