"""``pyengine collect``: publish market data into Redis Streams for engines on other machines."""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import socket
import sys
import time
import urllib.parse

from pyengine.errors import UserError

_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "collect", help="publish normalised market data and book deltas into Redis Streams")
    p.add_argument("--redis", required=True, help="redis://HOST:PORT/DB or rediss:// (TLS)")
    p.add_argument("--redis-password-env", default="PYENGINE_REDIS_PASSWORD", metavar="NAME",
                   help="environment variable holding the Redis AUTH password, if set "
                        "(default PYENGINE_REDIS_PASSWORD); keeps it out of the URL")
    p.add_argument("--symbols", required=True, help="the universe shared by all collectors, "
                   "comma-separated (every collector must get the same list)")
    p.add_argument("--source", action="append", required=True, metavar="FILE|DIR|URL",
                   help="a recording (file or directory) replayed as live, repeatable; or the "
                        "market stream URL, e.g. wss://stream.binance.com:9443")
    p.add_argument("--streams", default="depth@100ms,trade,bookTicker",
                   help="streams per symbol on a live source (default depth@100ms,trade,"
                        "bookTicker; also aggTrade, kline_1m, ...)")
    p.add_argument("--rest-url", default="https://api.binance.com",
                   help="REST base URL for depth snapshots and 24 h volumes (live source)")
    p.add_argument("--id", help="collector id (default: HOST-PID)")
    p.add_argument("--prefix", default="pe", help="key prefix in Redis (default pe)")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed of recordings")
    p.add_argument("--hot", help="hot symbols, comma-separated (default: by --hot-min-quote-volume)")
    p.add_argument("--hot-min-quote-volume", type=float, default=100_000.0,
                   help="traded quote volume per minute that makes a symbol hot (default 100000)")
    p.add_argument("--hot-replicas", type=int, default=1, choices=(1, 2, 3),
                   help="collectors publishing each hot symbol at once (default 1)")
    p.add_argument("--lease-ms", type=int, default=3000,
                   help="symbol lease; a dead collector's symbols move after this (default 3000)")
    p.add_argument("--heartbeat-ms", type=int, default=1000)
    p.add_argument("--maxlen", type=int, default=100_000, help="approximate entries kept a stream")
    p.add_argument("--batch-ms", type=float, default=20.0,
                   help="longest a cold symbol's message waits in a batch (default 20)")
    p.set_defaults(func=_collect)


def redact(url: str) -> str:
    """A Redis URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + netloc))


def _symbols(text: str, option: str) -> list[str]:
    out = [s.strip().upper() for s in text.split(",") if s.strip()]
    bad = [s for s in out if not _SYMBOL.fullmatch(s)]
    if bad or not out:
        raise UserError(f"{option}: expected symbols like BTCUSDT,ETHUSDT, got {text!r}")
    return out


def _collect(args: argparse.Namespace) -> int:
    import redis

    from pyengine import sdnotify
    from pyengine.scaleout.collector import Collector
    from pyengine.scaleout.live import LiveSource
    from pyengine.scaleout.runner import (hot_by_volume, run_live, run_recordings,
                                          shared_epoch, shared_hot_set)
    from pyengine.scaleout.sources import RecordingSource

    symbols = _symbols(args.symbols, "--symbols")
    if args.heartbeat_ms <= 0 or args.lease_ms < 2 * args.heartbeat_ms:
        raise UserError("--lease-ms must be at least twice --heartbeat-ms (and both positive)")
    if args.speed <= 0:
        raise UserError("--speed must be positive")
    live = [s for s in args.source if s.startswith(("ws://", "wss://"))]
    if live and len(args.source) > 1:
        raise UserError("--source: a stream URL must be the only source")
    sources = [] if live else [RecordingSource(s) for s in args.source]
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    bad = [s for s in streams if not re.fullmatch(r"(depth(@100ms)?|trade|aggTrade|bookTicker|"
                                                  r"kline_\d+[smhdwM])", s)]
    if bad or not streams:
        raise UserError(f"--streams: not market streams the collector publishes: {bad or '[]'}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s collect %(message)s")
    password = os.environ.get(args.redis_password_env) or None
    client = redis.Redis.from_url(args.redis, password=password) if password else \
        redis.Redis.from_url(args.redis)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise UserError(f"--redis {redact(args.redis)}: cannot connect "
                        f"({exc.__class__.__name__})") from None
    collector_id = args.id or f"{socket.gethostname()}-{os.getpid()}"
    duration_s = max(_length_s(s) for s in sources) / args.speed if sources else 0.0
    ttl_s = duration_s + 3600
    if args.hot:
        hot = _symbols(args.hot, "--hot")
    elif live:
        hot = _live_hot(args.rest_url, symbols, args.hot_min_quote_volume)
    else:
        hot = hot_by_volume(sources, args.hot_min_quote_volume)
    hot = shared_hot_set(client, args.prefix, hot, ttl_s)
    collector = Collector(client, symbols, hot, collector_id=collector_id, prefix=args.prefix,
                          lease_ms=args.lease_ms, maxlen=args.maxlen,
                          batch_s=args.batch_ms / 1000, hot_replicas=args.hot_replicas)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    # Register, then let collectors started together see each other before claiming.
    collector.heartbeat()
    time.sleep(2 * args.heartbeat_ms / 1000)
    # Recordings play on one wall-clock epoch shared by all collectors.
    epoch = None if live else shared_epoch(client, args.prefix, time.time(), ttl_s)
    print(json.dumps({"collector": collector_id, "hot": sorted(hot), "epoch": epoch}),
          flush=True)
    sdnotify.ready(f"collector {collector_id}")
    source = None
    try:
        # systemd's watchdog is fed from the heartbeat: a stuck collector is restarted.
        if live:
            source = LiveSource(live[0], args.rest_url, streams=streams)
            source.start()
            run_live(collector, source, heartbeat_s=args.heartbeat_ms / 1000,
                     should_stop=lambda: bool(stop), on_tick=sdnotify.watchdog)
        else:
            run_recordings(collector, sources, epoch_s=epoch, speed=args.speed,
                           heartbeat_s=args.heartbeat_ms / 1000, should_stop=lambda: bool(stop),
                           on_tick=sdnotify.watchdog)
    except KeyboardInterrupt:
        pass
    finally:
        sdnotify.stopping()
        if source is not None:
            source.close()
        collector.stop()
    print(json.dumps({"collector": collector_id, "published": dict(collector.stats.published),
                      "claimed": collector.stats.claimed, "released": collector.stats.released,
                      "lost": collector.stats.lost}), flush=True)
    sys.stdout.flush()
    return 0


def _length_s(source) -> float:
    last = 0
    for f in source.frames():
        last = f.offset_ns
    return last / 1e9


def _live_hot(rest_url: str, symbols: list[str], per_minute: float) -> list[str]:
    """Symbols whose 24 h quote volume (``/api/v3/ticker/24hr``) averages ``per_minute``."""
    import httpx
    import orjson

    try:
        r = httpx.get(rest_url.rstrip("/") + "/api/v3/ticker/24hr",
                      params={"symbols": orjson.dumps(symbols).decode(), "type": "MINI"},
                      timeout=10.0)
        r.raise_for_status()
        tickers = r.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise UserError(f"--rest-url {rest_url}: cannot read 24 h volumes ({exc}); "
                        "give --hot explicitly") from None
    return sorted(t["symbol"] for t in tickers
                  if float(t.get("quoteVolume", 0)) / 1440 >= per_minute)
