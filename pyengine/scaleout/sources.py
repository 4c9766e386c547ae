"""Market-data sources for collectors. ``RecordingSource`` replays recordings as if live.

Every collector maps recording time onto one shared wall-clock epoch (kept in Redis), so all
collectors agree on what "now" is in the recording: a collector that starts late or takes a
symbol over begins at the current position, and the messages it was not there for are lost,
exactly as on a live connection. That is what lets a test kill a collector and watch the
consumer notice the gap.
"""
from __future__ import annotations

import heapq
import os
import pathlib
from collections import defaultdict
from collections.abc import Iterator
from typing import NamedTuple

from pyengine import recording
from pyengine.scaleout.streams import Normalised, normalise, quote_volume


class Frame(NamedTuple):
    offset_ns: int           # receive time relative to the start of its recording
    recv_ts_ns: int
    msg: bytes
    norm: Normalised


class RecordingSource:
    """Frames of one recording (file or directory) with their normalised envelope.

    A REST snapshot line without ``url`` (the bundled single-symbol recordings) is attributed
    to the symbol of the previous stream message of the same file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.files = recording.recording_files(path)
        self.name = str(path)
        starts = [next(recording.records(f)).recv_ts_ns for f in self.files]
        self.t0_ns = min(starts)
        self.skipped = 0

    def _file_frames(self, path: pathlib.Path) -> Iterator[Frame]:
        last_symbol = ""
        for rec in recording.records(path):
            norm = normalise(rec.msg, rec.url)
            if norm is None:
                self.skipped += 1
                continue
            if norm.symbol:
                last_symbol = norm.symbol
            elif last_symbol:
                norm = norm._replace(symbol=last_symbol)
            else:
                self.skipped += 1
                continue
            yield Frame(rec.recv_ts_ns - self.t0_ns, rec.recv_ts_ns, rec.msg, norm)

    def frames(self) -> Iterator[Frame]:
        return heapq.merge(*(self._file_frames(f) for f in self.files), key=lambda f: f.offset_ns)

    def quote_volume_per_minute(self) -> dict[str, float]:
        """Traded quote volume per minute of recording, by symbol (the hot-symbol rule)."""
        volume: dict[str, float] = defaultdict(float)
        last = 0
        for f in self.frames():
            last = f.offset_ns
            if f.norm.kind in ("trade", "aggTrade"):
                sym, qv = quote_volume(f.msg)
                volume[sym] += qv
        minutes = max(last / 60e9, 1 / 60)
        return {s: v / minutes for s, v in volume.items()}

    def symbols(self) -> set[str]:
        return {f.norm.symbol for f in self.frames()}
