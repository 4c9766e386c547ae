"""``pyengine record``: record live market streams (and REST depth snapshots) to rotating files;
``pyengine record --check PATH``: verify that a recording rebuilds every book."""
from __future__ import annotations

import argparse
import logging
import pathlib
import signal
import sys
import tempfile

from pyengine.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "record", help="record raw market-stream frames and depth snapshots into rotating .jsonl.gz files",
        description="Record the raw websocket frames of the chosen streams byte for byte, with wall-clock "
                    "and monotonic receive times, plus REST depth snapshots (after every connect, at the "
                    "start of every file and periodically), into DIR/binance_<venue>_<symbol>-*.jsonl.gz. "
                    "Stop with Ctrl-C or SIGTERM: the files are closed complete.")
    p.add_argument("--symbols", help="symbols to record, comma-separated, e.g. BTCUSDT,ETHUSDT")
    p.add_argument("--out", metavar="DIR", help="directory for the recording (created if missing)")
    p.add_argument("--streams", default=None,
                   help="stream types per symbol, comma-separated (default depth@100ms,trade,bookTicker; "
                        "also aggTrade, kline_1m, depth20@100ms, ticker, ...)")
    p.add_argument("--venue", nargs="+", default=["production"], metavar="VENUE",
                   help="production (default), testnet, demo, or 'sim URL' for a simulator, "
                        "e.g. --venue sim http://127.0.0.1:9000")
    p.add_argument("--snapshot-every", default="60s", metavar="DURATION",
                   help="REST depth snapshot period per symbol (default 60s; also 500ms, 5m, 1h)")
    p.add_argument("--snapshot-limit", type=int, default=1000, metavar="N",
                   help="levels per side in a depth snapshot, 1..5000 (default 1000: weight 50)")
    p.add_argument("--rotate-mb", default="256", metavar="N",
                   help="start a new file after N MiB compressed (default 256; files also rotate hourly)")
    p.add_argument("--budget-mb", default="10240", metavar="N",
                   help="disk budget in MiB, shared equally by the symbols; the oldest files are "
                        "deleted to stay inside it (default 10240)")
    p.add_argument("--duration", metavar="DURATION", help="stop after this long (default: until stopped)")
    p.add_argument("--check", metavar="PATH",
                   help="instead of recording: rebuild every book of the recording at PATH (file or "
                        "directory) and list its gaps; exit 1 if a book cannot be rebuilt")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args)
    return _record(args)


def _check(args: argparse.Namespace) -> int:
    from pyengine.record.check import check
    given = [o for o, v in (("--symbols", args.symbols), ("--out", args.out), ("--streams", args.streams),
                            ("--duration", args.duration)) if v is not None]
    if given:
        raise UserError(f"--check reads a recording; it does not take {', '.join(given)}")
    results = check(args.check)
    if not results:
        raise UserError(f"{args.check}: no stream frames in this recording")
    for res in results.values():
        print(res.describe())
    bad = [s for s, r in results.items() if not r.ok]
    print(f"{'FAILED: ' + ', '.join(bad) if bad else 'OK'}: {len(results)} symbols checked")
    return 1 if bad else 0


def _record(args: argparse.Namespace) -> int:
    from pyengine.record.names import (DEFAULT_STREAMS, parse_duration, parse_megabytes, parse_streams,
                                       parse_symbols, parse_venue)
    if not args.symbols:
        raise UserError("--symbols is required, e.g. --symbols BTCUSDT,ETHUSDT")
    if not args.out:
        raise UserError("--out DIR is required: the directory the recording goes to")
    symbols = parse_symbols(args.symbols)
    streams = parse_streams(args.streams or DEFAULT_STREAMS)
    endpoints = parse_venue(args.venue)
    snapshot_every = parse_duration(args.snapshot_every, "--snapshot-every")
    duration = parse_duration(args.duration, "--duration") if args.duration else None
    rotate = parse_megabytes(args.rotate_mb, "--rotate-mb")
    budget = parse_megabytes(args.budget_mb, "--budget-mb")
    if not 1 <= args.snapshot_limit <= 5000:
        raise UserError(f"--snapshot-limit {args.snapshot_limit}: Binance serves 1..5000 levels")
    if budget // len(symbols) < 8192:
        raise UserError(f"--budget-mb {args.budget_mb} leaves less than 8 KiB for each of "
                        f"{len(symbols)} symbols")
    out = writable_directory(args.out)
    if logging.getLogger().handlers == []:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)      # one line per snapshot otherwise

    from pyengine.record.recorder import Recorder
    recorder = Recorder(endpoints, symbols, streams, out, snapshot_every=snapshot_every,
                        snapshot_limit=args.snapshot_limit, rotate_bytes=rotate, budget_bytes=budget)
    print(f"recording {len(recorder.streams)} streams of {', '.join(symbols)} from Binance {endpoints.name} "
          f"({endpoints.streams}) into {out}; stop with Ctrl-C", file=sys.stderr, flush=True)
    import trio
    trio.run(_run, recorder, duration)
    print(f"stopped: {recorder.summary()}", file=sys.stderr)
    return 0


async def _run(recorder, duration: float | None) -> None:
    import trio

    from pyengine import sdnotify
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            async def stop_on_signal() -> None:
                async for signum in signals:
                    logging.getLogger("pyengine.record").info(
                        "%s: closing the files", signal.Signals(signum).name)
                    sdnotify.notify("STOPPING=1")
                    nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_signal)
            if duration is not None:
                nursery.cancel_scope.deadline = trio.current_time() + duration
            await nursery.start(recorder.run)
            sdnotify.notify("READY=1")


def writable_directory(text: str) -> pathlib.Path:
    """``--out``: created if missing; refused unless a file can be created in it."""
    out = pathlib.Path(text).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except FileExistsError:
        raise UserError(f"--out {text}: exists and is not a directory") from None
    except OSError as exc:
        raise UserError(f"--out {text}: cannot write there ({exc.strerror or exc})") from None
    return out
