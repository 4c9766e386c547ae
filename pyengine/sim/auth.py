"""API keys and Binance's three signature schemes (digest 3.2, 3.4, 3.5).

REST: the signature covers the raw query string and the raw body (each without its
``signature=`` pair) concatenated with no separator, exactly as received -- since 2026-01-15
that is the percent-encoded form. WebSocket API: the params sorted by name, ``name=value``
joined with ``&``, not percent-encoded.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import urllib.parse
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

HMAC, ED25519, RSA = "HMAC_SHA256", "ED25519", "RSA"
_ALNUM = string.ascii_letters + string.digits


@dataclass
class ApiKey:
    key: str
    kind: str
    account: str
    secret: str = ""                 # HMAC secret (never logged)
    public_key: object = None        # Ed25519 / RSA public key
    can_trade: bool = True
    private_pem: bytes = field(default=b"", repr=False)   # generated test keys only


def random_token(n: int = 64) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def new_hmac_key(account: str, key: str | None = None, secret: str | None = None) -> ApiKey:
    return ApiKey(key or random_token(), HMAC, account, secret=secret or random_token())


def new_ed25519_key(account: str, key: str | None = None, public_pem: bytes | None = None) -> ApiKey:
    """A key for a given public PEM, or a freshly generated pair (private PEM kept for tests)."""
    private_pem = b""
    if public_pem is None:
        priv = ed25519.Ed25519PrivateKey.generate()
        private_pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        pub = priv.public_key()
    else:
        pub = serialization.load_pem_public_key(public_pem)
        if not isinstance(pub, ed25519.Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
    return ApiKey(key or random_token(), ED25519, account, public_key=pub, private_pem=private_pem)


def new_rsa_key(account: str, public_pem: bytes, key: str | None = None) -> ApiKey:
    pub = serialization.load_pem_public_key(public_pem)
    if not isinstance(pub, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return ApiKey(key or random_token(), RSA, account, public_key=pub)


def strip_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """Remove every ``signature=`` pair from a raw urlencoded string; returns (rest, value)."""
    if not raw:
        return b"", None
    kept, sig = [], None
    for pair in raw.split(b"&"):
        if pair.startswith(b"signature="):
            sig = pair[len(b"signature="):]
        else:
            kept.append(pair)
    return b"&".join(kept), sig


def verify(key: ApiKey, payload: bytes, signature: str) -> bool:
    """Check ``signature`` (already percent-decoded) over ``payload`` for ``key``."""
    if key.kind == HMAC:
        want = hmac.new(key.secret.encode(), payload, hashlib.sha256).hexdigest()
        return hmac.compare_digest(want, signature.lower())
    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, TypeError):
        return False
    try:
        if key.kind == ED25519:
            key.public_key.verify(raw, payload)
        else:
            key.public_key.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def verify_rest(key: ApiKey, raw_query: bytes, raw_body: bytes, lenient: bool = False) -> bool:
    """Verify a REST request from its raw query string and raw form body."""
    q, sig_q = strip_signature(raw_query)
    b, sig_b = strip_signature(raw_body)
    sig_raw = sig_q if sig_q is not None else sig_b
    if sig_raw is None:
        return False
    signature = urllib.parse.unquote(sig_raw.decode("latin-1"))
    payload = q + b
    if verify(key, payload, signature):
        return True
    if lenient:
        decoded = urllib.parse.unquote_to_bytes(payload)
        return decoded != payload and verify(key, decoded, signature)
    return False


def ws_value(v) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (list, dict)):
        import json
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def ws_payload(params: dict) -> bytes:
    """The WebSocket API signature payload: sorted ``name=value`` pairs, no encoding."""
    return "&".join(f"{k}={ws_value(v)}" for k, v in sorted(params.items())
                    if k != "signature").encode("utf-8")


def sign_hmac(secret: str, payload: bytes) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def sign_ed25519(private_pem: bytes, payload: bytes) -> str:
    priv = serialization.load_pem_private_key(private_pem, password=None)
    return base64.b64encode(priv.sign(payload)).decode()
