"""The Telegram bot thread against a local fake Bot API."""
from __future__ import annotations

import logging
import threading

import pytest
import trio

from pyengine.telemetry.alerts import Alert, AlertRouter, Severity
from pyengine.telemetry.telegram_bot import TelegramBot

from .fake_engine import FakeControls
from .fake_telegram import FakeBotApi

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"
OPERATOR = 1001
STRANGER = 666


async def wait_until(predicate, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


@pytest.fixture
def api():
    with FakeBotApi(TOKEN) as fake:
        yield fake


def make_bot(api: FakeBotApi, controls) -> TelegramBot:
    return TelegramBot(TOKEN, controls, allowed_chat_ids=[OPERATOR], base_url=api.base_url,
                       retry_s=0.05, max_retry_s=0.2, poll_timeout_s=1)


async def test_commands_reach_the_engine_and_halt_really_halts(api, caplog):
    caplog.set_level(logging.DEBUG)
    controls = FakeControls()
    bot = make_bot(api, controls)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot.run)
        api.push_command(OPERATOR, "/status")
        api.push_command(OPERATOR, "/positions")
        api.push_command(OPERATOR, "/halt fat finger on BTCUSDT")
        await wait_until(lambda: len(api.texts(OPERATOR)) >= 3)
        assert controls.halted
        assert controls.halt_reasons == ["fat finger on BTCUSDT"]
        # the engine is only ever touched from the trio thread
        assert controls.threads == {threading.current_thread().name}
        texts = api.texts(OPERATOR)
        assert any(t.startswith("/status") and "mode: paper" in t for t in texts)
        assert any("BTCUSDT" in t and "qty=0.5" in t for t in texts)
        assert any("halted: fat finger on BTCUSDT" in t for t in texts)

        api.push_command(OPERATOR, "/resume")
        api.push_command(OPERATOR, "/help")
        api.push_command(OPERATOR, "/pnl")
        api.push_command(OPERATOR, "/orders")
        await wait_until(lambda: len(api.texts(OPERATOR)) >= 7)
        assert not controls.halted and controls.resumes == 1
        later = api.texts(OPERATOR)[3:]
        assert any("/halt" in t and "/pnl" in t for t in later)
        assert any(t.startswith("/pnl") and "equity: 10,031.2" in t for t in later)
        assert any(t == "/orders\n(none)" for t in later)
        nursery.cancel_scope.cancel()
    assert TOKEN not in caplog.text
    assert "123456:" not in caplog.text


async def test_unknown_chat_is_ignored_and_logged(api, caplog):
    caplog.set_level(logging.INFO)
    controls = FakeControls()
    bot = make_bot(api, controls)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot.run)
        api.push_command(STRANGER, "/halt pwned")
        api.push_command(OPERATOR, "/status")   # processed after the stranger's update
        await wait_until(lambda: len(api.texts(OPERATOR)) >= 1)
        nursery.cancel_scope.cancel()
    assert not controls.halted and controls.halt_reasons == []
    assert api.texts(STRANGER) == []
    assert bot.ignored_chats == [STRANGER]
    assert f"ignored message from chat id {STRANGER}" in caplog.text


async def test_alerts_queue_while_telegram_is_down_and_are_retried(api, caplog):
    caplog.set_level(logging.DEBUG)
    api.down = True
    controls = FakeControls()
    bot = make_bot(api, controls)
    # httpx logs request URLs (which carry the bot token) at INFO: prove they are scrubbed
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    router = AlertRouter()
    router.add_destination(bot)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot.run)
        # the trio side never blocks: offering is immediate even with Telegram down
        for i in range(3):
            assert router.alert(f"k{i}", Severity.ERROR, f"alert {i}")
        await wait_until(lambda: api.requests.count("getMe") >= 2)   # retried
        assert api.texts() == [] and bot.pending == 3
        api.down = False
        await wait_until(lambda: len(api.texts(OPERATOR)) >= 3)
        nursery.cancel_scope.cancel()
    texts = api.texts(OPERATOR)
    assert [t.splitlines()[0] for t in texts] == ["[ERROR] alert 0", "[ERROR] alert 1", "[ERROR] alert 2"]
    assert bot.pending == 0
    assert "telegram unreachable" in caplog.text
    assert any(r.name == "httpx" and "/bot***/getMe" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text


def test_empty_token_is_refused():
    with pytest.raises(ValueError, match="PYENGINE_TELEGRAM_TOKEN"):
        TelegramBot("", None, allowed_chat_ids=[1])


async def test_alert_raised_at_shutdown_is_still_delivered(api):
    bot = make_bot(api, FakeControls())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot.run)
        await wait_until(lambda: "getUpdates" in api.requests)
        bot.offer(Alert("shutdown", Severity.INFO, "shutting down: SIGTERM"))
        nursery.cancel_scope.cancel()
    assert api.texts(OPERATOR) == ["[INFO] shutting down: SIGTERM"]


async def test_partial_failure_does_not_resend_to_chats_that_got_the_alert(api):
    bot = TelegramBot(TOKEN, FakeControls(), allowed_chat_ids=[OPERATOR, 2002], base_url=api.base_url,
                      retry_s=0.05, max_retry_s=0.2, poll_timeout_s=1)
    # the fake answers 502 for chat 2002 once, then recovers
    failures = {"left": 1}
    original = api._dispatch

    def flaky(method, params):
        if method == "sendMessage" and int(params["chat_id"]) == 2002 and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("drop")
        return original(method, params)

    api._dispatch = flaky
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bot.run)
        bot.offer(Alert("k", Severity.WARNING, "once each"))
        await wait_until(lambda: len(api.texts(2002)) == 1)
        nursery.cancel_scope.cancel()
    assert api.texts(OPERATOR) == ["[WARNING] once each"] and api.texts(2002) == ["[WARNING] once each"]
