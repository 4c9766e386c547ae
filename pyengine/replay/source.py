"""A recording prepared for the C replay: normalised lines, streamed in large chunks.

``pyengine.book.Feed.replay`` runs lines of the form ``{"recv_ts_ns":N,"msg":<frame>}``.
Every layout ``pyengine.recording`` reads (``recv_ts_us`` / ``recv_ts`` headers, ``data``
instead of ``msg``, directories of files merged by receive time) is rewritten into that form
on the fly; a REST snapshot line gets a ``symbol`` key (from its ``url``, or the file's only
symbol) so the replay knows which book it belongs to. The frames are copied byte for byte.
The replay holds one chunk (about ``CHUNK_BYTES``) at a time, so a day-long recording
replays in bounded memory.

``load`` reads the start of every file (``SCAN_RECORDS`` records) to learn the symbols and
kline streams the strategies can run on (a symbol that first appears later stops the replay
with an error naming the record).
"""
from __future__ import annotations

import heapq
import itertools
import pathlib
import re
from dataclasses import dataclass
from typing import Iterator

from pyengine.errors import UserError
from pyengine.recording import RecordingError, records, recording_files

CHUNK_BYTES = 16 << 20
SCAN_RECORDS = 20_000
_SYMBOL = re.compile(rb'"s":"([^"\\]{1,40})"')
_KLINE_STREAM = re.compile(rb'"stream":"([a-z0-9]+)@kline_([0-9a-zA-Z]+)"')
_URL_SYMBOL = re.compile(r'[?&]symbol=([A-Za-z0-9]+)')
_LINE_SYMBOL = re.compile(rb'"symbol":"([A-Z0-9]+)",')
_SNAPSHOT = b'{"lastUpdateId"'


@dataclass
class Chunk:
    buf: bytes               # whole normalised lines
    first_record: int        # number (from 1) of its first line in the recording

    def line_symbol(self, frame_offset: int) -> str | None:
        """The symbol of the snapshot line holding ``frame_offset``."""
        start = self.buf.rfind(b"\n", 0, frame_offset) + 1
        m = _LINE_SYMBOL.match(self.buf, self.buf.index(b",", start) + 1, frame_offset)
        return m.group(1).decode() if m else None

    def record_number(self, frame_offset: int) -> int:
        return self.first_record + self.buf.count(b"\n", 0, frame_offset)


@dataclass
class Recording:
    paths: list[pathlib.Path]
    symbols: list[str]                    # symbols at the start of the files, sorted
    kline_streams: set[tuple[str, str]]   # (SYMBOL, interval) of recorded kline streams
    file_symbols: list[list[str]]         # per file, for snapshot lines without a url
    first_ns: int
    last_ns: int = 0                      # known once the chunks were read
    records: int = 0                      # idem
    chunk_bytes: int = CHUNK_BYTES

    def describe(self) -> str:
        names = ", ".join(p.name for p in self.paths)
        return f"{names} ({', '.join(self.symbols)})"

    def where(self) -> str:
        names = ", ".join(str(p) for p in self.paths)
        return names if len(self.paths) == 1 else f"{names} (merged by receive time)"

    def chunks(self) -> Iterator[Chunk]:
        """The whole recording as normalised lines, in receive-time order, chunk by chunk."""
        streams = [_lines(f, syms) for f, syms in zip(self.paths, self.file_symbols)]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda x: x[0])
        n = 0
        parts: list[bytes] = []
        size = 0
        first = 1
        last = self.first_ns
        for ts, line in merged:
            parts.append(line)
            size += len(line) + 1
            last = ts
            n += 1
            if size >= self.chunk_bytes:
                yield Chunk(b"\n".join(parts) + b"\n", first)
                first, parts, size = n + 1, [], 0
        if parts:
            yield Chunk(b"\n".join(parts) + b"\n", first)
        self.records, self.last_ns = n, last


def load(path: str | pathlib.Path) -> Recording:
    """Open a recording file or directory; ``UserError`` says what is wrong and where."""
    p = pathlib.Path(path)
    files = recording_files(p)          # RecordingError (a UserError) for a missing/odd path
    symbols: set[str] = set()
    klines: set[tuple[str, str]] = set()
    file_symbols: list[list[str]] = []
    first = None
    for f in files:
        head = list(itertools.islice(records(f), SCAN_RECORDS))
        if not head:
            raise RecordingError(f"{f}: the recording holds no complete record (empty, or not "
                                 "gzip/JSONL data)")
        first = head[0].recv_ts_ns if first is None else min(first, head[0].recv_ts_ns)
        text = b"\n".join(r.msg for r in head)
        names = sorted({s.decode("utf-8", "replace").upper() for s in _SYMBOL.findall(text)})
        file_symbols.append(names)
        symbols.update(names)
        klines.update((s.decode().upper(), i.decode()) for s, i in _KLINE_STREAM.findall(text))
    if not symbols:
        raise RecordingError(f"{p}: no market-data frame names a symbol (\"s\"): not a "
                             "Binance market-data recording")
    return Recording(files, sorted(symbols), klines, file_symbols, first)


def _lines(path: pathlib.Path, names: list[str]) -> Iterator[tuple[int, bytes]]:
    """(receive time, normalised line) of every record of one file."""
    for n, rec in enumerate(records(path), 1):
        if rec.msg.startswith(_SNAPSHOT):
            m = _URL_SYMBOL.search(rec.url) if rec.url else None
            if m is not None:
                sym = m.group(1).upper()
            elif len(names) == 1:
                sym = names[0]
            else:
                raise RecordingError(f"{path}: record {n}: a depth snapshot without a url naming "
                                     f"its symbol, in a file of {len(names)} symbols")
            head = b'{"recv_ts_ns":%d,"symbol":"%s",' % (rec.recv_ts_ns, sym.encode())
        else:
            head = b'{"recv_ts_ns":%d,' % rec.recv_ts_ns
        yield rec.recv_ts_ns, head + b'"msg":' + rec.msg + b"}"


def check_symbols(rec: Recording, known: set[str]) -> None:
    unknown = [s for s in rec.symbols if s not in known]
    if unknown:
        raise UserError(f"{rec.where()}: symbol(s) {', '.join(unknown)} have no exchangeInfo "
                        f"here (known: {', '.join(sorted(known))})")
