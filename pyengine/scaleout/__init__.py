"""Scale-out over Redis Streams: collectors publish normalised market data, engines consume it.

``pyengine collect`` runs a ``Collector``; an engine reads with ``consume(...)`` (trio) or
``Consumer`` (blocking)::

    async for item in consume("rediss://cache:6379/0", ["BTCUSDT"], ["depth", "trade"]):
        if isinstance(item, Gap):          # depth gap: re-synchronise the book
            ...
        else:                              # Event: item.msg is the exchange's frame, as received
            feed.on_message(item.msg)

See ``streams`` for the data layout, ``collector`` for sharding, ``consumer`` for merging,
``feed`` for the engine's market data from the streams (``pyengine run --feed redis://...``).
"""
from pyengine.scaleout.collector import Collector
from pyengine.scaleout.consumer import Consumer, Event, Gap, consume
from pyengine.scaleout.sources import RecordingSource

__all__ = ["Collector", "Consumer", "Event", "Gap", "RecordingSource", "consume"]
