"""Binance's public data archive (data.binance.vision): spot kline zip files and checksums.

Layout: ``<base>/data/spot/monthly/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-YYYY-MM.zip``
and ``.../daily/klines/.../<SYMBOL>-<interval>-YYYY-MM-DD.zip``; each zip holds one CSV and
has a ``<zip>.CHECKSUM`` file (``<sha256 hex>  <file name>``). A monthly file appears a few days
after the month ends and a daily file the day after, so recent data comes from REST.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import time
import zipfile

import httpx

from pyengine.history.klines import Kline, parse_csv

DEFAULT_ARCHIVE_URL = "https://data.binance.vision"
_SHA256 = re.compile(r"^([0-9a-fA-F]{64})\b")


class ArchiveMissing(Exception):
    """The archive has no such file (HTTP 404): fall back to finer files or REST."""


class ArchiveCorrupt(Exception):
    """A file whose sha256 does not match its CHECKSUM, or an unreadable zip."""


def monthly_url(base: str, symbol: str, interval: str, year: int, month: int) -> str:
    return (f"{base.rstrip('/')}/data/spot/monthly/klines/{symbol}/{interval}/"
            f"{symbol}-{interval}-{year:04d}-{month:02d}.zip")


def daily_url(base: str, symbol: str, interval: str, day: dt.date) -> str:
    return (f"{base.rstrip('/')}/data/spot/daily/klines/{symbol}/{interval}/"
            f"{symbol}-{interval}-{day:%Y-%m-%d}.zip")


def _get(client: httpx.Client, url: str, attempts: int = 3) -> bytes:
    for attempt in range(attempts):
        try:
            r = client.get(url)
        except httpx.TransportError as exc:
            error = f"{url}: {exc.__class__.__name__}: {exc}"
        else:
            if r.status_code == 404:
                raise ArchiveMissing(url)
            if r.status_code == 200:
                return r.content
            error = f"{url}: HTTP {r.status_code}"
            if r.status_code < 500:
                break
        time.sleep(0.5 * 2**attempt)
    raise ArchiveCorrupt(error)


def fetch(client: httpx.Client, url: str, step_ms: int) -> list[Kline]:
    """The klines of one archive zip, verified against its CHECKSUM (downloaded twice on a
    mismatch, in case the first copy was damaged in transit)."""
    text = _get(client, url + ".CHECKSUM").decode("ascii", "replace")
    m = _SHA256.match(text.strip())
    if m is None:
        raise ArchiveCorrupt(f"{url}.CHECKSUM: no sha256 in {text[:80]!r}")
    want = m.group(1).lower()
    for _ in range(2):
        blob = _get(client, url)
        got = hashlib.sha256(blob).hexdigest()
        if got == want:
            break
    else:
        raise ArchiveCorrupt(f"{url}: sha256 {got} does not match the CHECKSUM file ({want})")
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            names = [n for n in zf.namelist() if n.endswith(".csv")]
            if len(names) != 1:
                raise ArchiveCorrupt(f"{url}: expected one CSV inside, found {names}")
            lines = zf.read(names[0]).decode("ascii").splitlines()
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ArchiveCorrupt(f"{url}: unreadable zip ({exc})") from None
    return list(parse_csv(lines, url.rsplit("/", 1)[-1], step_ms))
