"""Request signing (digest section 3).

REST: the signed payload is the percent-encoded query string (then the body), exactly the bytes
sent. WS API: the params sorted by name, joined ``name=value`` with ``&``, *not* encoded.
Keys: HMAC-SHA256 (hex), Ed25519 and RSA PKCS#1 v1.5 SHA-256 (base64). Ed25519 is the only
key type ``session.logon`` accepts.

Secrets live only inside the signer objects; their ``repr`` never shows them.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import Iterable, Mapping
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

_PLAIN = re.compile(r"[A-Za-z0-9_.\-~]*\Z")


def encode_value(value: str) -> str:
    """Percent-encode one query value (RFC 3986 unreserved characters stay as they are;
    non-ASCII becomes its UTF-8 ``%XX`` bytes)."""
    return value if _PLAIN.match(value) else quote(value, safe="-_.~")


def rest_payload(params: Iterable[tuple[str, str]]) -> str:
    """``name=value&...`` in the given order, percent-encoded: what is sent and signed."""
    return "&".join(f"{k}={encode_value(v)}" for k, v in params)


def ws_payload(params: Mapping[str, object]) -> str:
    """WS API signature payload: all params but ``signature``, sorted by name, unencoded."""
    return "&".join(f"{k}={_ws_value(params[k])}" for k in sorted(params) if k != "signature")


def _ws_value(v: object) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


class Signer:
    """Signs payloads for one API key."""
    kind = ""
    can_logon = False   # session.logon accepts Ed25519 keys only

    def __init__(self, api_key: str):
        if not api_key:
            raise ValueError("API key is empty")
        self.api_key = api_key

    def sign(self, payload: str) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} key={self.api_key[:6]}…>"


class HmacSigner(Signer):
    kind = "HMAC"

    def __init__(self, api_key: str, secret: str):
        super().__init__(api_key)
        if not secret:
            raise ValueError("HMAC secret is empty")
        # The keyed inner/outer state is computed once; each signature copies it.
        self._base = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def sign(self, payload: str) -> str:
        h = self._base.copy()
        h.update(payload.encode())
        return h.hexdigest()


class Ed25519Signer(Signer):
    kind = "Ed25519"
    can_logon = True

    def __init__(self, api_key: str, private_key: ed25519.Ed25519PrivateKey):
        super().__init__(api_key)
        self._key = private_key

    def sign(self, payload: str) -> str:
        return base64.b64encode(self._key.sign(payload.encode())).decode()


class RsaSigner(Signer):
    kind = "RSA"

    def __init__(self, api_key: str, private_key: rsa.RSAPrivateKey):
        super().__init__(api_key)
        self._key = private_key

    def sign(self, payload: str) -> str:
        sig = self._key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(sig).decode()


def signer_from_pem(api_key: str, pem: bytes, password: bytes | None = None) -> Signer:
    """An Ed25519 or RSA signer from a PKCS#8 PEM private key (type detected from the key)."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot read the private key PEM: {exc}") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Signer(api_key, key)
    if isinstance(key, rsa.RSAPrivateKey):
        return RsaSigner(api_key, key)
    raise ValueError(f"unsupported private key type {type(key).__name__}: use Ed25519, RSA or an HMAC secret")


def signer_from_env(prefix: str = "BINANCE", environ: Mapping[str, str] = os.environ) -> Signer:
    """``{prefix}_API_KEY`` plus either ``{prefix}_API_SECRET`` (HMAC) or
    ``{prefix}_PRIVATE_KEY_FILE`` (Ed25519/RSA PEM, optional ``{prefix}_PRIVATE_KEY_PASSWORD``)."""
    key = environ.get(f"{prefix}_API_KEY", "")
    if not key:
        raise ValueError(f"environment variable {prefix}_API_KEY is not set")
    secret = environ.get(f"{prefix}_API_SECRET", "")
    pem_file = environ.get(f"{prefix}_PRIVATE_KEY_FILE", "")
    if secret and pem_file:
        raise ValueError(f"set only one of {prefix}_API_SECRET and {prefix}_PRIVATE_KEY_FILE")
    if secret:
        return HmacSigner(key, secret)
    if not pem_file:
        raise ValueError(f"set {prefix}_API_SECRET (HMAC key) or {prefix}_PRIVATE_KEY_FILE (Ed25519/RSA)")
    try:
        pem = open(pem_file, "rb").read()
    except OSError as exc:
        raise ValueError(f"{prefix}_PRIVATE_KEY_FILE: cannot read {pem_file}: {exc.strerror}") from None
    password = environ.get(f"{prefix}_PRIVATE_KEY_PASSWORD")
    return signer_from_pem(key, pem, password.encode() if password else None)
