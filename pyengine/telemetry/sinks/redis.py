"""Redis sink (ElastiCache): latest value of every series in a hash, time series in capped
streams (``XADD MAXLEN ~``), and each rollup published on a pub/sub channel for
dashboards. Keys share one hash tag so that cluster mode keeps them in one slot."""
from __future__ import annotations

import redis
from redis.cluster import RedisCluster

from pyengine.telemetry.encode import dumps
from pyengine.telemetry.metrics import Point


def series_id(p: Point) -> str:
    if not p.tags:
        return p.measurement
    return p.measurement + "{" + ",".join(f"{k}={p.tags[k]}" for k in sorted(p.tags)) + "}"


class RedisSink:
    name = "redis"
    max_batch = 2000

    def __init__(self, url: str, *, engine_id: str = "paper", username: str | None = None,
                 password: str | None = None, cluster: bool = False, ssl_ca_certs: str | None = None,
                 stream_maxlen: int = 100_000, timeout_s: float = 5.0) -> None:
        kwargs: dict[str, object] = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
        if username:
            kwargs["username"] = username
        if password:
            kwargs["password"] = password
        if ssl_ca_certs:
            kwargs["ssl_ca_certs"] = ssl_ca_certs    # TLS itself is chosen by a rediss:// URL
        self.client = (RedisCluster.from_url(url, **kwargs) if cluster
                       else redis.Redis.from_url(url, **kwargs))
        prefix = f"pyengine:{{{engine_id}}}"
        self.latest_key = f"{prefix}:latest"          # hash: series id -> JSON fields
        self.stream_prefix = f"{prefix}:ts:"          # stream per measurement
        self.channel = f"{prefix}:updates"            # pub/sub: one JSON message per batch
        self.stream_maxlen = stream_maxlen

    def write(self, points: list[Point]) -> None:
        pipe = self.client.pipeline(transaction=False)
        latest: dict[str, bytes] = {}
        for p in points:
            encoded = dumps({"ts_ns": p.ts_ns, **p.fields})
            latest[series_id(p)] = encoded
            entry = {"ts_ns": p.ts_ns, "tags": dumps(p.tags), **{
                k: (v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else dumps(v))
                for k, v in p.fields.items()}}
            pipe.xadd(self.stream_prefix + p.measurement, entry,
                      maxlen=self.stream_maxlen, approximate=True)
        if not latest:
            return
        pipe.hset(self.latest_key, mapping=latest)
        pipe.execute()
        # PUBLISH cannot be pipelined in cluster mode; one call per batch is cheap anyway
        self.client.publish(self.channel, dumps(
            [{"m": p.measurement, "tags": p.tags, "fields": p.fields, "ts_ns": p.ts_ns} for p in points]))

    def close(self) -> None:
        self.client.close()
