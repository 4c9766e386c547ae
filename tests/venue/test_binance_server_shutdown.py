"""``serverShutdown`` (digest 11.1, 12.1) makes both connections reconnect at once. The
simulator does not emit it, so the frames are fed to the readers directly."""
from __future__ import annotations

import pytest

from pyengine import bundled
from pyengine.venue.binance.clock import ServerClock
from pyengine.venue.binance.connection import Reconnect
from pyengine.venue.binance.endpoints import TESTNET
from pyengine.venue.binance.frames import FrameBuilder
from pyengine.venue.binance.limits import RateLimiter
from pyengine.venue.binance.market import MarketData
from pyengine.venue.binance.rules import ExchangeRules
from pyengine.venue.binance.wsapi import WsApi

RULES = ExchangeRules(bundled.exchange_info())


class Frames:
    """Stands in for a trio-websocket connection: hands out the given frames, in order."""

    def __init__(self, *frames: str):
        self.frames = list(frames)

    async def get_message(self) -> str:
        return self.frames.pop(0)


@pytest.mark.parametrize("frame", [b'{"e":"serverShutdown","E":1770123456789}',
                                   b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}'])
def test_market_stream_reconnects_on_server_shutdown(frame):
    md = MarketData(TESTNET, rest=None, specs=[RULES["BTCUSDT"].spec])
    md._process(b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,'
                b'"p":"1.00","q":"1.000000","T":1,"m":true,"M":true}}')
    with pytest.raises(Reconnect, match="serverShutdown"):
        md._process(frame)


async def test_ws_api_reconnects_on_server_shutdown_after_delivering_events():
    clock = ServerClock()
    ws = WsApi(TESTNET, FrameBuilder(RULES, None), clock=clock, limiter=RateLimiter(now_ms=clock.now_ms))
    fake = Frames('{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1,"a":"BTC","d":"1.00000000","T":1}}',
                  '{"event":{"e":"serverShutdown","E":2}}')
    with pytest.raises(Reconnect, match="serverShutdown"):
        await ws._reader(fake)
    assert ws.events.receive_nowait()["e"] == "balanceUpdate"
