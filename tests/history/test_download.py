"""`pyengine data download` against a local archive + REST server built from real ZECUSDT klines."""
from __future__ import annotations

import gzip

import pytest

from pyengine.cli import main
from pyengine.history import KlineStore, download
from pyengine.history.klines import Kline, parse_date, parse_row
from tests.history.local_binance import FakeClock, LocalBinance, zec_rows

START, END = "2026-06-30", "2026-08-06"
NOW = "2026-11-22T01:00:00"


@pytest.fixture(scope="module")
def rows():
    return zec_rows(START, END)


@pytest.fixture
def clock():
    return FakeClock(NOW)


@pytest.fixture
def server(clock):
    s = LocalBinance(clock=clock.time)
    yield s
    s.close()


def _expected(rows) -> list[Kline]:
    return [parse_row(r, "bundled", 60_000) for r in rows]


def _by_day(rows, day: str):
    a = parse_date(day, "day")
    return [r for r in rows if a <= int(r[0]) < a + 86_400_000]


def _publish(server, rows, micro=True, corrupt=()):
    """June 30 and Aug 1-3 as daily files, July as a monthly file; Aug 4-5 only on REST."""
    server.add_archive("ZECUSDT", "2026-07", [r for r in rows if "2026-07" <= _month(r) < "2026-08"],
                       micro, corrupt="2026-07" in corrupt)
    for day in ("2026-06-30", "2026-08-01", "2026-08-02", "2026-08-03"):
        server.add_archive("ZECUSDT", day, _by_day(rows, day), micro, corrupt=day in corrupt)
    server.rest_rows["ZECUSDT"] = rows


def _month(r):
    import datetime as dt
    return dt.datetime.fromtimestamp(int(r[0]) / 1000, dt.timezone.utc).strftime("%Y-%m")


def _run(store, server, clock, **kw):
    return download(store, ["ZECUSDT"], "1m", parse_date(START, "s"), parse_date(END, "e"),
                    archive_url=server.url, rest_url=server.url, clock=clock.time,
                    sleep=clock.sleep, **kw)


def test_monthly_daily_then_rest_gives_the_real_klines(tmp_path, server, clock, rows):
    _publish(server, rows, micro=True)       # 2026 files carry microsecond timestamps
    with KlineStore(tmp_path / "k.sqlite") as store:
        report = _run(store, server, clock)
        (rep,) = report.symbols
        assert rep.failures == [] and rep.gaps == [] and report.ok
        assert rep.archive_files == 5                       # Jun 30, July, Aug 1-3
        assert rep.rest_klines == 2 * 1440                  # Aug 4-5 are not in the archive
        assert report.rest_calls == 3                       # 1000 + 1000 + 880
        assert store.read("ZECUSDT", "1m") == _expected(rows)
        assert any(p.endswith("ZECUSDT-1m-2026-07.zip") for p in server.log)
        assert not any("2026-07-15.zip" in p for p in server.log)   # monthly, not daily

        # A second run finds everything stored and downloads nothing.
        before = len(server.log)
        again = _run(store, server, clock)
        assert server.log[before:] == []
        assert again.symbols[0].skipped_files == 7 and again.symbols[0].rest_klines == 0
        assert store.read("ZECUSDT", "1m") == _expected(rows)


def test_millisecond_archive_files_as_before_2025(tmp_path, server, clock, rows):
    days = ("2026-08-01", "2026-08-02")
    for day in days:
        server.add_archive("ZECUSDT", day, _by_day(rows, day), micro=False)
    with KlineStore(tmp_path / "k.sqlite") as store:
        report = download(store, ["ZECUSDT"], "1m", parse_date(days[0], "s"),
                          parse_date("2026-08-03", "e"), archive_url=server.url, rest_url=None,
                          clock=clock.time, sleep=clock.sleep)
        assert report.ok and report.symbols[0].archive_files == 2
        assert store.read("ZECUSDT", "1m") == _expected(_by_day(rows, days[0]) +
                                                        _by_day(rows, days[1]))


def test_corrupt_monthly_file_falls_back_to_daily_files(tmp_path, server, clock, rows):
    _publish(server, rows, corrupt=("2026-07",))
    for day in range(1, 32):
        d = f"2026-07-{day:02d}"
        server.add_archive("ZECUSDT", d, _by_day(rows, d), True)
    with KlineStore(tmp_path / "k.sqlite") as store:
        report = _run(store, server, clock)
        (rep,) = report.symbols
        assert len(rep.failures) == 1 and "ZECUSDT-1m-2026-07.zip: sha256" in rep.failures[0]
        assert "does not match the CHECKSUM" in rep.failures[0]
        # downloaded twice (a damaged transfer gets a second chance), then never used
        assert sum(p.endswith("ZECUSDT-1m-2026-07.zip") for p in server.log) == 2
        assert rep.archive_files == 4 + 31 and rep.gaps == [] and report.ok
        assert store.read("ZECUSDT", "1m") == _expected(rows)


def test_corrupt_daily_file_without_rest_leaves_a_reported_gap(tmp_path, server, clock, rows):
    _publish(server, rows, corrupt=("2026-08-02",))
    with KlineStore(tmp_path / "k.sqlite") as store:
        report = download(store, ["ZECUSDT"], "1m", parse_date(START, "s"),
                          parse_date("2026-08-04", "e"), archive_url=server.url, rest_url=None,
                          clock=clock.time, sleep=clock.sleep)
        (rep,) = report.symbols
        assert not report.ok
        assert rep.gaps == [(parse_date("2026-08-02", "d"), parse_date("2026-08-03", "d"))]
        assert "2026-08-02.zip: sha256" in rep.failures[0]
        assert "missing 2026-08-02 00:00:00 .. 2026-08-03 00:00:00 UTC" in rep.describe(60_000)


def test_rest_stays_under_the_weight_budget(tmp_path, server, clock, rows):
    server.rest_rows["ZECUSDT"] = rows
    with KlineStore(tmp_path / "k.sqlite") as store:
        report = download(store, ["ZECUSDT"], "1m", parse_date("2026-07-01", "s"),
                          parse_date("2026-07-11", "e"), archive_url=None, rest_url=server.url,
                          max_weight_per_min=8, clock=clock.time, sleep=clock.sleep)
        assert report.ok and report.rest_calls == 15 and report.symbols[0].rest_klines == 14_400
        assert max(server.weight.values()) <= 8
        assert len(report.rest_waits) == 3                  # after calls 4, 8 and 12
        assert store.count("ZECUSDT", "1m") == 14_400


def test_server_reported_weight_and_429_retry_after_are_honoured(tmp_path, server, clock, rows):
    server.rest_rows["ZECUSDT"] = rows
    server.external_weight = 5994          # other traffic from this IP already used most of it
    server.inject = [(429, {"Retry-After": "17"})]
    with KlineStore(tmp_path / "k.sqlite") as store:
        report = download(store, ["ZECUSDT"], "1m", parse_date("2026-07-01", "s"),
                          parse_date("2026-07-03", "e"), archive_url=None, rest_url=server.url,
                          max_weight_per_min=6000, clock=clock.time, sleep=clock.sleep)
        assert report.ok and store.count("ZECUSDT", "1m") == 2880
        assert report.rest_waits[0] == 17.0                 # Retry-After
        assert max(server.weight.values()) <= 6000          # never pushed into a real 429
        assert len(report.rest_waits) >= 2                  # waited for a fresh minute too


def test_ban_stops_at_once_with_a_clear_failure(tmp_path, server, clock, rows):
    server.rest_rows["ZECUSDT"] = rows
    server.inject = [(418, {"Retry-After": "120"})]
    with KlineStore(tmp_path / "k.sqlite") as store:
        report = download(store, ["ZECUSDT"], "1m", parse_date("2026-07-01", "s"),
                          parse_date("2026-07-02", "e"), archive_url=None, rest_url=server.url,
                          clock=clock.time, sleep=clock.sleep)
    (rep,) = report.symbols
    assert not report.ok and report.rest_calls == 1
    assert "IP banned by Binance (418)" in rep.failures[0] and "Retry-After 120" in rep.failures[0]


def test_cli_download_list_export_and_freqtrade(tmp_path, server, rows, capsys):
    _publish(server, rows)
    store, ft = tmp_path / "k.sqlite", tmp_path / "user_data" / "data" / "binance"
    code = main(["data", "download", "--symbols", "ZECUSDT", "--from", "2026-08-01", "--to", END,
                 "--store", str(store), "--archive-url", server.url, "--rest-url", server.url,
                 "--freqtrade", str(ft)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ZECUSDT: 3 archive files (4320 klines), 2880 klines from REST" in out
    assert "0 klines missing" in out
    assert main(["data", "list", "--store", str(store)]) == 0
    assert "ZECUSDT      1m   2026-08-01 00:00:00 .. 2026-08-05 23:59:00  7200 klines, 0 gaps" \
        in capsys.readouterr().out
    csv_out = tmp_path / "zec.csv.gz"
    assert main(["data", "export", "--symbol", "ZECUSDT", "--store", str(store),
                 "--out", str(csv_out)]) == 0

    # Freqtrade reads the feather file with its own data handler.
    from freqtrade.data.history.datahandlers.featherdatahandler import FeatherDataHandler
    from freqtrade.enums import CandleType
    df = FeatherDataHandler(ft).ohlcv_load("ZEC/USDT", "1m", timerange=None,
                                           candle_type=CandleType.SPOT)
    tail = rows[-7200:]
    assert len(df) == 7200
    assert list(df["close"]) == [float(r[4]) for r in tail]
    assert list(df["high"]) == [float(r[2]) for r in tail]
    assert str(df["date"].iloc[0]) == "2026-08-01 00:00:00+00:00"
    with gzip.open(csv_out, "rt") as fh:
        exported = fh.read().splitlines()
    assert exported[1].split(",")[:5] == tail[0][:5] and len(exported) == 7201


@pytest.mark.parametrize("argv,message", [
    (["--symbols", "ZECUSDT", "--from", "2026-08-01", "--to", "2026-07-01"], "must be after"),
    (["--symbols", "ZECUSDT", "--from", "yesterday"], "expected a UTC date"),
    (["--symbols", "ZECUSDT", "--from", "2026-07-01", "--interval", "1M"], "not supported"),
    (["--symbols", "ZEC/USDT", "--from", "2026-07-01"], "not a Binance symbol"),
    (["--symbols", "ZECUSDT", "--from", "2026-07-01", "--no-rest", "--no-archive"], "nothing"),
])
def test_cli_bad_input_is_a_clear_error(tmp_path, capsys, argv, message):
    assert main(["data", "download", "--store", str(tmp_path / "k.sqlite"), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("start,end,now,months,days", [
    # whole months by monthly file, the edges by daily files
    ("2026-03-15", "2026-06-02", "2026-11-01", ["2026-04", "2026-05"],
     [f"2026-03-{d}" for d in range(15, 32)] + ["2026-06-01"]),
    # the current month has no monthly file yet, today has no daily file yet
    ("2026-10-30", "2026-11-22T12:00", "2026-11-22T12:00", [],
     ["2026-10-30", "2026-10-31"] + [f"2026-11-{d:02d}" for d in range(1, 22)]),
    # a partial day is fetched as its daily file and trimmed
    ("2026-07-04T06:00", "2026-07-04T07:00", "2026-11-01", [], ["2026-07-04"]),
])
def test_archive_plan(start, end, now, months, days):
    from pyengine.history.download import _months_and_days
    m, d = _months_and_days(parse_date(start, "s"), parse_date(end, "e"), parse_date(now, "n"))
    assert [f"{y}-{mo:02d}" for y, mo, _, _ in m] == months
    assert [str(day) for day, _, _ in d] == days
