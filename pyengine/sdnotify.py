"""systemd's sd_notify protocol without libsystemd: datagrams to ``$NOTIFY_SOCKET``.

The engine sends ``READY=1`` once it trades, ``WATCHDOG=1`` at half the unit's ``WatchdogSec``
(``watchdog_interval_s``), and ``STOPPING=1`` when it starts shutting down. Outside systemd
(no ``NOTIFY_SOCKET``) every call is a no-op returning False. Sending never blocks.
"""
from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(*fields: str, env: dict[str, str] | None = None) -> bool:
    """Send ``KEY=VALUE`` fields in one datagram; True when a notify socket received it."""
    env = os.environ if env is None else env
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address[0] not in "/@":
        raise ValueError(f"NOTIFY_SOCKET={address!r}: expected a path or an @abstract name")
    for field in fields:
        if "=" not in field or "\n" in field:
            raise ValueError(f"sd_notify field {field!r}: expected one KEY=VALUE line")
    target = "\0" + address[1:] if address[0] == "@" else address
    # Never block the caller: if systemd's queue is full or the socket is gone, the message is
    # dropped (False) and the next heartbeat tries again.
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.setblocking(False)
        try:
            sock.connect(target)
            sock.send("\n".join(fields).encode())
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", address, exc)
            return False
    return True


def ready(status: str | None = None) -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def watchdog() -> bool:
    return notify("WATCHDOG=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def watchdog_interval_s(env: dict[str, str] | None = None) -> float | None:
    """How often to send ``WATCHDOG=1`` (half of ``WatchdogSec``), or None when not watched.

    ``WATCHDOG_PID``, when set, must be this process: a child must not feed its parent's dog.
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    if not usec.isdigit() or int(usec) == 0:
        raise ValueError(f"WATCHDOG_USEC={usec!r}: expected a positive integer")
    return int(usec) / 2e6
