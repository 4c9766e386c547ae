"""``download``: archive monthly files, then daily files, then REST for what is still missing."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable

import httpx

from pyengine.history import archive
from pyengine.history.klines import INTERVAL_MS, iso
from pyengine.history.rest import DEFAULT_REST_URL, RestError, RestKlines
from pyengine.history.store import KlineStore

log = logging.getLogger(__name__)
DAY_MS = 86_400_000


@dataclasses.dataclass
class SymbolReport:
    symbol: str
    archive_files: int = 0        # zip files downloaded and verified
    archive_klines: int = 0
    rest_klines: int = 0
    skipped_files: int = 0        # periods already complete in the store
    failures: list[str] = dataclasses.field(default_factory=list)
    gaps: list[tuple[int, int]] = dataclasses.field(default_factory=list)   # still missing

    def describe(self, step_ms: int) -> str:
        missing = sum((b - a) // step_ms for a, b in self.gaps)
        text = (f"{self.symbol}: {self.archive_files} archive files ({self.archive_klines} klines), "
                f"{self.rest_klines} klines from REST, {self.skipped_files} periods already stored, "
                f"{missing} klines missing")
        for a, b in self.gaps[:5]:
            text += f"\n  missing {iso(a)} .. {iso(b)} UTC"
        if len(self.gaps) > 5:
            text += f"\n  ... and {len(self.gaps) - 5} more gaps"
        for f in self.failures:
            text += f"\n  failed: {f}"
        return text


@dataclasses.dataclass
class DownloadReport:
    interval: str
    symbols: list[SymbolReport]
    rest_calls: int = 0
    rest_waits: list[float] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False when a source failed and its range is still incomplete."""
        return not any(s.failures and s.gaps for s in self.symbols)


def _months_and_days(start_ms: int, end_ms: int, now_ms: int):
    """Complete calendar months inside the range that ended before this month, then the days
    (whole or partial) outside them that ended before today."""
    utc = dt.timezone.utc
    start = dt.datetime.fromtimestamp(start_ms / 1000, utc)
    now = dt.datetime.fromtimestamp(now_ms / 1000, utc)
    this_month = now.date().replace(day=1)
    months, days = [], []
    day = start.date()
    while (ms := _ms(day)) < end_ms and day < now.date():
        first = day.replace(day=1)
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
        if day == first and ms >= start_ms and _ms(nxt) <= end_ms and nxt <= this_month:
            months.append((first.year, first.month, ms, _ms(nxt)))
            day = nxt
            continue
        days.append((day, max(ms, start_ms), min(ms + DAY_MS, end_ms)))
        day += dt.timedelta(days=1)
    return months, days


def _ms(d: dt.date) -> int:
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def download(store: KlineStore, symbols: list[str], interval: str, start_ms: int, end_ms: int,
             *, archive_url: str | None = archive.DEFAULT_ARCHIVE_URL,
             rest_url: str | None = DEFAULT_REST_URL, max_weight_per_min: int = 3000,
             client: httpx.Client | None = None,
             clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
             progress: Callable[[str], None] = lambda _: None) -> DownloadReport:
    """Fill ``store`` with closed ``interval`` klines of ``symbols`` opening in ``[start, end)``.

    ``archive_url=None`` or ``rest_url=None`` skips that source. Periods already complete in
    the store are not downloaded again. ``clock`` and ``sleep`` (seconds) pace REST calls.
    """
    step = INTERVAL_MS[interval]
    now_ms = int(clock() * 1000)
    # Only closed klines exist: the range ends at the last kline that closed before now.
    end_ms = min(end_ms, (now_ms // step) * step)
    own_client = client is None
    client = client or httpx.Client(timeout=30.0, follow_redirects=True,
                                    headers={"User-Agent": "pyengine-data/1"})
    rest = (RestKlines(client, rest_url, max_weight_per_min=max_weight_per_min, sleep=sleep,
                       clock=clock) if rest_url else None)
    report = DownloadReport(interval, [])
    try:
        for symbol in symbols:
            rep = SymbolReport(symbol)
            report.symbols.append(rep)
            if archive_url:
                _from_archive(client, store, archive_url, symbol, interval, start_ms, end_ms,
                              now_ms, rep, progress)
            if rest:
                for a, b in store.missing(symbol, interval, start_ms, end_ms):
                    progress(f"{symbol}: REST {iso(a)} .. {iso(b)}")
                    try:
                        for page in rest.klines(symbol, interval, a, b):
                            rep.rest_klines += store.upsert(symbol, interval, page, "rest")
                    except RestError as exc:
                        rep.failures.append(str(exc))
                        break
            rep.gaps = store.missing(symbol, interval, start_ms, end_ms)
    finally:
        if own_client:
            client.close()
    if rest:
        report.rest_calls, report.rest_waits = rest.calls, rest.waits
    return report


def _from_archive(client, store, base, symbol, interval, start_ms, end_ms, now_ms, rep, progress):
    step = INTERVAL_MS[interval]
    months, days = _months_and_days(start_ms, end_ms, now_ms)
    for year, month, a, b in months:
        if not store.missing(symbol, interval, a, b):
            rep.skipped_files += 1
            continue
        url = archive.monthly_url(base, symbol, interval, year, month)
        if _take(client, store, url, symbol, interval, step, a, b, rep, progress):
            continue
        # No usable monthly file (not published yet, or damaged): try its days instead.
        d = dt.date(year, month, 1)
        while d.month == month:
            days.append((d, _ms(d), _ms(d) + DAY_MS))
            d += dt.timedelta(days=1)
    for day, a, b in sorted(days):
        if not store.missing(symbol, interval, a, b):
            rep.skipped_files += 1
            continue
        _take(client, store, archive.daily_url(base, symbol, interval, day), symbol, interval,
              step, a, b, rep, progress)


def _take(client, store, url, symbol, interval, step, a, b, rep, progress) -> bool:
    progress(f"{symbol}: {url.rsplit('/', 1)[-1]}")
    try:
        klines = archive.fetch(client, url, step)
    except archive.ArchiveMissing:
        log.info("not in the archive: %s", url)
        return False
    except archive.ArchiveCorrupt as exc:
        rep.failures.append(str(exc))
        log.warning("%s", exc)
        return False
    rep.archive_files += 1
    rep.archive_klines += store.upsert(symbol, interval,
                                       (k for k in klines if a <= k.open_time < b), "archive")
    return True
