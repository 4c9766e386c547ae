"""Cost of building and signing one WebSocket API ``order.place`` frame, in µs.

Measured in the same run, in turns:
  ours-hmac      FrameBuilder.order_place, per-request HMAC-SHA256 signature (fixed-point ints in,
                 JSON text out; precomputed HMAC key schedule, payload and JSON built in one pass)
  ours-session   the same after an Ed25519 session.logon: no per-request signature
  ours-ed25519   per-request Ed25519 signature (no session)
  ours-checked   ours-hmac plus the client-side exchangeInfo filter checks (SymbolRules.check),
                 i.e. everything BinanceClient.place does before writing the frame
  naive-hmac     the usual way: Decimal/str formatting, urllib.parse.urlencode of the sorted
                 params, hmac.new(...) per request, json.dumps of the frame
Every variant produces a frame the exchange accepts (the naive one is checked to carry the
same signature as ours).

    python tools/bench/order_build.py --out bench-order-build.json [--n 20000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import platform
import statistics
import time
from decimal import Decimal
from urllib.parse import unquote, urlencode

from cryptography.hazmat.primitives.asymmetric import ed25519

from pyengine import bundled
from pyengine.venue.binance.frames import FrameBuilder
from pyengine.venue.binance.orders import Order
from pyengine.venue.binance.rules import ExchangeRules
from pyengine.venue.binance.signing import Ed25519Signer, HmacSigner

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def naive_frame(req_id: int, symbol: str, side: str, qty: Decimal, price: Decimal, cid: str,
                ts: int) -> str:
    params = {"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC",
              "quantity": f"{qty:f}", "price": f"{price:f}", "newClientOrderId": cid,
              "recvWindow": 5000, "timestamp": ts, "apiKey": KEY}
    payload = unquote(urlencode(sorted(params.items())))
    params["signature"] = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"id": req_id, "method": "order.place", "params": params})


def time_loop(fn, n: int) -> float:
    """Mean µs per call over n calls."""
    t0 = time.perf_counter_ns()
    for i in range(n):
        fn(i)
    return (time.perf_counter_ns() - t0) / n / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON file for the figures")
    ap.add_argument("--n", type=int, default=20000, help="frames per round and variant")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    rules = ExchangeRules(bundled.exchange_info())
    spec = rules["BTCUSDT"].spec
    hmac_fb = FrameBuilder(rules, HmacSigner(KEY, SECRET))
    ed_fb = FrameBuilder(rules, Ed25519Signer("edkey", ed25519.Ed25519PrivateKey.generate()))
    sess_fb = FrameBuilder(rules, Ed25519Signer("edkey", ed25519.Ed25519PrivateKey.generate()))
    sess_fb.session = True
    ts0 = 1_723_161_255_000
    qty, px = 1_234, 6_173_763        # 0.001234 BTC at 61737.63 (bundled recording prices)

    def ours(fb):
        def build(i):
            o = Order("BTCUSDT", "BUY", "LIMIT", quantity=qty + i % 7, price=px - i % 11,
                      time_in_force="GTC", client_order_id=f"pe-{i}")
            return fb.order_place(i, o, ts0 + i)
        return build

    rules_btc = rules["BTCUSDT"]

    def checked(i):
        o = Order("BTCUSDT", "BUY", "LIMIT", quantity=qty + i % 7, price=px - i % 11,
                  time_in_force="GTC", client_order_id=f"pe-{i}")
        rules_btc.check(o, ref_price=px, open_orders=3, open_algo_orders=0, account_open_orders=3)
        return hmac_fb.order_place(i, o, ts0 + i)

    def naive(i):
        return naive_frame(i, "BTCUSDT", "BUY", spec.qty(qty + i % 7), spec.price(px - i % 11),
                           f"pe-{i}", ts0 + i)

    # both builders must sign the same thing
    a, b = json.loads(ours(hmac_fb)(3)), json.loads(naive(3))
    assert a["params"]["signature"] == b["params"]["signature"], (a, b)

    variants = {"ours-hmac": ours(hmac_fb), "ours-session": ours(sess_fb),
                "ours-ed25519": ours(ed_fb), "ours-checked": checked, "naive-hmac": naive}
    samples = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            samples[name].append(time_loop(fn, args.n))
    med = {k: statistics.median(v) for k, v in samples.items()}
    result = {
        "unit": "us_per_frame",
        "frames_per_round": args.n, "rounds": args.rounds,
        "median_us": med,
        "ratio_naive_over_ours_hmac": med["naive-hmac"] / med["ours-hmac"],
        "ratio_naive_over_ours_session": med["naive-hmac"] / med["ours-session"],
        "python": platform.python_version(), "machine": platform.machine(),
    }
    for k, v in med.items():
        print(f"{k:14s} {v:8.2f} µs/frame")
    print(f"naive-hmac / ours-hmac    = {result['ratio_naive_over_ours_hmac']:.2f}x")
    print(f"naive-hmac / ours-session = {result['ratio_naive_over_ours_session']:.2f}x")
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
