"""Keeps secrets out of logs. httpx logs every request URL at INFO, and the Telegram Bot
API puts the bot token into the URL, so a record factory scrubs registered secrets from
every log record (message, arguments and traceback) before any handler sees it."""
from __future__ import annotations

import logging
import threading

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False
MASK = "***"


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def register_secret(secret: str) -> None:
    """Scrub ``secret`` from all log output from now on."""
    global _installed
    if len(secret) < 6:       # short strings would mangle ordinary text
        return
    with _lock:
        _secrets.add(secret)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _secrets:
                _scrub(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:   # a broken format string: leave it to logging's own error path
        return
    clean = redact(message)
    if clean != message or record.args:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redact(text)
