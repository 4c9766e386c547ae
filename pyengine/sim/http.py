"""A small HTTP/1.1 server on trio streams (h11), with WebSocket upgrades handed to
trio-websocket on the same port."""
from __future__ import annotations

from typing import Awaitable, Callable

import h11
import trio
import trio_websocket

RestHandler = Callable[[str, str, bytes, dict[str, str], bytes, str],
                       Awaitable[tuple[int, list[tuple[str, str]], bytes] | None]]
WsHandler = Callable[[trio_websocket.WebSocketRequest, str, trio.abc.Stream], Awaitable[None]]


class PrefixedStream(trio.abc.Stream):
    """A stream that first returns bytes already read from it (the upgrade request)."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes):
        self._inner, self._prefix = inner, prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix, b""
            await trio.lowlevel.checkpoint()
            return data
        return await self._inner.receive_some(max_bytes)

    async def send_all(self, data) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._inner.aclose()


async def serve_connection(stream: trio.SocketStream, rest: RestHandler, ws: WsHandler) -> None:
    try:
        ip = stream.socket.getpeername()[0]
    except OSError:
        ip = "127.0.0.1"
    conn = h11.Connection(h11.SERVER)
    raw = bytearray()        # bytes of the current request, replayed to the WebSocket handshake
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                raw += data
                conn.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if not isinstance(event, h11.Request):
                return
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            target = event.target.decode("latin-1")
            if headers.get("upgrade", "").lower() == "websocket":
                async with trio.open_nursery() as nursery:
                    prefixed = PrefixedStream(stream, bytes(raw))
                    request = await trio_websocket.wrap_server_stream(nursery, prefixed)
                    await ws(request, ip, prefixed)
                    nursery.cancel_scope.cancel()
                return
            body = bytearray()
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(ev, h11.Data):
                    body += ev.data
                elif isinstance(ev, h11.EndOfMessage):
                    break
                else:
                    return
            path, _, query = target.partition("?")
            reply = await rest(event.method.decode(), path, query.encode("latin-1"), headers, bytes(body), ip)
            if reply is None:            # fault injection: drop the connection unanswered
                return
            status, resp_headers, payload = reply
            resp_headers = resp_headers + [("Content-Length", str(len(payload)))]
            await stream.send_all(conn.send(h11.Response(status_code=status, headers=resp_headers,
                                                         reason=_REASONS.get(status, b""))))
            await stream.send_all(conn.send(h11.Data(data=payload)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
            raw.clear()
    except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        return
    finally:
        await trio.aclose_forcefully(stream)


_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden",
            404: b"Not Found", 409: b"Conflict", 418: b"I'm a teapot", 429: b"Too Many Requests",
            500: b"Internal Server Error", 502: b"Bad Gateway", 503: b"Service Unavailable",
            504: b"Gateway Timeout"}
