"""OHLCV bars as numpy arrays, and loaders for the CSV layouts the project ships."""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import pathlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pyengine.errors import UserError


@dataclass
class Bars:
    time: np.ndarray    # int64, bar open time in UNIX milliseconds (UTC)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # NaN where the source has no volume

    def __len__(self) -> int:
        return len(self.time)

    def slice(self, start: int, stop: int) -> "Bars":
        return Bars(*(getattr(self, f)[start:stop] for f in
                      ("time", "open", "high", "low", "close", "volume")))

    @classmethod
    def from_arrays(cls, time, open_, high, low, close, volume=None) -> "Bars":
        n = len(time)
        vol = np.full(n, np.nan) if volume is None else np.asarray(volume, dtype=np.float64)
        return cls(np.asarray(time, dtype=np.int64), *(np.asarray(x, dtype=np.float64) for x in
                                                       (open_, high, low, close)), vol)


def _parse_time(text: str) -> int:
    text = text.strip()
    try:
        v = float(text)
    except ValueError:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    # UNIX seconds (oracle tables) or milliseconds (Binance klines)
    return int(v * 1000) if v < 1e11 else int(v)


def _num(text: str, what: str, line: int, path) -> float:
    if text == "" or text.lower() == "nan":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{path}:{line}: {what} is not a number: {text!r}") from None


def default_cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "pyengine" / "bars"


def load_csv(path, cache_dir: pathlib.Path | None = None) -> Bars:
    """Binance klines CSV (with or without header, .csv or .csv.gz) or a table with
    ``time,open,high,low,close[,volume]`` columns. Empty volume cells become NaN.

    With ``cache_dir``, the parsed arrays are kept there (keyed by the file's path, size
    and modification time), so loading the same file again takes milliseconds."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise UserError(f"data file not found: {p}")
    if cache_dir is None:
        return _load_csv(p)
    st = p.stat()
    key = hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    cached = pathlib.Path(cache_dir) / f"{key[:32]}.npz"
    try:
        with np.load(cached) as z:
            return Bars(*(z[f] for f in ("time", "open", "high", "low", "close", "volume")))
    except (OSError, ValueError, KeyError):
        pass
    bars = _load_csv(p)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, time=bars.time, open=bars.open, high=bars.high, low=bars.low,
                 close=bars.close, volume=bars.volume)
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache only costs speed
    return bars


def _load_csv(p: pathlib.Path) -> Bars:
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UserError(f"{p}: not a valid gzip file ({exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{p}: not a UTF-8 CSV file") from None
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise UserError(f"{p}: empty file")
    header = [h.strip().lower() for h in next(csv.reader([first]))]
    start = 1
    if "open" in header and "close" in header:
        tcol = next((header.index(k) for k in ("open_time", "time", "timestamp", "date")
                     if k in header), None)
        if tcol is None:
            raise UserError(f"{p}:1: no time column (open_time/time/timestamp/date)")
        cols = [tcol] + [header.index(k) for k in ("open", "high", "low", "close")]
        vcol = header.index("volume") if "volume" in header else None
    else:
        start = 0  # Binance layout without header
        cols, vcol = [0, 1, 2, 3, 4], 5
    fast = _numeric_table(text, start, cols, vcol)
    if fast is not None:
        t, arr = fast
        n = len(t)
    else:
        t, arr = _parse_rows(list(csv.reader(io.StringIO(text))), start, cols, vcol, p)
        n = len(t)
    if n and np.any(np.diff(t) <= 0):
        bad = int(np.argmax(np.diff(t) <= 0)) + start + 2
        raise UserError(f"{p}:{bad}: bar times must increase")
    return Bars(t, arr[0], arr[1], arr[2], arr[3], arr[4])


def _numeric_table(text: str, start: int, cols: list, vcol) -> tuple | None:
    """All-numeric tables (Binance klines) parsed by numpy's C reader; None otherwise."""
    use = cols + ([vcol] if vcol is not None else [])
    try:
        body = text.split("\n", start)[start] if start else text
        body = body.replace(",,", ",nan,").replace(",,", ",nan,").replace(",\n", ",nan\n")
        if body.endswith(","):
            body += "nan"
        table = np.loadtxt(io.StringIO(body), delimiter=",",
                           usecols=use, dtype=np.float64, ndmin=2)
    except (ValueError, IndexError):
        return None
    raw_t = table[:, 0]
    t = np.where(raw_t < 1e11, raw_t * 1000, raw_t).astype(np.int64)
    arr = np.empty((5, len(t)))
    arr[:4] = table[:, 1:5].T
    arr[4] = table[:, 5] if vcol is not None else np.nan
    return t, arr


def _parse_rows(rows: list, start: int, cols: list, vcol, p) -> tuple:
    n = len(rows) - start
    t = np.empty(n, dtype=np.int64)
    arr = np.empty((5, n), dtype=np.float64)
    for i, row in enumerate(rows[start:]):
        ln = i + start + 1
        if len(row) <= max(cols):
            raise UserError(f"{p}:{ln}: expected at least {max(cols) + 1} columns, "
                            f"got {len(row)}")
        try:
            t[i] = _parse_time(row[cols[0]])
        except ValueError:
            raise UserError(f"{p}:{ln}: bad time {row[cols[0]]!r}") from None
        for k, name in enumerate(("open", "high", "low", "close")):
            arr[k, i] = _num(row[cols[k + 1]], name, ln, p)
        arr[4, i] = _num(row[vcol], "volume", ln, p) if vcol is not None and vcol < len(row) \
            else float("nan")
    return t, arr
