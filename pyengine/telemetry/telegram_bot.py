"""Layer 2: the Telegram bot in its own thread with its own asyncio loop (python-telegram-bot
is asyncio based; the engine is trio). Bridges:

* trio -> bot: ``offer(alert)`` appends to a bounded deque and wakes the bot loop with
  ``call_soon_threadsafe``; it never blocks and never fails, so trading cannot be slowed by
  Telegram. Undelivered alerts stay queued and are retried with backoff.
* bot -> trio: commands call the engine's ``Controls`` through ``trio.from_thread.run_sync``
  with the engine's trio token, from a worker thread so the bot loop keeps polling.

Commands are answered only for allow-listed chat ids; anything else is ignored and logged.
The token comes from ``PYENGINE_TELEGRAM_TOKEN`` and is scrubbed from all logs.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import threading
from typing import Any, Callable

import trio
from telegram import Update
from telegram.error import RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from pyengine.telemetry.alerts import Alert
from pyengine.telemetry.controls import COMMANDS, Controls, render
from pyengine.telemetry.redact import redact, register_secret

log = logging.getLogger("pyengine.telemetry.telegram")
TOKEN_ENV = "PYENGINE_TELEGRAM_TOKEN"
MAX_MESSAGE = 4000


class TelegramBot:
    def __init__(self, token: str, controls: Controls | None, *, allowed_chat_ids: list[int],
                 alert_chat_ids: list[int] | None = None, base_url: str | None = None,
                 queue_size: int = 1000, retry_s: float = 1.0, max_retry_s: float = 60.0,
                 poll_timeout_s: int = 10, flush_timeout_s: float = 3.0) -> None:
        if not token:
            raise ValueError(f"Telegram bot token is empty (set {TOKEN_ENV})")
        register_secret(token)
        # httpx logs each request URL (token included) at INFO: keep it quieter anyway
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._token = token
        self.controls = controls
        self.allowed = frozenset(allowed_chat_ids)
        self.alert_chats = list(alert_chat_ids if alert_chat_ids is not None else allowed_chat_ids)
        self.base_url = base_url
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.poll_timeout_s = poll_timeout_s
        self.flush_timeout_s = flush_timeout_s
        self._pending: collections.deque[Alert] = collections.deque(maxlen=queue_size)
        self.dropped = 0
        self.delivered = 0
        self.ignored_chats: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._app_ready: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._trio_token: trio.lowlevel.TrioToken | None = None
        self._stop_requested = threading.Event()
        self._stopping = False

    # --- trio side -------------------------------------------------------------------
    def offer(self, alert: Alert) -> None:
        """Alert-router destination. Thread-safe, never blocks."""
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append(alert)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:    # loop already closed during shutdown
                pass

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Run the bot thread for as long as this task lives (call in the engine's nursery)."""
        self._trio_token = trio.lowlevel.current_trio_token()
        self._thread = threading.Thread(target=self._thread_main, name="telegram-bot", daemon=True)
        self._thread.start()
        try:
            await trio.sleep_forever()
        finally:
            self._request_stop()
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._thread.join, 10.0, abandon_on_cancel=True)

    def _request_stop(self) -> None:
        self._stop_requested.set()     # seen by _main if its loop is not up yet
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass

    # --- bot thread ------------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:
            log.error("telegram bot thread ended: %s", redact(f"{type(exc).__name__}: {exc}"))

    def _build(self) -> Application:
        builder: ApplicationBuilder = Application.builder().token(self._token)
        if self.base_url:
            base = self.base_url.rstrip("/")
            builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
        builder = (builder.request(HTTPXRequest(connect_timeout=5, read_timeout=10))
                   .get_updates_request(HTTPXRequest(connect_timeout=5, read_timeout=self.poll_timeout_s + 10)))
        app = builder.build()
        if self.allowed:
            allowed = filters.Chat(chat_id=list(self.allowed))
            for name in COMMANDS:
                app.add_handler(CommandHandler(name, self._command, filters=allowed))
        app.add_handler(MessageHandler(filters.ALL, self._ignored))
        app.add_error_handler(self._error)
        return app

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._app_ready = asyncio.Event()
        if self._stop_requested.is_set():
            return
        if self._pending:
            self._wake.set()
        app = self._build()
        sender = asyncio.create_task(self._send_loop(app))
        polling = asyncio.create_task(self._poll(app))
        await self._stop.wait()
        polling.cancel()
        # let the sender finish what is queued (e.g. "shutting down"): bounded, and never
        # cut mid-request, which would make the next start send it twice
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(sender), self.flush_timeout_s)
        except asyncio.TimeoutError:
            log.warning("telegram: %d alerts not delivered at shutdown", len(self._pending))
            sender.cancel()
        await asyncio.gather(sender, polling, return_exceptions=True)
        try:
            if app.updater and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        except Exception as exc:
            log.debug("telegram shutdown: %s", redact(str(exc)))

    async def _poll(self, app: Application) -> None:
        """Start the application (retrying while Telegram is unreachable), then poll."""
        delay = self.retry_s
        while True:
            try:
                await app.initialize()
                self._app_ready.set()
                await app.start()
                await app.updater.start_polling(timeout=self.poll_timeout_s, poll_interval=0.0,
                                                drop_pending_updates=False,
                                                error_callback=self._polling_error)
                log.info("telegram bot polling (allowed chats: %s)", sorted(self.allowed))
                return
            except TelegramError as exc:
                log.warning("telegram unreachable, retrying in %.1f s: %s", delay,
                            redact(f"{type(exc).__name__}: {exc}"))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_s)

    def _polling_error(self, exc: TelegramError) -> None:
        log.warning("telegram polling error: %s", redact(f"{type(exc).__name__}: {exc}"))

    async def _send_loop(self, app: Application) -> None:
        delay = self.retry_s
        await self._app_ready.wait()
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            sent_to: set[int] = set()     # chats that already have the head alert
            head = None
            while self._pending:
                alert = self._pending[0]
                if alert is not head:
                    head, sent_to = alert, set()
                try:
                    for chat in self.alert_chats:
                        if chat not in sent_to:
                            await app.bot.send_message(chat_id=chat, text=alert.render()[:MAX_MESSAGE])
                            sent_to.add(chat)
                except Exception as exc:  # any failure: keep the alert, retry later
                    wait = delay
                    if isinstance(exc, RetryAfter):     # Telegram's flood control says how long
                        wait = max(delay, exc.retry_after.total_seconds()
                                   if hasattr(exc.retry_after, "total_seconds") else float(exc.retry_after))
                    log.warning("telegram send failed (%d alerts queued), retry in %.1f s: %s",
                                len(self._pending), wait, redact(f"{type(exc).__name__}: {exc}"))
                    await asyncio.sleep(wait)
                    delay = min(delay * 2, self.max_retry_s)
                    continue
                delay = self.retry_s
                if self._pending and self._pending[0] is alert:
                    self._pending.popleft()
                self.delivered += 1

    async def _ignored(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat.id if update.effective_chat else None
        if chat in self.allowed:
            if update.effective_message and update.effective_message.text:
                await update.effective_message.reply_text("unknown command; /help lists them")
            return
        self.ignored_chats.append(chat)
        log.warning("telegram: ignored message from chat id %s (not allow-listed)", chat)

    async def _command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        name = message.text.split()[0].lstrip("/").split("@")[0].lower()
        args = " ".join(context.args or [])
        log.info("telegram command /%s from chat %s", name, update.effective_chat.id)
        if name == "help":
            reply = "\n".join(f"/{k} - {v}" for k, v in COMMANDS.items())
        else:
            reply = await self._call_engine(name, args)
        await message.reply_text(reply[:MAX_MESSAGE])

    async def _call_engine(self, name: str, args: str) -> str:
        if self.controls is None or self._trio_token is None:
            return "engine controls are not attached"
        fn: Callable[..., Any] = getattr(self.controls, name)
        call_args = (args or "halted from Telegram",) if name == "halt" else ()
        try:
            result = await asyncio.to_thread(trio.from_thread.run_sync, fn, *call_args,
                                             trio_token=self._trio_token)
        except trio.RunFinishedError:
            return "engine is not running"
        except Exception as exc:
            log.error("telegram /%s failed: %s", name, exc)
            return f"/{name} failed: {type(exc).__name__}: {exc}"
        return f"/{name}\n{render(result)}"

    async def _error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler error: %s", redact(repr(context.error)))
