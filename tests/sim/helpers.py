"""Signed-request helpers for the simulator tests (independent of the simulator's code)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse

from cryptography.hazmat.primitives import serialization


def ts() -> int:
    return time.time_ns() // 1_000_000


def hmac_query(secret: str, params: dict) -> str:
    """Percent-encoded query with ``timestamp`` and an HMAC ``signature`` appended."""
    params = {**params}
    params.setdefault("timestamp", ts())
    q = urllib.parse.urlencode(params)
    sig = hmac.new(secret.encode(), q.encode(), hashlib.sha256).hexdigest()
    return f"{q}&signature={sig}"


def ed25519_sign(private_pem: bytes, payload: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return base64.b64encode(key.sign(payload)).decode()


def ws_payload(params: dict) -> bytes:
    def val(v):
        return "true" if v is True else "false" if v is False else str(v)
    return "&".join(f"{k}={val(v)}" for k, v in sorted(params.items()) if k != "signature").encode()


async def signed(client, method: str, path: str, key, params: dict, in_body: bool = False):
    """Send a signed REST request with the HMAC test key (query string or form body)."""
    q = hmac_query(key.secret, params)
    headers = {"X-MBX-APIKEY": key.key}
    if in_body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await client.request(method, path, content=q.encode(), headers=headers)
    return await client.request(method, f"{path}?{q}", headers=headers)
