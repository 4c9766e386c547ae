"""A local fake of the Telegram Bot API for tests: records sendMessage calls, serves
queued updates to getUpdates, and can play "down" (HTTP 502 for everything)."""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeBotApi:
    def __init__(self, token: str) -> None:
        self.token = token
        self.sent: list[dict] = []
        self.requests: list[str] = []          # method names, in order
        self.down = False
        self._updates: list[dict] = []
        self._next_update = 1
        self._next_message = 1
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeBotApi":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def push_command(self, chat_id: int, text: str) -> None:
        command = text.split()[0]
        with self._cond:
            self._updates.append({
                "update_id": self._next_update,
                "message": {"message_id": 1000 + self._next_update, "date": int(time.time()),
                            "chat": {"id": chat_id, "type": "private"},
                            "from": {"id": chat_id, "is_bot": False, "first_name": "op"},
                            "text": text,
                            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}]},
            })
            self._next_update += 1
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def texts(self, chat_id: int | None = None) -> list[str]:
        with self._cond:
            return [m["text"] for m in self.sent if chat_id is None or m["chat_id"] == chat_id]

    # --- HTTP --------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                ctype = self.headers.get("Content-Type", "")
                params = json.loads(raw) if "json" in ctype else dict(urllib.parse.parse_qsl(raw))
                prefix = f"/bot{fake.token}/"
                if not self.path.startswith(prefix):
                    return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                method = self.path[len(prefix):]
                with fake._cond:
                    fake.requests.append(method)
                if fake.down:
                    return self._reply(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
                self._reply(200, {"ok": True, "result": fake._dispatch(method, params)})

            do_GET = do_POST

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _dispatch(self, method: str, params: dict):
        if method == "getMe":
            return {"id": 4242, "is_bot": True, "first_name": "fake", "username": "fake_bot",
                    "can_join_groups": True, "can_read_all_group_messages": False,
                    "supports_inline_queries": False}
        if method in ("deleteWebhook", "setMyCommands", "close", "logOut"):
            return True
        if method == "getUpdates":
            offset = int(params.get("offset", 0) or 0)
            timeout = min(float(params.get("timeout", 0) or 0), 0.5)   # keep tests quick
            with self._cond:
                self._cond.wait_for(lambda: any(u["update_id"] >= offset for u in self._updates), timeout)
                return [u for u in self._updates if u["update_id"] >= offset]
        if method == "sendMessage":
            with self._cond:
                msg_id = self._next_message
                self._next_message += 1
                self.sent.append({"chat_id": int(params["chat_id"]), "text": params["text"]})
                self._cond.notify_all()
            return {"message_id": msg_id, "date": int(time.time()),
                    "chat": {"id": int(params["chat_id"]), "type": "private"}, "text": params["text"]}
        return True
