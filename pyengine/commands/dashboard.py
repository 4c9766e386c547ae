"""``pyengine dashboard --demo``: the live dashboard fed by a replay of the bundled BTCUSDT
recording, usable without the engine (during ``pyengine run`` the engine serves it)."""
from __future__ import annotations

import argparse
import logging
import os
import secrets

import trio

from pyengine.errors import UserError


def register(subparsers) -> None:
    p = subparsers.add_parser("dashboard", help="serve the live dashboard (--demo: on a replay of bundled data)")
    p.add_argument("--demo", action="store_true",
                   help="feed the dashboard from a replay of the bundled BTCUSDT feed and a toy paper strategy")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (default 127.0.0.1; any other needs PYENGINE_DASHBOARD_TOKEN)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--speed", type=float, default=10.0, help="replay speed, x real time (default 10)")
    p.add_argument("--sqlite", metavar="PATH", help="also store the metrics in this SQLite file")
    p.add_argument("--telegram-chat", type=int, action="append", metavar="CHAT_ID",
                   help="run the Telegram bot (token from PYENGINE_TELEGRAM_TOKEN) for this chat id")
    p.add_argument("--seconds", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if not args.demo:
        raise UserError("the dashboard is served by `pyengine run` (see its URL there); "
                        "use `pyengine dashboard --demo` to try it on the bundled BTCUSDT replay")
    if args.speed <= 0:
        raise UserError(f"--speed must be > 0, got {args.speed}")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be within 0..65535, got {args.port}")
    from pyengine.telemetry import Telemetry, TelemetryConfig
    from pyengine.telemetry.config import DashboardConfig, SqliteConfig, TelegramConfig
    from pyengine.telemetry.dashboard.demo import DemoEngine, load_feed, run_demo

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get("PYENGINE_DASHBOARD_TOKEN")
    generated = token is None
    if generated:
        # the operator token is shown on this terminal only, never sent to the page
        token = secrets.token_urlsafe(18)
    config = TelemetryConfig(
        engine_id="demo",
        sqlite=SqliteConfig(args.sqlite) if args.sqlite else None,
        telegram=TelegramConfig(allowed_chat_ids=args.telegram_chat) if args.telegram_chat else None,
        dashboard=DashboardConfig(host=args.host, port=args.port))
    config.validate()
    tel = Telemetry(config, dashboard_token=token)
    tel.dashboard.title = "pyengine demo"
    tel.dashboard.mode = f"replay x{args.speed:g}"
    ticks = load_feed()

    async def main() -> None:
        engine = DemoEngine(tel)
        async with trio.open_nursery() as nursery:
            url = await nursery.start(tel.run, engine)
            print(f"dashboard: {url}")
            if generated:
                print(f"operator token for halt/resume (this run only): {token}")
            print(f"replaying {len(ticks):,} BTCUSDT messages at x{args.speed:g}; Ctrl-C stops", flush=True)
            nursery.start_soon(run_demo, tel, engine, ticks, args.speed)
            if args.seconds is not None:
                await trio.sleep(args.seconds)
                nursery.cancel_scope.cancel()

    trio.run(main)
    return 0
