"""WS API frames: the fast order.place builder agrees with the generic, spec-literal path."""
from __future__ import annotations

import base64

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from pyengine import bundled
from pyengine.venue.binance.frames import FrameBuilder
from pyengine.venue.binance.orders import Order
from pyengine.venue.binance.rules import ExchangeRules
from pyengine.venue.binance.signing import Ed25519Signer, HmacSigner, ws_payload

RULES = ExchangeRules(bundled.exchange_info())
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"

ORDERS = [
    Order("BTCUSDT", "SELL", "LIMIT", quantity=10_000, price=5_200_000, time_in_force="GTC",
          client_order_id="pe-abc_1"),
    Order("BTCUSDT", "BUY", "MARKET", quote_qty=123_45, client_order_id="x", resp_type="FULL"),
    Order("BTCUSDT", "SELL", "STOP_LOSS_LIMIT", quantity=1_000, price=2_900_000, stop_price=2_950_050,
          time_in_force="GTC", iceberg_qty=100, client_order_id="s", strategy_id=7, stp_mode="NONE"),
]


@pytest.mark.parametrize("order", ORDERS)
def test_hmac_order_place_frame_is_signed_per_digest(order):
    fb = FrameBuilder(RULES, HmacSigner(KEY, SECRET), recv_window=100)
    frame = orjson.loads(fb.order_place(17, order, 1645423376532))
    assert frame["id"] == 17 and frame["method"] == "order.place"
    params = frame["params"]
    expected = dict(RULES["BTCUSDT"].params(order))
    assert {k: v for k, v in params.items() if k not in ("apiKey", "signature", "timestamp", "recvWindow")} \
        == {k: (int(v) if k == "strategyId" else v) for k, v in expected.items()}
    assert params["timestamp"] == 1645423376532 and params["recvWindow"] == 100 and params["apiKey"] == KEY
    assert params["signature"] == HmacSigner(KEY, SECRET).sign(ws_payload(params))


def test_digest_ws_vector_through_the_builder():
    # digest 3.4: price 52000.00, quantity 0.01000000 -> needs a 2-decimal price and 8-decimal qty
    info = bundled.exchange_info()
    entry = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    entry["filters"] = [dict(f, stepSize="0.00000001") if f["filterType"] == "LOT_SIZE" else f
                        for f in entry["filters"]]
    fb = FrameBuilder(ExchangeRules(info), HmacSigner(KEY, SECRET), recv_window=100)
    o = Order("BTCUSDT", "SELL", "LIMIT", quantity=1_000_000, price=5_200_000, time_in_force="GTC")
    params = orjson.loads(fb.order_place(1, o, 1645423376532))["params"]
    assert params["price"] == "52000.00" and params["quantity"] == "0.01000000"
    assert params["signature"] == "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"


def test_session_frames_carry_no_signature_and_logon_verifies():
    key = ed25519.Ed25519PrivateKey.generate()
    fb = FrameBuilder(RULES, Ed25519Signer("edkey", key))
    logon = orjson.loads(fb.logon(1, 1649729878532))
    assert logon["method"] == "session.logon"
    p = logon["params"]
    key.public_key().verify(base64.b64decode(p["signature"]), ws_payload(p).encode())
    fb.session = True
    params = orjson.loads(fb.order_place(2, ORDERS[0], 1649729878999))["params"]
    assert "signature" not in params and "apiKey" not in params and params["timestamp"] == 1649729878999
    generic = orjson.loads(fb.request(3, "order.status", {"symbol": "BTCUSDT", "orderId": 5},
                                      signed=True, timestamp=1))
    assert generic["params"] == {"symbol": "BTCUSDT", "orderId": 5, "timestamp": 1, "recvWindow": 5000}


def test_unsigned_request_has_no_auth():
    fb = FrameBuilder(RULES, None)
    assert orjson.loads(fb.request(9, "time")) == {"id": 9, "method": "time"}
    with pytest.raises(ValueError, match="needs an API key"):
        fb.request(10, "account.status", signed=True, timestamp=1)


@pytest.mark.parametrize("order", ORDERS)
def test_session_order_place_frame_has_all_params(order):
    fb = FrameBuilder(RULES, Ed25519Signer("edkey", ed25519.Ed25519PrivateKey.generate()), recv_window=700)
    fb.session = True
    params = orjson.loads(fb.order_place(5, order, 42))["params"]
    expected = {k: (int(v) if k == "strategyId" else v) for k, v in RULES["BTCUSDT"].params(order)}
    assert params == {**expected, "timestamp": 42, "recvWindow": 700}
