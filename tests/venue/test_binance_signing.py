"""Digest section 3: the official signature test vectors, and the key types."""
from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives import hashes

from pyengine.venue.binance.signing import (Ed25519Signer, HmacSigner, encode_value, rest_payload,
                                            signer_from_env, signer_from_pem, ws_payload)

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"


def test_rest_vector():
    params = [("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
              ("quantity", "1"), ("price", "0.1"), ("recvWindow", "5000"), ("timestamp", "1499827319559")]
    payload = rest_payload(params)
    assert payload == ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
                       "&recvWindow=5000&timestamp=1499827319559")
    assert HmacSigner(API_KEY, SECRET).sign(payload) == \
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_rest_vector_non_ascii_is_signed_percent_encoded():
    params = [("symbol", "１２３４５６"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
              ("quantity", "1"), ("price", "0.1"), ("recvWindow", "5000"), ("timestamp", "1499827319559")]
    payload = rest_payload(params)
    assert payload.startswith("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&")
    assert HmacSigner(API_KEY, SECRET).sign(payload) == \
        "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"


def test_ws_api_vector_sorted_unencoded():
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100,
              "timestamp": 1645423376532, "apiKey": API_KEY, "signature": "ignored"}
    payload = ws_payload(params)
    assert payload == ("apiKey=" + API_KEY + "&price=52000.00&quantity=0.01000000&recvWindow=100"
                       "&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT")
    assert HmacSigner(API_KEY, SECRET).sign(payload) == \
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"


def test_ws_payload_keeps_non_ascii_raw():
    assert ws_payload({"symbol": "１２", "b": True}) == "b=true&symbol=１２"


def test_encode_value():
    assert encode_value("BTCUSDT") == "BTCUSDT"
    assert encode_value('["BTCUSDT","ETHUSDT"]') == "%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D"
    assert encode_value("a+b/c=") == "a%2Bb%2Fc%3D"
    assert encode_value("x y") == "x%20y"


def test_ed25519_signature_verifies_and_is_base64_of_64_bytes():
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    signer = signer_from_pem("k", pem)
    assert isinstance(signer, Ed25519Signer) and signer.can_logon
    payload = "apiKey=k&timestamp=1649729878532"
    sig = signer.sign(payload)
    assert len(sig) == 88
    key.public_key().verify(base64.b64decode(sig), payload.encode())   # raises if wrong
    # RFC 8032 test 1: the empty message under the all-zero-derived test key
    rfc_key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    assert base64.b64decode(Ed25519Signer("k", rfc_key).sign("")).hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


def test_rsa_signature_verifies():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    signer = signer_from_pem("k", pem)
    assert signer.kind == "RSA" and not signer.can_logon
    sig = signer.sign("symbol=BTCUSDT")
    key.public_key().verify(base64.b64decode(sig), b"symbol=BTCUSDT", padding.PKCS1v15(), hashes.SHA256())


def test_signer_from_env_errors_name_the_variable(tmp_path):
    with pytest.raises(ValueError, match="BINANCE_API_KEY"):
        signer_from_env(environ={})
    with pytest.raises(ValueError, match="BINANCE_API_SECRET"):
        signer_from_env(environ={"BINANCE_API_KEY": "k"})
    with pytest.raises(ValueError, match="cannot read"):
        signer_from_env(environ={"BINANCE_API_KEY": "k", "BINANCE_PRIVATE_KEY_FILE": str(tmp_path / "nope")})
    s = signer_from_env(environ={"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": SECRET})
    assert s.kind == "HMAC" and SECRET not in repr(s)
