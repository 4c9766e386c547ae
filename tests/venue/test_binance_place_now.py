"""Orders written without yielding (``BinanceClient.place_now`` over ``DirectStream``): the
frame bytes, the backlog when the send buffer is full, and placement against the simulator."""
from __future__ import annotations

import socket

import pytest
import trio
import trio.testing
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from pyengine.venue.binance.direct import QUEUED, WRITTEN, DirectStream, text_frame
from pyengine.venue.binance.errors import FilterError
from pyengine.venue.binance.orders import Order
from binance_sim_helpers import next_event, sim_and_client

SYM = "BTCUSDT"


@pytest.mark.parametrize("text", ["", "a", "x" * 125, "x" * 126, "x" * 127, "é" * 63,
                                  "x" * 65535, "x" * 65536, "ü€" * 20_000])
def test_text_frame_is_what_a_server_reads(text):
    server = Connection(ConnectionType.SERVER)
    frames = [text_frame(text), text_frame(text)]
    assert frames[0] != frames[1], "every frame has its own masking key"
    for f in frames:
        server.receive_data(f)
    got = list(server.events())
    assert [type(e) for e in got] == [TextMessage, TextMessage]
    assert all(e.data == text and e.frame_finished and e.message_finished for e in got)


def _pair(sndbuf: int = 4096) -> tuple[DirectStream, socket.socket]:
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.setblocking(False)
    return DirectStream(trio.SocketStream(trio.socket.from_stdlib_socket(a))), b


async def test_write_now_writes_at_once_when_there_is_room():
    direct, peer = _pair(1 << 16)
    assert direct.write_now(b"hello") == WRITTEN
    assert peer.recv(100) == b"hello"
    await direct.aclose()
    peer.close()


async def test_full_send_buffer_queues_and_keeps_the_byte_order():
    direct, peer = _pair()
    peer.setblocking(False)
    chunk = bytes(range(256)) * 64
    sent = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(direct.run)
        how = WRITTEN
        while how == WRITTEN:                 # fill the kernel buffers until a write falls short
            how = direct.write_now(chunk)
            sent += chunk
        assert how == QUEUED and not direct.ready()
        # an async write after it (a pong, a request) goes out after the backlog
        nursery.start_soon(direct.send_all, b"AFTER")
        received = bytearray()
        with trio.fail_after(10):
            while len(received) < len(sent) + 5:
                await trio.lowlevel.wait_readable(peer)
                received += peer.recv(1 << 16)
            await direct.wait_drained()
            await trio.testing.wait_all_tasks_blocked()     # the async writer is done
        assert bytes(received) == bytes(sent) + b"AFTER"
        assert direct.ready() and direct.queued == 1
        nursery.cancel_scope.cancel()
    await direct.aclose()
    peer.close()


async def test_closed_stream_refuses():
    direct, peer = _pair()
    await direct.aclose()
    peer.close()
    assert not direct.ready()
    assert direct.write_now(b"x") != WRITTEN


@pytest.mark.parametrize("kind", ["hmac", "ed25519"])
async def test_place_now_then_the_answer(kind):
    async with sim_and_client(kind) as (sim, client):
        d = await client.rest.request("GET", "/api/v3/depth", {"symbol": SYM, "limit": 5})
        bid = client.rules[SYM].spec.price_to_int(d["bids"][0][0])
        o = Order(SYM, "BUY", "LIMIT", quantity=1_000, price=bid - 50_000, time_in_force="GTC",
                  client_order_id=f"now-{kind}")
        f = client.place_now(o)
        assert f is not None and f.sent_ns > 0        # written before place_now returned
        placed = await client.place(o, sent=f)
        assert placed.via == "ws" and placed.sent_ns == f.sent_ns and placed.ack_ns > f.sent_ns
        assert placed.result["status"] == "NEW" and placed.result["clientOrderId"] == f"now-{kind}"
        ev = await next_event(client, lambda e: e.get("e") == "executionReport")
        assert (ev["X"], ev["c"]) == ("NEW", f"now-{kind}")
        assert client.open.count(SYM)[0] == 1
        assert not client.ws._pending


async def test_place_now_checks_filters_locally_and_sends_nothing():
    async with sim_and_client() as (sim, client):
        bad = Order(SYM, "BUY", "LIMIT", quantity=1, price=1, time_in_force="GTC",
                    client_order_id="bad-lot")
        with pytest.raises(FilterError):
            client.place_now(bad)
        assert await client.order_status(SYM, "bad-lot") is None


async def test_place_now_without_the_ws_api_leaves_it_to_place():
    async with sim_and_client(use_ws_api=False) as (sim, client):
        o = Order(SYM, "BUY", "MARKET", quantity=1_000, client_order_id="via-rest")
        assert client.place_now(o) is None
        placed = await client.place(o)
        assert placed.via == "rest" and placed.result["status"] == "FILLED"
