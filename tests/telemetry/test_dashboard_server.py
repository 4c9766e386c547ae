"""The dashboard's HTTP + WebSocket server: static app, live deltas, auth rules."""
from __future__ import annotations

from decimal import Decimal

import httpx
import orjson
import pytest
import trio
from trio_websocket import HandshakeError, open_websocket_url

from pyengine.errors import UserError
from pyengine.telemetry.dashboard.server import STATIC_DIR, DashboardServer
from pyengine.telemetry.dashboard.state import DashboardState
from pyengine.telemetry.metrics import Registry

from .fake_engine import FakeControls

TOKEN = "dash-token-0123456789"


async def start(nursery, token=TOKEN, host="127.0.0.1", controls=None):
    state, registry = DashboardState(), Registry()
    server = DashboardServer(state, registry, controls or FakeControls(), host=host, port=0,
                             token=token, push_interval_s=0.02)
    await nursery.start(server.serve)
    return server


async def test_static_app_and_metrics_are_served_without_secrets():
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        server.registry.counter("orders_sent").inc(2)
        async with httpx.AsyncClient(base_url=server.url) as client:
            page = await client.get("/")
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert '<div id="app">' in page.text and TOKEN not in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
            asset = next(p for p in (STATIC_DIR / "assets").iterdir() if p.suffix == ".js")
            js = await client.get(f"/assets/{asset.name}")
            assert js.status_code == 200 and "javascript" in js.headers["content-type"]
            assert TOKEN not in js.text
            metrics = await client.get("/metrics")
            assert "pyengine_orders_sent_total 2" in metrics.text
            assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert (await client.get("/../../pyproject.toml")).status_code == 404
            assert (await client.get("/%2e%2e/server.py")).status_code == 404
        nursery.cancel_scope.cancel()


async def test_websocket_pushes_snapshot_then_deltas():
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        state = server.state
        state.set_pnl(1_723_161_254_000, 10_000.0, 0.0, 0.0)
        state.add_price("BTCUSDT", 1_723_161_254_000, 61837.63)
        async with open_websocket_url(f"ws://127.0.0.1:{server.port}/ws") as ws:
            first = orjson.loads(await ws.get_message())
            assert first["meta"]["title"] == "pyengine"
            assert first["series"]["equity"] == [{"time": 1_723_161_254, "value": 10_000.0}]
            assert first["series"]["price:BTCUSDT"][0]["value"] == 61837.63
            state.set_pnl(1_723_161_255_000, 10_012.5, 10.0, 2.5)
            # the engine's Decimals (prices at the edges) are displayed as numbers
            state.set_positions([{"symbol": "BTCUSDT", "qty": Decimal("0.10000"), "avg_price": Decimal("61800.00"),
                                  "mark": 61825.0, "unrealised": 2.5}])
            second = orjson.loads(await ws.get_message())
            assert "meta" not in second
            assert second["series"] == {"equity": [{"time": 1_723_161_255, "value": 10_012.5}],
                                        "pnl": [{"time": 1_723_161_255, "value": 12.5}]}
            assert second["positions"][0] == {"symbol": "BTCUSDT", "qty": 0.1, "avg_price": 61800.0,
                                              "mark": 61825.0, "unrealised": 2.5}
            assert second["summary"]["pnl"] == 12.5
            assert server.clients == 1
        nursery.cancel_scope.cancel()


async def test_halt_needs_the_token():
    controls = FakeControls()
    async with trio.open_nursery() as nursery:
        server = await start(nursery, controls=controls)
        async with httpx.AsyncClient(base_url=server.url) as client:
            r = await client.post("/api/halt", json={"reason": "x"})
            assert r.status_code == 401 and not controls.halted
            r = await client.post("/api/halt", json={"reason": "x"}, headers={"Authorization": "Bearer nope"})
            assert r.status_code == 401 and not controls.halted
            assert (await client.get("/api/halt")).status_code == 405
            r = await client.post("/api/halt", json={"reason": "test halt"},
                                  headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200 and r.json() == {"ok": True, "result": "halted: test halt"}
            assert controls.halted and controls.halt_reasons == ["test halt"]
            r = await client.post("/api/resume", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200 and not controls.halted
        nursery.cancel_scope.cancel()


async def test_without_a_token_halt_is_disabled():
    controls = FakeControls()
    async with trio.open_nursery() as nursery:
        server = await start(nursery, token=None, controls=controls)
        async with httpx.AsyncClient(base_url=server.url) as client:
            r = await client.post("/api/halt", json={}, headers={"Authorization": "Bearer anything"})
            assert r.status_code == 403 and "PYENGINE_DASHBOARD_TOKEN" in r.json()["error"]
            assert (await client.get("/api/state")).status_code == 200     # loopback reads are open
        nursery.cancel_scope.cancel()
    assert not controls.halted


def test_remote_bind_requires_a_token():
    with pytest.raises(UserError, match="token is required for any non-loopback bind"):
        DashboardServer(DashboardState(), Registry(), None, host="0.0.0.0", token=None)


async def test_remote_bind_protects_data_endpoints():
    async with trio.open_nursery() as nursery:
        # bound to all interfaces, reached over loopback
        server = await start(nursery, host="0.0.0.0")
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/api/state")).status_code == 401
            assert (await client.get("/metrics")).status_code == 401
            assert (await client.get(f"/api/state?token={TOKEN}")).status_code == 200
            assert (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200
            assert (await client.get("/")).status_code == 200      # the app itself holds no data
        with pytest.raises(HandshakeError):
            async with open_websocket_url(f"ws://127.0.0.1:{server.port}/ws") as ws:
                await ws.get_message()
        async with open_websocket_url(f"ws://127.0.0.1:{server.port}/ws?token={TOKEN}") as ws:
            assert orjson.loads(await ws.get_message()) == {"meta": {"title": "pyengine", "mode": "paper"}}
        nursery.cancel_scope.cancel()


async def test_dns_rebinding_and_cross_origin_websocket_are_refused():
    async with trio.open_nursery() as nursery:
        server = await start(nursery)
        async with httpx.AsyncClient(base_url=server.url) as client:
            r = await client.get("/api/state", headers={"Host": "evil.example:8765"})
            assert r.status_code == 403
        with pytest.raises(HandshakeError):
            async with open_websocket_url(f"ws://127.0.0.1:{server.port}/ws",
                                          extra_headers=[("Origin", "http://evil.example")]) as ws:
                await ws.get_message()
        nursery.cancel_scope.cancel()


async def test_bad_requests_and_failing_controls_do_not_kill_the_server():
    class Broken(FakeControls):
        def halt(self, reason):
            raise RuntimeError("risk manager unavailable")

    async with trio.open_nursery() as nursery:
        server = await start(nursery, controls=Broken())
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        await stream.send_all(b"POST /api/halt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n")
        reply = await stream.receive_some(4096)
        assert reply.startswith(b"HTTP/1.1 400") and b"bad Content-Length" in reply
        await stream.aclose()
        async with httpx.AsyncClient(base_url=server.url) as client:
            r = await client.post("/api/halt", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 500 and "risk manager unavailable" in r.json()["error"]
            r = await client.post("/api/halt", content=b"[1]", headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 400 and "JSON object" in r.json()["error"]
            assert (await client.get("/api/state")).status_code == 200     # still serving
        nursery.cancel_scope.cancel()
