"""The dashboard's HTTP/1.1 + WebSocket server on trio: static files of the built Svelte
app, ``/ws`` (state deltas pushed to the page), ``/api/state``, ``/api/halt``,
``/api/resume`` and Prometheus ``/metrics``.

Security: bound to 127.0.0.1 by default. Binding anywhere else needs a token, and then
every data endpoint needs it too (``Authorization: Bearer`` or ``?token=``). Halt and
resume always need the token. The token never appears in a page or a response. WebSocket
upgrades from a foreign Origin and requests with a foreign Host (DNS rebinding) are refused.
"""
from __future__ import annotations

import hmac
import logging
import mimetypes
import pathlib
import urllib.parse
from typing import Any, Callable

import orjson
import trio
from trio_websocket import ConnectionClosed, wrap_server_stream

from pyengine.errors import UserError
from pyengine.telemetry import prometheus
from pyengine.telemetry.controls import Controls
from pyengine.telemetry.encode import dumps
from pyengine.telemetry.dashboard.state import DashboardState
from pyengine.telemetry.metrics import Registry

log = logging.getLogger("pyengine.telemetry.dashboard")
STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


class _Request:
    __slots__ = ("method", "path", "query", "headers", "body")

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        parsed = urllib.parse.urlsplit(target)
        self.method = method
        self.path = urllib.parse.unquote(parsed.path)
        self.query = dict(urllib.parse.parse_qsl(parsed.query))
        self.headers = headers
        self.body = body


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Prefixed(trio.abc.Stream):
    """A stream whose first bytes were already read while parsing the HTTP head."""

    def __init__(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix, b""
            return data
        return await self._stream.receive_some(max_bytes)

    async def send_all(self, data) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


class DashboardServer:
    def __init__(self, state: DashboardState, registry: Registry, controls: Controls | None, *,
                 host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
                 push_interval_s: float = 0.5, static_dir: pathlib.Path = STATIC_DIR,
                 on_operator_action: Callable[[str, str], None] | None = None) -> None:
        if host not in LOOPBACK and not token:
            raise UserError(f"dashboard bound to {host}: a token is required for any non-loopback "
                            "bind (set PYENGINE_DASHBOARD_TOKEN)")
        self.state = state
        self.registry = registry
        self.controls = controls
        self.host = host
        self.port = port
        self._token = token
        self._remote = host not in LOOPBACK
        self.push_interval_s = push_interval_s
        self.static_dir = static_dir
        self._on_operator_action = on_operator_action
        self.clients = 0

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        try:
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        except OSError as exc:
            raise UserError(f"cannot serve the dashboard on {self.host}:{self.port}: "
                            f"{exc.strerror or exc}") from None
        self.port = listeners[0].socket.getsockname()[1]
        log.info("dashboard on http://%s:%d/", self.host, self.port)
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # --- connection handling -----------------------------------------------------------
    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            buf = b""
            while True:   # keep-alive: one request after another on the same connection
                while b"\r\n\r\n" not in buf:
                    if len(buf) > MAX_HEAD:
                        raise _BadRequest(400, "request head too large")
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                request, keep_alive = self._parse_head(head)
                try:
                    length = int(request.headers.get("content-length", "0") or 0)
                except ValueError:
                    raise _BadRequest(400, "bad Content-Length") from None
                if not 0 <= length <= MAX_BODY:
                    raise _BadRequest(413, "request body too large")
                while len(buf) < length:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buf += data
                request.body, buf = buf[:length], buf[length:]
                if request.headers.get("upgrade", "").lower() == "websocket":
                    await self._websocket(stream, request, head + b"\r\n\r\n" + buf)
                    return
                try:
                    status, headers, body = await self._route(request)
                except _BadRequest:
                    raise
                except Exception as exc:   # a failing handler must not take the server down
                    log.exception("dashboard: %s %s failed", request.method, request.path)
                    raise _BadRequest(500, f"{type(exc).__name__}: {exc}") from None
                await self._respond(stream, status, headers, body, keep_alive)
                if not keep_alive:
                    return
        except _BadRequest as exc:
            try:
                await self._respond(stream, exc.status, {}, _json({"error": str(exc)}), False)
            except trio.BrokenResourceError:
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass
        except Exception:   # one bad connection must never take the dashboard down
            log.exception("dashboard connection failed")
        finally:
            await trio.aclose_forcefully(stream)

    @staticmethod
    def _parse_head(head: bytes) -> tuple[_Request, bool]:
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        return _Request(method, target, headers, b""), keep_alive

    async def _respond(self, stream: trio.abc.Stream, status: int, headers: dict[str, str],
                       body: bytes, keep_alive: bool) -> None:
        all_headers = {**SECURITY_HEADERS, "Content-Type": "application/json", **headers,
                       "Content-Length": str(len(body)),
                       "Connection": "keep-alive" if keep_alive else "close"}
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in all_headers.items()) + "\r\n"
        await stream.send_all(head.encode("latin-1") + body)

    # --- authorisation -----------------------------------------------------------------
    def _presented_token(self, request: _Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return request.query.get("token")

    def _token_ok(self, request: _Request) -> bool:
        presented = self._presented_token(request)
        return bool(self._token and presented
                    and hmac.compare_digest(presented.encode(), self._token.encode()))

    def _check_host(self, request: _Request) -> None:
        if self._remote:
            return
        host = request.headers.get("host", "")
        name = host[1:host.find("]")] if host.startswith("[") else host.split(":")[0]
        if name not in LOOPBACK:
            raise _BadRequest(403, "bad Host header for a loopback dashboard")

    def _check_read(self, request: _Request) -> None:
        self._check_host(request)
        if self._remote and not self._token_ok(request):
            raise _BadRequest(401, "token required")

    # --- routes ------------------------------------------------------------------------
    async def _route(self, request: _Request) -> tuple[int, dict[str, str], bytes]:
        path = request.path
        if path == "/metrics" and request.method == "GET":
            self._check_read(request)
            return 200, {"Content-Type": prometheus.CONTENT_TYPE}, prometheus.render(self.registry).encode()
        if path == "/api/state" and request.method == "GET":
            self._check_read(request)
            return 200, {}, _json(self.state.snapshot())
        if path in ("/api/halt", "/api/resume"):
            if request.method != "POST":
                raise _BadRequest(405, "use POST")
            return self._operator(request, path.rsplit("/", 1)[1])
        if request.method != "GET":
            raise _BadRequest(405, "method not allowed")
        return self._static(path)

    def _operator(self, request: _Request, action: str) -> tuple[int, dict[str, str], bytes]:
        self._check_host(request)
        if not self._token:
            raise _BadRequest(403, f"{action} from the dashboard needs a token: set PYENGINE_DASHBOARD_TOKEN")
        if not self._token_ok(request):
            raise _BadRequest(401, "wrong or missing token")
        if self.controls is None:
            raise _BadRequest(503, "engine controls are not attached")
        try:
            body = orjson.loads(request.body) if request.body else {}
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise _BadRequest(400, "body must be a JSON object")
        if action == "halt":
            reason = str(body.get("reason") or "halted from the dashboard")[:200]
            result = self.controls.halt(reason)
        else:
            reason = ""
            result = self.controls.resume()
        log.warning("dashboard operator action: %s %s", action, reason)
        if self._on_operator_action is not None:
            self._on_operator_action(action, reason)
        return 200, {}, _json({"ok": True, "result": result})

    def _static(self, path: str) -> tuple[int, dict[str, str], bytes]:
        rel = "index.html" if path in ("/", "") else path.lstrip("/")
        root = self.static_dir.resolve()
        target = (root / rel).resolve()
        if root not in target.parents or not target.is_file():
            raise _BadRequest(404, "not found")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "text/javascript"):
            ctype += "; charset=utf-8"
        return 200, {"Content-Type": ctype}, target.read_bytes()

    # --- websocket -------------------------------------------------------------------
    async def _websocket(self, stream: trio.SocketStream, request: _Request, raw: bytes) -> None:
        if request.path != "/ws":
            raise _BadRequest(404, "not found")
        self._check_read(request)
        origin = request.headers.get("origin")
        if origin and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"):
            raise _BadRequest(403, "cross-origin WebSocket refused")
        async with trio.open_nursery() as nursery:
            ws_request = await wrap_server_stream(nursery, _Prefixed(stream, raw))
            ws = await ws_request.accept()
            self.clients += 1
            cursor: dict[str, Any] = {}
            try:
                while True:
                    msg = self.state.delta(cursor)
                    if msg is not None:
                        await ws.send_message(dumps(msg).decode())
                    await trio.sleep(self.push_interval_s)
            except ConnectionClosed:
                pass
            finally:
                self.clients -= 1
                nursery.cancel_scope.cancel()


def _json(value: Any) -> bytes:
    return dumps(value)
