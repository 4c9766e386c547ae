"""Writing a WebSocket frame without yielding to the trio scheduler.

trio's ``SocketStream.send_all`` makes the ``send()`` syscall and then passes through a
checkpoint, so "bytes written" would only be known after every other ready task has had its
turn (hundreds of µs in a busy engine); and a send from the hot path would need a task to
await it. :class:`DirectStream` wraps the transport of a trio-websocket connection after its
handshake (:func:`install`): every byte trio-websocket writes (pongs, pings, close, requests
that went the async way) still goes through ``send_all``, in order, and :meth:`write_now`
writes one complete WebSocket frame synchronously, straight on the non-blocking socket, when
nothing else is being written:

* ``WRITTEN``: the whole frame is in the kernel's send buffer when it returns;
* ``QUEUED``: the send buffer was full; what did not fit is kept and written by
  :meth:`DirectStream.run` (the connection's drainer task) before anything else;
  :meth:`DirectStream.wait_drained` returns once it is on the wire;
* ``REFUSED``: nothing was written (an async write is in progress, the connection is broken
  or closed, or the transport is not a plain socket): send it the ordinary async way.

:func:`text_frame` builds the same bytes as wsproto does for ``send_message`` (one final
text frame, masked with a fresh key from the OS's random source) in about a third of the
time; the connection must be open (wsproto state ``OPEN``).
"""
from __future__ import annotations

import os
import struct
import time
from typing import Any

import trio
from trio_websocket import WebSocketConnection
from wsproto.connection import ConnectionState

WRITTEN, QUEUED, REFUSED = 0, 1, 2


class DirectStream(trio.abc.HalfCloseableStream):
    """A plain ``trio.SocketStream`` with a synchronous frame writer beside ``send_all``."""

    def __init__(self, inner: trio.SocketStream):
        self.inner = inner
        self.socket = inner.socket
        self._backlog = bytearray()     # accepted by write_now, not yet in the kernel
        self._lock = trio.Lock()        # one async writer (send_all / drainer) at a time
        self._wake = trio.Event()
        self._drained = trio.Event()
        self._drained.set()
        self.broken = False
        self.queued = 0                 # write_now calls that left a backlog (send buffer full)

    # -- the synchronous path ---------------------------------------------------
    def ready(self) -> bool:
        """Whether :meth:`write_now` may write now (nothing else being written)."""
        return not (self.broken or self._backlog or self._lock.locked())

    def write_now(self, data: bytes) -> int:
        if not self.ready():
            return REFUSED
        fd = self.socket.fileno()
        if fd < 0:                      # closed: the descriptor number may be reused already
            return REFUSED
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            n = 0
        except OSError:
            self.broken = True          # the async path reports it as a lost connection
            return REFUSED
        if n == len(data):
            return WRITTEN
        self._backlog += data[n:]
        self.queued += 1
        self._drained = trio.Event()
        self._wake.set()
        return QUEUED

    async def wait_drained(self) -> None:
        await self._drained.wait()

    async def run(self) -> None:
        """The drainer: writes what :meth:`write_now` could not; runs with the connection."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            async with self._lock:
                await self._flush_backlog()

    async def _flush_backlog(self) -> None:
        while self._backlog:
            chunk = bytes(self._backlog)
            self._backlog.clear()
            try:
                await self.inner.send_all(chunk)
            except BaseException:
                self.broken = True
                raise
        self._drained.set()

    # -- the trio stream interface (what trio-websocket uses) ---------------------
    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self._lock:
            await self._flush_backlog()
            try:
                await self.inner.send_all(data)
            except BaseException:
                self.broken = True
                raise

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        self.broken = True
        self._drained.set()             # nothing more will be written: release waiters
        await self.inner.aclose()


def install(ws: WebSocketConnection) -> DirectStream | None:
    """Put a :class:`DirectStream` under an open connection (plain ``ws://`` only; None for
    other transports, which keep the async path)."""
    stream: Any = ws._stream
    if isinstance(stream, DirectStream):
        return stream
    if not isinstance(stream, trio.SocketStream):
        return None
    direct = DirectStream(stream)
    ws._stream = direct
    return direct


class _MaskKeys:
    """Masking keys from ``os.urandom``, fetched 4 KiB at a time (one syscall per 1024
    frames instead of one per frame)."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        at = self._at
        if at >= len(self._pool):
            self._pool, at = os.urandom(4096), 0
        self._at = at + 4
        return self._pool[at:at + 4]


_keys = _MaskKeys()
_ones: dict[int, tuple[int, int]] = {}     # payload length -> (0x01 every 4th byte, all ones)


def text_frame(text: str) -> bytes:
    """One final, masked WebSocket text frame (RFC 6455 5.2) carrying ``text``."""
    payload = text.encode()
    n = len(payload)
    ones = _ones.get(n)
    if ones is None:
        full = (1 << 8 * n) - 1
        ones = (int.from_bytes(b"\x01\0\0\0" * (n // 4 + 1), "little") & full, full)
        if n <= 4096:                   # order frames: a few hundred bytes, a few lengths
            _ones[n] = ones
    key = _keys.next()
    # the key repeated over the payload, as one integer: XOR the whole payload at once
    k = (int.from_bytes(key, "little") * ones[0]) & ones[1]
    masked = (int.from_bytes(payload, "little") ^ k).to_bytes(n, "little")
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0xFF, n)
    return head + key + masked


def write_text_now(ws: WebSocketConnection, direct: DirectStream, text: str) -> tuple[int, int]:
    """Frame ``text`` as one WebSocket text message and write it now if possible:
    (``WRITTEN`` | ``QUEUED`` | ``REFUSED``, monotonic ns right after the write)."""
    if ws.closed is not None or ws._wsproto.state != ConnectionState.OPEN:
        return REFUSED, 0               # closing: the async path raises ConnectionClosed
    how = direct.write_now(text_frame(text))
    return how, time.monotonic_ns()
