"""WebSocket API request frames (digest 12), with a fast path for ``order.place``.

``order.place`` is built by string concatenation in the WS API's signature order (parameters
sorted by name), so the same pass yields both the signature payload and the JSON text; the
HMAC key schedule is precomputed once per key (:class:`HmacSigner`). After an Ed25519
``session.logon`` no per-request signature is needed at all. Every other method goes through
the generic (orjson) path.
"""
from __future__ import annotations

from typing import Any, Mapping

import orjson

from pyengine.venue.binance.orders import Order
from pyengine.venue.binance.rules import ExchangeRules
from pyengine.venue.binance.signing import Signer, ws_payload


class FrameBuilder:
    def __init__(self, rules: ExchangeRules, signer: Signer | None, recv_window: int = 5000):
        self.rules = rules
        self.signer = signer
        self.recv_window = recv_window
        self.session = False   # True once session.logon succeeded: no per-request signature
        for sym in rules.symbols:
            if '"' in sym or "\\" in sym or any(ord(c) < 32 for c in sym):
                raise ValueError(f"symbol {sym!r} contains characters that need JSON escaping")

    def request(self, req_id: int, method: str, params: Mapping[str, Any] | None = None, *,
                signed: bool = False, timestamp: int | None = None) -> str:
        """Any method; ``signed`` adds timestamp/recvWindow and, without a session, the
        apiKey and signature."""
        msg: dict[str, Any] = {"id": req_id, "method": method}
        if signed:
            if self.signer is None:
                raise ValueError(f"{method} needs an API key: configure a signer")
            p = dict(params or {})
            p["timestamp"] = timestamp
            p["recvWindow"] = self.recv_window
            if not self.session:
                p["apiKey"] = self.signer.api_key
                p["signature"] = self.signer.sign(ws_payload(p))
            msg["params"] = p
        elif params:
            msg["params"] = dict(params)
        return orjson.dumps(msg).decode()

    def logon(self, req_id: int, timestamp: int) -> str:
        """``session.logon``: sign ``apiKey`` + ``timestamp`` (+ recvWindow) with Ed25519."""
        p: dict[str, Any] = {"apiKey": self.signer.api_key, "recvWindow": self.recv_window,
                             "timestamp": timestamp}
        p["signature"] = self.signer.sign(ws_payload(p))
        return orjson.dumps({"id": req_id, "method": "session.logon", "params": p}).decode()

    def order_place(self, req_id: int, o: Order, timestamp: int) -> str:
        """The ``order.place`` frame for ``o`` (already validated, client id set)."""
        r = self.rules.symbols[o.symbol]
        fp, fq = r.fmt_price, r.fmt_qty
        if self.session:
            # no signature: JSON only, in any order
            j = [f'{{"id":{req_id},"method":"order.place","params":{{"symbol":"{o.symbol}",'
                 f'"side":"{o.side}","type":"{o.type}"']
            add = j.append
            if o.time_in_force is not None:
                add(f',"timeInForce":"{o.time_in_force}"')
            if o.quantity is not None:
                add(f',"quantity":"{fq(o.quantity)}"')
            if o.price is not None:
                add(f',"price":"{fp(o.price)}"')
            if o.client_order_id is not None:
                add(f',"newClientOrderId":"{o.client_order_id}"')
            if o.quote_qty is not None or o.stop_price is not None or o.iceberg_qty is not None \
                    or o.trailing_delta is not None or o.resp_type is not None \
                    or o.stp_mode is not None or o.strategy_id is not None:
                add(self._rare_json(o, fp, fq))
            add(f',"recvWindow":{self.recv_window},"timestamp":{timestamp}}}}}')
            return "".join(j)
        # signed: walk the names in ascending order so one pass yields the signature
        # payload (k=v&...) and the JSON members
        kv: list[str] = []
        js: list[str] = []

        def s(k: str, v: str) -> None:
            kv.append(f"{k}={v}")
            js.append(f'"{k}":"{v}"')

        def n(k: str, v: object) -> None:
            kv.append(f"{k}={v}")
            js.append(f'"{k}":{v}')
        s("apiKey", self.signer.api_key)
        if o.iceberg_qty is not None:
            s("icebergQty", fq(o.iceberg_qty))
        if o.client_order_id is not None:
            s("newClientOrderId", o.client_order_id)
        if o.resp_type is not None:
            s("newOrderRespType", o.resp_type)
        if o.price is not None:
            s("price", fp(o.price))
        if o.quantity is not None:
            s("quantity", fq(o.quantity))
        if o.quote_qty is not None:
            s("quoteOrderQty", fp(o.quote_qty))
        n("recvWindow", self.recv_window)
        if o.stp_mode is not None:
            s("selfTradePreventionMode", o.stp_mode)
        s("side", o.side)
        if o.stop_price is not None:
            s("stopPrice", fp(o.stop_price))
        if o.strategy_id is not None:
            n("strategyId", o.strategy_id)
        s("symbol", o.symbol)
        if o.time_in_force is not None:
            s("timeInForce", o.time_in_force)
        n("timestamp", timestamp)
        if o.trailing_delta is not None:
            n("trailingDelta", o.trailing_delta)
        s("type", o.type)
        sig = self.signer.sign("&".join(kv))
        return (f'{{"id":{req_id},"method":"order.place","params":{{{",".join(js)},'
                f'"signature":"{sig}"}}}}')

    @staticmethod
    def _rare_json(o: Order, fp, fq) -> str:
        out = []
        if o.quote_qty is not None:
            out.append(f',"quoteOrderQty":"{fp(o.quote_qty)}"')
        if o.stop_price is not None:
            out.append(f',"stopPrice":"{fp(o.stop_price)}"')
        if o.iceberg_qty is not None:
            out.append(f',"icebergQty":"{fq(o.iceberg_qty)}"')
        if o.trailing_delta is not None:
            out.append(f',"trailingDelta":{o.trailing_delta}')
        if o.resp_type is not None:
            out.append(f',"newOrderRespType":"{o.resp_type}"')
        if o.stp_mode is not None:
            out.append(f',"selfTradePreventionMode":"{o.stp_mode}"')
        if o.strategy_id is not None:
            out.append(f',"strategyId":{o.strategy_id}')
        return "".join(out)
