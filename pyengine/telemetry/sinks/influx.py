"""InfluxDB line protocol over HTTP: v2 ``/api/v2/write`` (Timestream for InfluxDB, InfluxDB
2.x) with a token, or v1 ``/write?db=`` with optional user/password."""
from __future__ import annotations

import decimal

import httpx

from pyengine.telemetry.metrics import Point


def _escape_key(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_measurement(s: str) -> str:
    return s.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _field(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, (float, decimal.Decimal)):
        return repr(float(value))
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def line_protocol(points: list[Point]) -> bytes:
    lines = []
    for p in points:
        if not p.fields:
            continue
        head = _escape_measurement(p.measurement)
        for k in sorted(p.tags):
            if p.tags[k] != "":
                head += f",{_escape_key(k)}={_escape_key(p.tags[k])}"
        fields = ",".join(f"{_escape_key(k)}={_field(v)}" for k, v in p.fields.items())
        lines.append(f"{head} {fields} {p.ts_ns}")
    return ("\n".join(lines) + "\n").encode()


class InfluxSink:
    name = "influx"
    max_batch = 5000

    def __init__(self, url: str, *, version: int = 2, org: str = "", bucket: str = "",
                 token: str | None = None, database: str = "", username: str | None = None,
                 password: str | None = None, timeout_s: float = 5.0, verify: bool | str = True) -> None:
        base = url.rstrip("/")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        auth = None
        if version == 2:
            if not (org and bucket):
                raise ValueError("InfluxDB v2 needs org and bucket")
            self._url, self._params = f"{base}/api/v2/write", {"org": org, "bucket": bucket, "precision": "ns"}
            if token:
                headers["Authorization"] = f"Token {token}"
        elif version == 1:
            if not database:
                raise ValueError("InfluxDB v1 needs database")
            self._url, self._params = f"{base}/write", {"db": database, "precision": "n"}
            if username:
                auth = (username, password or "")
        else:
            raise ValueError(f"InfluxDB version must be 1 or 2, got {version}")
        self._client = httpx.Client(headers=headers, auth=auth, timeout=timeout_s, verify=verify)

    def write(self, points: list[Point]) -> None:
        body = line_protocol(points)
        response = self._client.post(self._url, params=self._params, content=body)
        if response.status_code >= 300:
            raise RuntimeError(f"InfluxDB write answered HTTP {response.status_code}: {response.text[:200]}")

    def close(self) -> None:
        self._client.close()
