"""Recording live Binance market streams byte for byte (``pyengine record``).

One combined-stream connection (``/stream`` + ``SUBSCRIBE``) is kept up by the connector's
:func:`~pyengine.venue.binance.connection.keep_connected` (jittered backoff, ping watchdog,
proactive reconnect before the 24 h cut) and re-subscribed after every connect. Each stream
frame is appended exactly as received, with its wall-clock and monotonic receive times, to its
symbol's :class:`~pyengine.recording.RecordingWriter`: rotating gzip JSONL files named
``binance_<venue>_<symbol>-<UTC start>-<seq>.jsonl.gz`` in the bundled recordings' line layout,
one symbol per file, the disk budget shared equally by the symbols.

REST depth snapshots (lines with a ``url``) go to the same files whenever a diff-depth stream is
recorded:

* right after every (re)connect;
* at the start of every new file, so each file rebuilds a book on its own and deleting the
  oldest files for the budget never strands the newer ones;
* when the stream itself skips update ids;
* every ``snapshot_every`` seconds, staggered over the symbols.

A snapshot older than the first diff it must join (the official procedure's step 4) is not
written; a newer one is fetched instead. A reader therefore rebuilds a book the way the
connector does, and :func:`pyengine.record.check.check` proves it for a recording: diffs the
book cannot take are buffered until the next snapshot, which is loaded and the buffer replayed.
"""
from __future__ import annotations

import itertools
import logging
import math
import pathlib
import re
import time
from dataclasses import dataclass
from typing import Iterable

import orjson
import trio
from trio_websocket import WebSocketConnection

from pyengine.errors import UserError
from pyengine.record.names import DIFF_DEPTH
from pyengine.recording import RecordingWriter
from pyengine.venue.binance.connection import Backoff, ConnectionStats, Reconnect, keep_connected
from pyengine.venue.binance.endpoints import Endpoints
from pyengine.venue.binance.errors import APIError, BinanceError, RateLimited
from pyengine.venue.binance.rest import RestClient

log = logging.getLogger("pyengine.record")

MAX_STREAMS_PER_CONNECTION = 1024        # Binance's limit (digest 11.1)
MAX_STREAMS_PER_SUBSCRIBE = 200
SUBSCRIBE_TIMEOUT_S = 10.0
FLUSH_INTERVAL_S = 1.0
EXCHANGE_INFO_FILE = "exchangeInfo.json"

_STREAM_HEAD = b'{"stream":"'
_DIFF_IDS = re.compile(rb'"U":(\d+),"u":(\d+)')
_LAST_UPDATE_ID = re.compile(rb'^\{"lastUpdateId":(\d+)')


class RecorderError(UserError):
    """The venue refused what the recorder asked for (unknown symbol, rejected stream)."""


@dataclass
class RecorderStats:
    frames: int = 0              # stream frames written
    ignored: int = 0             # control replies and frames of streams not asked for
    unwritable: int = 0          # frames that were not one line of JSON (never seen from Binance)
    snapshots: int = 0           # depth snapshots written
    stale_snapshots: int = 0     # fetched but older than the stream: fetched again
    snapshot_errors: int = 0     # failed snapshot requests (retried)
    stream_gaps: int = 0         # update ids skipped by the stream itself


class _Symbol:
    """One recorded symbol: its writer and where its diff sequence stands."""

    def __init__(self, symbol: str, writer: RecordingWriter, diff_stream: bytes | None, snapshot_url: str):
        self.symbol = symbol
        self.writer = writer
        self.diff_stream = diff_stream      # e.g. b"btcusdt@depth@100ms"; None: no snapshots
        self.snapshot_url = snapshot_url    # recorded with each snapshot (the request sent)
        self.last_u: int | None = None      # last diff id on this connection
        self.first_u: int | None = None     # first diff id since the last sync point
        self.snapshot_id: int | None = None  # snapshot written since the last sync point
        self.dirty = False                  # written since the last flush

    def sync_point(self) -> None:
        """From here on a reader needs a new snapshot (new connection, new file, stream gap)."""
        self.first_u = self.snapshot_id = None


def file_prefix(endpoints: Endpoints, symbol: str) -> str:
    venue = "spot" if endpoints.name == "production" else re.sub(r"[^A-Za-z0-9]", "", endpoints.name)
    return f"binance_{venue or 'local'}_{symbol.lower()}"


class Recorder:
    """Records ``streams`` (stream types such as ``depth@100ms``) of ``symbols`` into ``out``.

    ``await nursery.start(recorder.run)`` returns once the first subscription is confirmed;
    cancelling ``run`` closes every file (complete gzip streams, readable at once). A recorder
    runs once."""

    def __init__(self, endpoints: Endpoints, symbols: Iterable[str], streams: Iterable[str],
                 out: str | pathlib.Path, *, snapshot_every: float = 60.0, snapshot_limit: int = 1000,
                 rotate_bytes: int = 256 * 2**20, rotate_age_s: float = 3600.0,
                 budget_bytes: int = 10 * 2**30, backoff: Backoff | None = None,
                 ping_interval: float = 30.0, max_age: float = 23.5 * 3600):
        self.endpoints = endpoints
        self.symbols = list(symbols)
        kinds = list(streams)
        self.streams = [f"{s.lower()}@{k}" for s in self.symbols for k in kinds]
        if len(self.streams) > MAX_STREAMS_PER_CONNECTION:
            raise UserError(f"{len(self.symbols)} symbols x {len(kinds)} streams = {len(self.streams)} "
                            f"streams; Binance allows {MAX_STREAMS_PER_CONNECTION} on one connection")
        if not snapshot_every > 0:
            raise UserError(f"snapshot period {snapshot_every} s: must be positive")
        if not 1 <= snapshot_limit <= 5000:
            raise UserError(f"snapshot limit {snapshot_limit}: Binance serves 1..5000 levels")
        per_symbol = budget_bytes // len(self.symbols)
        if per_symbol < 2 * 4096:
            raise UserError(f"disk budget {budget_bytes} bytes leaves {per_symbol} per symbol; "
                            f"at least 8192 bytes per symbol are needed")
        self.out = pathlib.Path(out)
        self.snapshot_every = snapshot_every
        self.snapshot_limit = snapshot_limit
        self.backoff = backoff or Backoff()
        self.ping_interval = ping_interval
        self.max_age = max_age
        self.rest = RestClient(endpoints)
        diff = next((k for k in kinds if k in DIFF_DEPTH), None)
        self._by_prefix: dict[bytes, _Symbol] = {}
        for sym in self.symbols:
            writer = RecordingWriter(self.out, prefix=file_prefix(endpoints, sym), budget_bytes=per_symbol,
                                     max_file_bytes=rotate_bytes, max_file_age_s=rotate_age_s,
                                     flush_interval_s=FLUSH_INTERVAL_S)
            low = sym.lower()
            self._by_prefix[low.encode()] = _Symbol(
                sym, writer, f"{low}@{diff}".encode() if diff else None,
                f"{endpoints.rest}/api/v3/depth?symbol={sym}&limit={snapshot_limit}")
        self._wanted = frozenset(s.encode() for s in self.streams)
        self._depth = [s for s in self._by_prefix.values() if s.diff_stream is not None]
        self.stats = RecorderStats()
        self.connection = ConnectionStats()
        self.connected = False
        self._ids = itertools.count(1)
        self._queued: set[str] = set()
        self._send, self._recv = trio.open_memory_channel(math.inf)

    # -- running ---------------------------------------------------------------------------
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Check the symbols with the venue, then record until cancelled."""
        try:
            await self._load_exchange_info()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._flusher)
                if self._depth:
                    nursery.start_soon(self._snapshot_worker)
                    nursery.start_soon(self._periodic_snapshots)
                started = False

                async def session(ws: WebSocketConnection) -> None:
                    nonlocal started
                    await self._subscribe(ws)
                    self._on_connected()
                    if not started:
                        started = True
                        task_status.started()
                    await self._pump(ws)

                await keep_connected(f"{self.endpoints.streams}/stream", session, stats=self.connection,
                                     on_down=self._on_down, max_age=self.max_age,
                                     ping_interval=self.ping_interval, backoff=self.backoff)
        finally:
            self.close()
            with trio.CancelScope(shield=True):
                await self.rest.aclose()

    def flush(self) -> None:
        """Make everything received so far readable from the files."""
        for sym in self._by_prefix.values():
            if sym.dirty:
                sym.dirty = False
                try:
                    sym.writer.flush()
                except OSError as exc:
                    raise RecorderError(f"{sym.writer.path}: cannot write the recording: "
                                        f"{exc.strerror or exc}") from exc

    def close(self) -> None:
        """Flush and close every open file (idempotent)."""
        for sym in self._by_prefix.values():
            try:
                sym.writer.close()
            except OSError as exc:
                log.error("%s: could not close: %s", sym.writer.path, exc)

    @property
    def writers(self) -> dict[str, RecordingWriter]:
        return {sym.symbol: sym.writer for sym in self._by_prefix.values()}

    def files(self) -> list[pathlib.Path]:
        """This recorder's files on disk now, oldest first per symbol."""
        out = []
        for writer in self.writers.values():
            out += sorted(p for p in self.out.iterdir() if p.name.startswith(writer.prefix + "-"))
        return out

    def last_update_ids(self) -> dict[str, int | None]:
        """The last depth update id received per symbol on the current connection."""
        return {sym.symbol: sym.last_u for sym in self._depth}

    def disk_bytes(self) -> int:
        return sum(w.disk_bytes() for w in self.writers.values())

    def summary(self) -> str:
        s, c = self.stats, self.connection
        files = sum(w.stats.files_opened for w in self.writers.values())
        deleted = sum(w.stats.files_deleted for w in self.writers.values())
        return (f"{s.frames} frames, {s.snapshots} depth snapshots, {c.connects} connections "
                f"({c.failures} failures), {files} files written, {deleted} deleted for the budget, "
                f"{self.disk_bytes()} bytes on disk")

    # -- venue checks ----------------------------------------------------------------------
    async def _load_exchange_info(self) -> None:
        """Unknown symbols are an error; the symbols' exchangeInfo is kept next to the files
        (``exchangeInfo.json``) so readers know their price and quantity scales."""
        try:
            info = await self.rest.exchange_info(self.symbols)
        except APIError as exc:
            if exc.code != -1121:
                raise RecorderError(f"{self.endpoints.rest}: exchangeInfo failed: {exc}") from None
            unknown = []
            for sym in self.symbols:
                try:
                    await self.rest.request("GET", "/api/v3/exchangeInfo", {"symbol": sym})
                except APIError as e:
                    if e.code == -1121:
                        unknown.append(sym)
            raise RecorderError(f"unknown symbol{'s' if len(unknown) > 1 else ''} on Binance "
                                f"{self.endpoints.name} ({self.endpoints.rest}): "
                                f"{', '.join(unknown) or ', '.join(self.symbols)}") from None
        except BinanceError as exc:
            raise RecorderError(f"cannot reach {self.endpoints.rest}: {exc}") from None
        for entry in info.get("symbols", []):
            if entry.get("status", "TRADING") != "TRADING":
                log.warning("%s is %s on %s: its streams may stay silent", entry["symbol"],
                            entry["status"], self.endpoints.name)
        path = self.out / EXCHANGE_INFO_FILE
        kept = {}
        if path.is_file():
            try:
                kept = {e["symbol"]: e for e in orjson.loads(path.read_bytes())["symbols"]}
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.warning("%s: unreadable, replaced", path)
        kept.update({e["symbol"]: e for e in info.get("symbols", [])})
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(orjson.dumps({**info, "symbols": sorted(kept.values(), key=lambda e: e["symbol"])}))
            tmp.replace(path)
        except OSError as exc:
            raise RecorderError(f"{path}: cannot write: {exc.strerror or exc}") from None

    # -- the stream --------------------------------------------------------------------------
    async def _subscribe(self, ws: WebSocketConnection) -> None:
        """SUBSCRIBE in chunks; frames that arrive before a reply are recorded, not lost."""
        for i in range(0, len(self.streams), MAX_STREAMS_PER_SUBSCRIBE):
            chunk = self.streams[i:i + MAX_STREAMS_PER_SUBSCRIBE]
            rid = next(self._ids)
            await ws.send_message(orjson.dumps({"method": "SUBSCRIBE", "params": chunk, "id": rid}).decode())
            with trio.move_on_after(SUBSCRIBE_TIMEOUT_S) as timer:
                while True:
                    raw = await ws.get_message()
                    recv, mono = time.time_ns(), time.monotonic_ns()
                    frame = raw.encode() if isinstance(raw, str) else raw
                    if frame.startswith(_STREAM_HEAD):
                        self._on_frame(frame, recv, mono)
                    elif self._is_reply(frame, rid, chunk):
                        break
            if timer.cancelled_caught:
                raise Reconnect(f"no answer to SUBSCRIBE within {SUBSCRIBE_TIMEOUT_S:.0f} s")

    def _is_reply(self, frame: bytes, rid: int, chunk: list[str]) -> bool:
        try:
            reply = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self.stats.ignored += 1
            return False
        if not isinstance(reply, dict) or reply.get("id") != rid:
            self.stats.ignored += 1
            return False
        if "code" in reply:
            raise RecorderError(f"Binance {self.endpoints.name} rejected SUBSCRIBE "
                                f"{','.join(chunk)}: {reply.get('msg', reply)}")
        return True

    def _on_connected(self) -> None:
        self.connected = True
        for sym in self._by_prefix.values():
            sym.last_u = None
            sym.sync_point()
        for sym in self._depth:
            self._request_snapshot(sym)

    def _on_down(self) -> None:
        self.connected = False

    async def _pump(self, ws: WebSocketConnection) -> None:
        on_frame = self._on_frame
        while True:
            raw = await ws.get_message()
            recv, mono = time.time_ns(), time.monotonic_ns()
            on_frame(raw.encode() if isinstance(raw, str) else raw, recv, mono)

    def _on_frame(self, frame: bytes, recv: int, mono: int) -> None:
        if not frame.startswith(_STREAM_HEAD):
            self.stats.ignored += 1
            return
        stream = frame[11:frame.find(b'"', 11)]
        if stream not in self._wanted:
            if stream.endswith(b"serverShutdown"):
                raise Reconnect("serverShutdown announced")
            self.stats.ignored += 1
            return
        sym = self._by_prefix[stream[:stream.find(b"@")]]
        try:
            if self._write(sym, frame, recv, mono):
                self._request_snapshot(sym)
        except ValueError as exc:
            self.stats.unwritable += 1
            log.error("%s: frame not recorded: %s", stream.decode(), exc)
            return
        self.stats.frames += 1
        if stream == sym.diff_stream:
            self._on_diff(sym, frame)

    def _write(self, sym: _Symbol, msg: bytes, recv: int, mono: int, url: str | None = None) -> bool:
        """Append one record; True when it opened a new file after a rotation."""
        w = sym.writer
        opened = w.stats.files_opened
        try:
            w.write(msg, recv_ts_ns=recv, mono_ns=mono, url=url)
        except OSError as exc:
            # not a connection problem: reconnecting would only lose data quietly
            raise RecorderError(f"{w.path or self.out}: cannot write the recording: "
                                f"{exc.strerror or exc}") from exc
        sym.dirty = True
        if opened and w.stats.files_opened != opened:
            sym.sync_point()
            return True
        return False

    def _on_diff(self, sym: _Symbol, frame: bytes) -> None:
        m = _DIFF_IDS.search(frame, 0, 256)
        if m is not None:
            first, last = int(m[1]), int(m[2])
        else:
            data = orjson.loads(frame)["data"]
            first, last = data["U"], data["u"]
        if sym.last_u is not None and first > sym.last_u + 1:
            self.stats.stream_gaps += 1
            log.warning("%s: the stream skipped update ids %d..%d; taking a depth snapshot",
                        sym.symbol, sym.last_u + 1, first - 1)
            sym.sync_point()
            self._request_snapshot(sym)
        if sym.last_u is None or last > sym.last_u:
            sym.last_u = last
        if sym.first_u is None:
            sym.first_u = first
            if sym.snapshot_id is not None and first > sym.snapshot_id + 1:
                self._request_snapshot(sym)     # the one written is older than the stream

    # -- snapshots ---------------------------------------------------------------------------
    def _request_snapshot(self, sym: _Symbol) -> None:
        if sym.diff_stream is not None and sym.symbol not in self._queued:
            self._queued.add(sym.symbol)
            self._send.send_nowait(sym)

    async def _snapshot_worker(self) -> None:
        """One snapshot at a time, in request order (the REST client keeps the weight limits)."""
        async for sym in self._recv:
            self._queued.discard(sym.symbol)
            await self._snapshot(sym)

    async def _snapshot(self, sym: _Symbol) -> None:
        retry = Backoff(base=0.25, cap=10.0)
        while True:
            try:
                body = await self.rest.depth_raw(sym.symbol, self.snapshot_limit)
            except RateLimited as exc:
                self.stats.snapshot_errors += 1
                log.warning("%s: depth snapshot postponed: %s", sym.symbol, exc)
                await trio.sleep_until(max(exc.retry_at, trio.current_time() + retry.next()))
                continue
            except BinanceError as exc:
                self.stats.snapshot_errors += 1
                log.warning("%s: depth snapshot failed: %s", sym.symbol, exc)
                await trio.sleep(retry.next())
                continue
            recv, mono = time.time_ns(), time.monotonic_ns()
            if not self.connected:
                return                      # the next connection asks for its own snapshot
            m = _LAST_UPDATE_ID.match(body)
            if m is None:
                self.stats.snapshot_errors += 1
                log.warning("%s: not a depth snapshot: %r", sym.symbol, body[:80])
                await trio.sleep(retry.next())
                continue
            last_id = int(m[1])
            if sym.first_u is not None and last_id + 1 < sym.first_u:
                self.stats.stale_snapshots += 1
                await trio.sleep(retry.next())
                continue
            try:
                self._write(sym, body, recv, mono, sym.snapshot_url)
            except ValueError as exc:
                self.stats.snapshot_errors += 1
                log.error("%s: depth snapshot not recorded: %s", sym.symbol, exc)
                return
            sym.snapshot_id = last_id
            self.stats.snapshots += 1
            return

    async def _periodic_snapshots(self) -> None:
        step = self.snapshot_every / len(self._depth)
        while True:
            for sym in self._depth:
                await trio.sleep(step)
                if self.connected:
                    self._request_snapshot(sym)

    async def _flusher(self) -> None:
        """Quiet symbols' last frames reach the disk within a second too."""
        while True:
            await trio.sleep(FLUSH_INTERVAL_S)
            self.flush()
