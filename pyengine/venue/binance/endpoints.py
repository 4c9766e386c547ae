"""Base URLs of the Binance spot environments (digest section 1) and of a local simulator."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoints:
    name: str
    rest: str        # e.g. https://api.binance.com (paths /api/v3/... are appended)
    ws_api: str      # full URL of the WebSocket API, ending in /ws-api/v3
    streams: str     # market-stream base; /stream and /ws are appended

    def __post_init__(self) -> None:
        for field in ("rest", "ws_api", "streams"):
            url = getattr(self, field)
            if url.endswith("/"):
                raise ValueError(f"Endpoints.{field}: drop the trailing '/' from {url!r}")

    @classmethod
    def local(cls, rest: str, ws_api: str, streams: str, name: str = "local") -> "Endpoints":
        """A simulator (or any compatible server) given its three base URLs."""
        return cls(name, rest, ws_api, streams)


PRODUCTION = Endpoints("production", "https://api.binance.com",
                       "wss://ws-api.binance.com:443/ws-api/v3", "wss://stream.binance.com:9443")
TESTNET = Endpoints("testnet", "https://testnet.binance.vision",
                    "wss://ws-api.testnet.binance.vision/ws-api/v3", "wss://stream.testnet.binance.vision")
DEMO = Endpoints("demo", "https://demo-api.binance.com",
                 "wss://demo-ws-api.binance.com/ws-api/v3", "wss://demo-stream.binance.com")

BY_NAME = {e.name: e for e in (PRODUCTION, TESTNET, DEMO)}


def by_name(name: str) -> Endpoints:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown Binance environment {name!r}; expected one of "
                         f"{', '.join(sorted(BY_NAME))} or Endpoints.local(...)") from None
