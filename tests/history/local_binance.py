"""A local stand-in for data.binance.vision and /api/v3/klines, built from bundled real klines."""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import http.server
import io
import json
import threading
import urllib.parse
import zipfile
from collections import Counter

from pyengine import bundled

DAY_MS = 86_400_000


def zec_rows(start: str, end: str) -> list[list[str]]:
    """Bundled ZECUSDT 1m rows (12 string fields, ms) opening in [start, end) (UTC dates)."""
    a, b = (int(dt.datetime.fromisoformat(d).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
            for d in (start, end))
    rows = []
    with gzip.open(bundled.ZECUSDT_1M, "rt") as fh:
        next(fh)
        for line in fh:
            t = int(line[:13])
            if t >= b:
                break
            if t >= a:
                rows.append(line.rstrip("\n").split(","))
    return rows


def archive_csv(rows: list[list[str]], micro: bool) -> bytes:
    """The archive's CSV (no header). ``micro``: the 2025+ microsecond timestamps."""
    out = []
    for r in rows:
        r = list(r)
        if micro:
            r[0] = str(int(r[0]) * 1000)
            r[6] = str(int(r[6]) * 1000 + 999)
        out.append(",".join(r))
    return ("\n".join(out) + "\n").encode()


def make_zip(name: str, csv_bytes: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name.replace(".zip", ".csv"), csv_bytes)
    return buf.getvalue()


class LocalBinance:
    """``files`` maps URL paths to bytes; ``rest_rows`` maps symbol to its kline rows.

    The REST side counts weight per minute of ``clock`` (the test's fake clock), adds
    ``external_weight`` at the start of each minute (other traffic from the same IP), answers
    429 past ``limit`` and can be told to answer ``inject`` status codes for the next calls."""

    def __init__(self, clock=None, limit: int = 6000):
        self.files: dict[str, bytes] = {}
        self.rest_rows: dict[str, list[list[str]]] = {}
        self.log: list[str] = []
        self.clock = clock
        self.limit = limit
        self.external_weight = 0
        self.weight: Counter[int] = Counter()
        self.inject: list[tuple[int, dict]] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_archive(self, symbol: str, period: str, rows, micro: bool, corrupt: bool = False):
        kind = "monthly" if len(period) == 7 else "daily"
        name = f"{symbol}-1m-{period}.zip"
        blob = make_zip(name, archive_csv(rows, micro))
        digest = hashlib.sha256(blob).hexdigest()
        if corrupt:        # the zip as served differs from the one the checksum was made for
            blob = make_zip(name, archive_csv(rows[:-1], micro))
        path = f"/data/spot/{kind}/klines/{symbol}/1m/{name}"
        self.files[path] = blob
        self.files[path + ".CHECKSUM"] = f"{digest}  {name}\n".encode()

    def _klines(self, query: dict) -> tuple[int, dict, bytes]:
        minute = int(self.clock() // 60)
        if minute not in self.weight:
            self.weight[minute] = self.external_weight
        self.weight[minute] += 2
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.weight[minute])}
        if self.inject:
            status, extra = self.inject.pop(0)
            return status, {**headers, **extra}, json.dumps(
                {"code": -1003, "msg": "Too much request weight used"}).encode()
        if self.weight[minute] > self.limit:
            headers["Retry-After"] = str(60 - int(self.clock()) % 60)
            return 429, headers, b'{"code":-1003,"msg":"Too much request weight used"}'
        rows = self.rest_rows.get(query["symbol"])
        if rows is None:
            return 400, headers, b'{"code":-1121,"msg":"Invalid symbol."}'
        start, end = int(query["startTime"]), int(query["endTime"])
        limit = int(query.get("limit", 500))
        page = [r for r in rows if start <= int(r[0]) <= end][:limit]
        body = [[int(r[0]), *r[1:6], int(r[6]), *r[7:11], "0"] for r in page]
        return 200, headers, json.dumps(body).encode()

    def _handler(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                owner.log.append(self.path)
                if url.path == "/api/v3/klines":
                    query = dict(urllib.parse.parse_qsl(url.query))
                    status, headers, body = owner._klines(query)
                elif url.path in owner.files:
                    status, headers, body = 200, {}, owner.files[url.path]
                else:
                    status, headers, body = 404, {}, b"<Error><Code>NoSuchKey</Code></Error>"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return Handler


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self, iso_utc: str):
        self.t = dt.datetime.fromisoformat(iso_utc).replace(tzinfo=dt.timezone.utc).timestamp()
        self.slept: list[float] = []

    def time(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
