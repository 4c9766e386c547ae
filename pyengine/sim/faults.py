"""Fault injection, driven from tests (``sim.faults``) or over ``POST /sim/admin/fault``.

Every fault is explicit and one-shot unless a count says otherwise, so a test states exactly
what goes wrong and when.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from pyengine.sim.server import Simulator

UNKNOWN_MSG = ("Timeout waiting for response from backend server. Send status unknown; "
               "execution status unknown.")


@dataclass
class ErrorFault:
    """Answer matching requests with an error. ``execute`` decides whether the request is
    still carried out first (the "unknown status" case: the order may have been placed)."""
    path: str                      # REST path or WS-API method ("" = any)
    status: int
    code: int
    msg: str
    execute: bool
    count: int
    retry_after_s: int | None = None


@dataclass
class Faults:
    sim: "Simulator"
    errors: list[ErrorFault] = field(default_factory=list)
    depth_gaps: dict[str, int] = field(default_factory=dict)
    rest_delay_s: float = 0.0
    ws_api_delay_s: float = 0.0
    reorder_ws_api: int = 0
    drop_next_rest: int = 0
    stream_frames_to_drop: dict[str, int] = field(default_factory=dict)

    # -- configuration (the API tests use) ----------------------------------------------
    def fail_next(self, path: str = "", *, status: int = 503, code: int = -1007, msg: str = UNKNOWN_MSG,
                  execute: bool = False, count: int = 1, retry_after_s: int | None = None) -> None:
        """The next ``count`` requests to ``path`` (REST path such as ``/api/v3/order`` or
        WS-API method such as ``order.place``; "" = any) get this error."""
        self.errors.append(ErrorFault(path, status, code, msg, execute, count, retry_after_s))

    def unknown_status(self, path: str = "/api/v3/order", *, executed: bool = True, status: int = 503) -> None:
        """-1007 "execution status unknown"; the request is (``executed=True``) or is not carried out."""
        self.fail_next(path, status=status, code=-1007, msg=UNKNOWN_MSG, execute=executed)

    def rate_limit_next(self, path: str = "", *, retry_after_s: int = 1, count: int = 1) -> None:
        self.fail_next(path, status=429, code=-1003, count=count, retry_after_s=retry_after_s,
                       msg=f"Too much request weight used; current limit is "
                           f"{self.sim.limiter.limits.weight_per_minute} request weight per 1 MINUTE. "
                           f"Please use WebSocket Streams for live updates to avoid polling the API.")

    def ban(self, seconds: int, ip: str = "127.0.0.1") -> None:
        """An IP ban (HTTP 418) for ``seconds``."""
        self.sim.limiter.ban(ip, self.sim.clock.now_ms(), seconds * 1000)

    def skip_diff(self, symbol: str, count: int = 1) -> None:
        """The next ``count`` diffs of ``symbol@depth@100ms`` are not sent: a sequence gap."""
        self.depth_gaps[symbol] = self.depth_gaps.get(symbol, 0) + count

    def drop_stream_frames(self, stream: str, count: int = 1) -> None:
        self.stream_frames_to_drop[stream] = self.stream_frames_to_drop.get(stream, 0) + count

    def set_clock_skew(self, ms: int) -> None:
        """Shift the server clock (``/time``, timestamp checks, event times) by ``ms``."""
        self.sim.clock.skew_ms = ms

    def delay(self, rest_s: float = 0.0, ws_api_s: float = 0.0) -> None:
        self.rest_delay_s, self.ws_api_delay_s = rest_s, ws_api_s

    def reorder(self, count: int = 1) -> None:
        """The next ``count`` WS-API responses are each held back and sent after the following one."""
        self.reorder_ws_api += count

    def drop_connection(self, rest_requests: int = 0) -> None:
        """Close the next ``rest_requests`` REST connections without answering."""
        self.drop_next_rest += rest_requests

    async def disconnect(self, streams: bool = True, ws_api: bool = True) -> None:
        """Close the open market-stream and/or WS-API connections now."""
        if streams:
            await self.sim.hub.drop_all()
        if ws_api:
            await self.sim.ws_api.drop_all()

    def server_shutdown(self) -> None:
        """Send the ``serverShutdown`` notice on every market-stream and WS-API connection."""
        now = self.sim.clock.now_ms()
        self.sim.hub.shutdown_notice(now)
        self.sim.ws_api.shutdown_notice(now)

    def clear(self) -> None:
        self.errors.clear()
        self.depth_gaps.clear()
        self.stream_frames_to_drop.clear()
        self.rest_delay_s = self.ws_api_delay_s = 0.0
        self.reorder_ws_api = self.drop_next_rest = 0
        self.sim.clock.skew_ms = 0

    # -- hooks used by the transports ---------------------------------------------------
    def take_error(self, path: str) -> ErrorFault | None:
        for f in self.errors:
            if f.path in ("", path):
                f.count -= 1
                if f.count <= 0:
                    self.errors.remove(f)
                return f
        return None

    def take_depth_gap(self, symbol: str) -> bool:
        n = self.depth_gaps.get(symbol, 0)
        if n:
            self.depth_gaps[symbol] = n - 1
            return True
        return False

    def drop_stream_frame(self, stream: str) -> bool:
        n = self.stream_frames_to_drop.get(stream, 0)
        if n:
            self.stream_frames_to_drop[stream] = n - 1
            return True
        return False

    def take_drop_rest(self) -> bool:
        if self.drop_next_rest:
            self.drop_next_rest -= 1
            return True
        return False

    async def rest_delay(self) -> None:
        if self.rest_delay_s:
            await trio.sleep(self.rest_delay_s)

    def apply(self, spec: dict) -> None:
        """The admin endpoint: ``{"action": <method name>, ...keyword arguments}``."""
        action = spec.get("action")
        allowed = {"fail_next", "unknown_status", "rate_limit_next", "ban", "skip_diff", "drop_stream_frames",
                   "set_clock_skew", "delay", "reorder", "drop_connection", "server_shutdown", "clear"}
        if action not in allowed:
            raise ValueError(f"unknown fault action {action!r}; one of {sorted(allowed)}")
        kwargs = {k: v for k, v in spec.items() if k != "action"}
        getattr(self, action)(**kwargs)
