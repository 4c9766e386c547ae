"""Alerts through the Telemetry service to the webhook (Slack/Lark JSON) and to Telegram,
and Telegram commands reaching the engine's Controls through the service."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trio

from pyengine.telemetry import Severity, Telemetry, TelemetryConfig
from pyengine.telemetry.alerts import Alert
from pyengine.telemetry.webhook import WebhookDestination, payload

from .fake_engine import FakeControls
from .fake_telegram import FakeBotApi

TOKEN = "987654:SERVICE-token-zyxwvutsrqponmlk"


class Hook:
    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if hook.status == 200:
                    hook.posts.append(json.loads(body))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/secret-path-abcdef"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def wait_until(predicate, timeout: float = 20.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


def test_webhook_payload_styles():
    alert = Alert("k", Severity.ERROR, "API errors", "3 in the last 60 s")
    assert payload("slack", alert) == {"text": "[ERROR] API errors\n3 in the last 60 s"}
    assert payload("lark", alert) == {"msg_type": "text", "content": {"text": "[ERROR] API errors\n3 in the last 60 s"}}
    with pytest.raises(ValueError, match="slack, lark"):
        WebhookDestination("http://127.0.0.1:1/x", style="teams")


async def test_webhook_through_the_service_with_retry(monkeypatch, tmp_path):
    hook = Hook()
    hook.status = 503          # the receiver is down at first
    monkeypatch.setenv("PYENGINE_WEBHOOK_URL", hook.url)
    try:
        tel = Telemetry(TelemetryConfig.from_dict({"sqlite": False, "dashboard": {"enabled": False},
                                                   "webhook": {"style": "lark"}}))
        tel.webhook.retry_s = 0.02
        async with trio.open_nursery() as nursery:
            await nursery.start(tel.run)
            tel.alert("risk:state", Severity.CRITICAL, "Trading HALTED", "daily loss limit")
            await wait_until(lambda: tel.webhook.pending == 2)    # start alert + this one, queued
            hook.status = 200
            await wait_until(lambda: len(hook.posts) == 2)
            nursery.cancel_scope.cancel()
        assert hook.posts[0]["content"]["text"].startswith("[INFO] Engine started")
        assert hook.posts[1] == {"msg_type": "text", "content": {"text": "[CRITICAL] Trading HALTED\ndaily loss limit"}}
    finally:
        hook.close()


async def test_telegram_through_the_service(monkeypatch, caplog):
    monkeypatch.setenv("PYENGINE_TELEGRAM_TOKEN", TOKEN)
    controls = FakeControls()
    with FakeBotApi(TOKEN) as api:
        tel = Telemetry(TelemetryConfig.from_dict({
            "sqlite": False, "dashboard": {"enabled": False},
            "telegram": {"allowed_chat_ids": [77, 78], "alert_chat_ids": [77], "base_url": api.base_url}}))
        async with trio.open_nursery() as nursery:
            await nursery.start(tel.run, controls)
            tel.alert("feed", Severity.WARNING, "Feed gap on BTCUSDT")
            api.push_command(78, "/halt from the phone")
            api.push_command(78, "/risk")
            await wait_until(lambda: len(api.texts(78)) >= 2 and len(api.texts(77)) >= 2)
            nursery.cancel_scope.cancel()
    assert controls.halt_reasons == ["from the phone"]
    assert any("state: HALTED" in t for t in api.texts(78))
    assert [t.splitlines()[0] for t in api.texts(77)] == ["[INFO] Engine started", "[WARNING] Feed gap on BTCUSDT"]
    assert TOKEN not in caplog.text
