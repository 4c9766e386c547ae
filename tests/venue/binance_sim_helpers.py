"""Helpers for the connector's tests against the simulator (pyengine.sim)."""
from __future__ import annotations

import contextlib
from typing import AsyncIterator

import trio

from pyengine.sim.testing import running_sim
from pyengine.venue.binance.client import BinanceClient, open_client
from pyengine.venue.binance.endpoints import Endpoints
from pyengine.venue.binance.signing import HmacSigner, signer_from_pem


def endpoints_of(sim) -> Endpoints:
    return Endpoints.local(sim.rest_url, sim.ws_api_url, sim.stream_url, "sim")


def signer_of(sim, kind: str):
    if kind == "hmac":
        return HmacSigner(sim.hmac_key.key, sim.hmac_key.secret)
    return signer_from_pem(sim.ed25519_key.key, sim.ed25519_key.private_pem)


@contextlib.asynccontextmanager
async def sim_and_client(kind: str = "hmac", sim_options: dict | None = None,
                         **client_options) -> AsyncIterator[tuple[object, BinanceClient]]:
    """A manual-clock simulator with 1 s of market data replayed, and a client on it."""
    async with running_sim(speed="manual", **(sim_options or {})) as sim:
        await sim.advance(1_000)
        client_options.setdefault("user_data", True)
        async with open_client(endpoints_of(sim), signer_of(sim, kind), **client_options) as client:
            yield sim, client


async def advance_until(sim, predicate, step_ms: int = 250, max_steps: int = 200) -> None:
    """Replay market time in steps until ``predicate()`` holds (the simulator's clock is manual)."""
    for _ in range(max_steps):
        if predicate():
            return
        await sim.advance(step_ms)
        await trio.sleep(0.01)        # let the client's tasks read what was sent
    raise AssertionError("condition not reached after replaying "
                         f"{step_ms * max_steps / 1000:.0f} s of market data")


async def next_event(client, predicate, timeout: float = 5.0) -> dict:
    with trio.fail_after(timeout):
        async for ev in client.events:
            if predicate(ev):
                return ev
    raise AssertionError("event stream ended")
