"""Generic webhook destination for alerts: Slack-style ``{"text": ...}`` or Feishu/Lark
``{"msg_type": "text", "content": {"text": ...}}``. Runs in the trio thread with an async
HTTP client; undelivered alerts are kept (bounded) and retried with backoff."""
from __future__ import annotations

import collections
import logging

import httpx
import trio

from pyengine.telemetry.alerts import Alert
from pyengine.telemetry.redact import redact, register_secret

log = logging.getLogger("pyengine.telemetry.webhook")
STYLES = ("slack", "lark")


def payload(style: str, alert: Alert) -> dict[str, object]:
    text = alert.render()
    if style == "lark":
        return {"msg_type": "text", "content": {"text": text}}
    return {"text": text}


class WebhookDestination:
    def __init__(self, url: str, style: str = "slack", queue_size: int = 1000,
                 retry_s: float = 1.0, max_retry_s: float = 60.0, timeout_s: float = 10.0) -> None:
        if style not in STYLES:
            raise ValueError(f"webhook style must be one of {', '.join(STYLES)}, got {style!r}")
        register_secret(url)      # a webhook URL is a credential (Slack, Lark)
        self.url = url
        self.style = style
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.timeout_s = timeout_s
        self._pending: collections.deque[Alert] = collections.deque(maxlen=queue_size)
        self._wake = trio.Event()
        self.delivered = 0

    def offer(self, alert: Alert) -> None:
        self._pending.append(alert)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        delay = self.retry_s
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                while self._pending:
                    alert = self._pending[0]
                    try:
                        response = await client.post(self.url, json=payload(self.style, alert))
                        if response.status_code >= 300:
                            raise RuntimeError(f"HTTP {response.status_code}")
                    except (httpx.HTTPError, RuntimeError) as exc:
                        log.warning("webhook delivery failed (%d queued), retry in %.1f s: %s",
                                    len(self._pending), delay, redact(f"{type(exc).__name__}: {exc}"))
                        await trio.sleep(delay)
                        delay = min(delay * 2, self.max_retry_s)
                        continue
                    delay = self.retry_s
                    self._pending.popleft()
                    self.delivered += 1
