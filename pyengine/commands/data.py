"""``pyengine data``: download historical klines into the kline store, list and export them."""
from __future__ import annotations

import argparse
import csv
import gzip
import re
import sys
import time

from pyengine.errors import UserError
from pyengine.history import archive, rest
from pyengine.history.download import download
from pyengine.history.klines import interval_ms, iso, parse_date
from pyengine.history.store import KlineStore

DEFAULT_STORE = "var/klines.sqlite"
_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")
HEADER = ["open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
          "trades", "taker_buy_base", "taker_buy_quote", "ignore"]


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="historical klines: download, list, export")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    d = sub.add_parser("download", help="Binance archive + REST backfill into the kline store")
    d.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    d.add_argument("--interval", default="1m", help="kline interval (default 1m)")
    d.add_argument("--from", dest="start", required=True,
                   help="first open time, UTC: 2026-03-01 or 2026-03-01T12:00")
    d.add_argument("--to", dest="end", help="end (exclusive), UTC; default: now")
    d.add_argument("--store", default=DEFAULT_STORE, help=f"kline store (default {DEFAULT_STORE})")
    d.add_argument("--freqtrade", metavar="DIR",
                   help="also write Freqtrade feather files into DIR "
                        "(Freqtrade's datadir, e.g. user_data/data/binance)")
    d.add_argument("--archive-url", default=archive.DEFAULT_ARCHIVE_URL)
    d.add_argument("--rest-url", default=rest.DEFAULT_REST_URL)
    d.add_argument("--no-archive", action="store_true", help="REST only")
    d.add_argument("--no-rest", action="store_true", help="archive only")
    d.add_argument("--max-weight", type=int, default=3000,
                   help="REST request weight to use per minute at most (Binance allows 6000 "
                        "per IP, shared with the engine; default 3000)")
    d.set_defaults(func=_download)

    ls = sub.add_parser("list", help="what the kline store holds")
    ls.add_argument("--store", default=DEFAULT_STORE)
    ls.set_defaults(func=_list)

    ex = sub.add_parser("export", help="write stored klines as a Binance-layout CSV")
    ex.add_argument("--symbol", required=True)
    ex.add_argument("--interval", default="1m")
    ex.add_argument("--from", dest="start")
    ex.add_argument("--to", dest="end")
    ex.add_argument("--store", default=DEFAULT_STORE)
    ex.add_argument("--out", required=True, help="FILE.csv or FILE.csv.gz")
    ex.set_defaults(func=_export)


def _symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise UserError("--symbols: give at least one symbol, e.g. BTCUSDT")
    for s in symbols:
        if not _SYMBOL.fullmatch(s):
            raise UserError(f"--symbols: {s!r} is not a Binance symbol like BTCUSDT")
    return symbols


def _range(args) -> tuple[int, int]:
    start = parse_date(args.start, "--from") if args.start else 0
    end = parse_date(args.end, "--to") if args.end else int(time.time() * 1000)
    if end <= start:
        raise UserError(f"--to {args.end} must be after --from {args.start}")
    return start, end


def _download(args: argparse.Namespace) -> int:
    symbols = _symbols(args.symbols)
    interval_ms(args.interval)
    start, end = _range(args)
    if args.no_archive and args.no_rest:
        raise UserError("--no-archive and --no-rest together leave nothing to download from")
    if args.freqtrade:
        from pyengine.history.freqtrade_format import pair_of
        for s in symbols:
            pair_of(s)
    with KlineStore(args.store) as store:
        report = download(store, symbols, args.interval, start, end,
                          archive_url=None if args.no_archive else args.archive_url,
                          rest_url=None if args.no_rest else args.rest_url,
                          max_weight_per_min=args.max_weight,
                          progress=lambda line: print(line, file=sys.stderr, flush=True))
        step = interval_ms(args.interval)
        for rep in report.symbols:
            print(rep.describe(step))
        if report.rest_calls:
            print(f"REST: {report.rest_calls} calls, waited {sum(report.rest_waits):.1f} s "
                  "for the weight limit")
        if args.freqtrade:
            from pyengine.history.freqtrade_format import write_feather
            for s in symbols:
                path, n = write_feather(store, s, args.interval, args.freqtrade)
                print(f"freqtrade: {path} ({n} candles)")
    print(f"store: {args.store}")
    return 0 if report.ok else 1


def _list(args: argparse.Namespace) -> int:
    with KlineStore(args.store) as store:
        rows = store.summary()
        if not rows:
            print(f"{args.store}: empty")
        for symbol, interval, first, last, count in rows:
            gaps = store.missing(symbol, interval, first, last + 1)
            print(f"{symbol:<12} {interval:<4} {iso(first)} .. {iso(last)}  {count} klines, "
                  f"{len(gaps)} gaps")
    return 0


def _export(args: argparse.Namespace) -> int:
    interval_ms(args.interval)
    start, end = _range(args)
    with KlineStore(args.store) as store:
        rows = store.read(args.symbol.upper(), args.interval, start, end)
    if not rows:
        raise UserError(f"{args.store}: no {args.symbol} {args.interval} klines in that range")
    opener = gzip.open if args.out.endswith(".gz") else open
    with opener(args.out, "wt", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        for k in rows:
            w.writerow([("" if v is None else v) for v in k] + ["0"])
    print(f"{args.out}: {len(rows)} klines, {iso(rows[0].open_time)} .. {iso(rows[-1].open_time)}")
    return 0
