"""Historical klines: Binance's public data archive, REST backfill, and the local kline store.

``download(...)`` (``pyengine data download``) fills a ``KlineStore`` from the archive's monthly
then daily zip files (sha256-verified against their ``.CHECKSUM``), then backfills whatever the
archive lacks from REST ``/api/v3/klines`` within the request-weight limit.
"""
from pyengine.history.klines import INTERVAL_MS, Kline
from pyengine.history.store import KlineStore
from pyengine.history.download import DownloadReport, download

__all__ = ["INTERVAL_MS", "Kline", "KlineStore", "DownloadReport", "download"]
