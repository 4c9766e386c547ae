"""An independent client: ccxt's binance class, pointed at the simulator, trades on it."""
from __future__ import annotations

from decimal import Decimal

import ccxt
import httpx
import trio

from pyengine import bundled
from pyengine.book import ASK, BID
from pyengine.sim.testing import running_sim
from .helpers import signed


def ccxt_for(sim) -> ccxt.binance:
    ex = ccxt.binance({"apiKey": sim.hmac_key.key, "secret": sim.hmac_key.secret, "enableRateLimit": False,
                       "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False,
                                   "adjustForTimeDifference": False}})
    base = sim.rest_url
    # every REST entry points at the simulator so nothing can leave the machine
    for name, url in list(ex.urls["api"].items()):
        if isinstance(url, str) and url.startswith("https://"):
            ex.urls["api"][name] = base + "/" + url.split("/", 3)[3]
    ex.urls["api"]["public"] = ex.urls["api"]["private"] = base + "/api/v3"
    return ex


async def test_ccxt_market_data_and_trading_match_the_simulator_state():
    data = {"BTCUSDT": bundled.BTCUSDT_FEED, "ZECUSDT": bundled.ZECUSDT_1M}
    async with running_sim(speed="manual", data=data) as sim:
        await sim.advance(90_000)
        ex = ccxt_for(sim)
        m = sim.markets["BTCUSDT"]

        def public():
            markets = ex.load_markets()
            book = ex.fetch_order_book("BTC/USDT", limit=100)
            trades = ex.fetch_trades("BTC/USDT", limit=50)
            ohlcv = ex.fetch_ohlcv("ZEC/USDT", "1h", limit=10)
            ticker = ex.fetch_ticker("BTC/USDT")
            return markets, book, trades, ohlcv, ticker
        markets, book, trades, ohlcv, ticker = await trio.to_thread.run_sync(public)
        assert {"BTC/USDT", "ETH/USDT", "ZEC/USDT", "SOL/USDT", "DOGE/USDT"} <= set(markets)
        assert markets["BTC/USDT"]["precision"]["price"] == 0.01
        assert markets["BTC/USDT"]["limits"]["cost"]["min"] == 10
        assert book["nonce"] == m.update_id
        assert book["bids"][0] == [m.best(BID)[0] / 1e8, m.best(BID)[1] / 1e8]
        assert book["asks"][0] == [m.best(ASK)[0] / 1e8, m.best(ASK)[1] / 1e8]
        assert [t["id"] for t in trades] == [str(t.id) for t in m.trades[-50:]]
        bars = sim.markets["ZECUSDT"].klines("1h", None, None, 10)
        assert [row[0] for row in ohlcv] == [b.open_time for b in bars]
        assert [row[4] for row in ohlcv] == [b.c / 1e8 for b in bars]
        assert ticker["last"] == m.last_price / 1e8

        bid = m.best(BID)[0] / 1e8

        def trade():
            limit = ex.create_order("BTC/USDT", "limit", "buy", 0.01, round(bid - 200, 2))
            fetched = ex.fetch_order(limit["id"], "BTC/USDT")
            opened = ex.fetch_open_orders("BTC/USDT")
            cancelled = ex.cancel_order(limit["id"], "BTC/USDT")
            market = ex.create_order("BTC/USDT", "market", "buy", 0.02)
            sell = ex.create_order("BTC/USDT", "market", "sell", 0.01)
            balance = ex.fetch_balance()
            mine = ex.fetch_my_trades("BTC/USDT")
            orders = ex.fetch_orders("BTC/USDT")
            try:
                ex.create_order("BTC/USDT", "limit", "buy", 100, round(bid, 2))
                insufficient = None
            except ccxt.InsufficientFunds as exc:
                insufficient = exc
            try:
                ex.cancel_order(limit["id"], "BTC/USDT")
                not_found = None
            except ccxt.OrderNotFound as exc:
                not_found = exc
            return limit, fetched, opened, cancelled, market, sell, balance, mine, orders, insufficient, not_found
        (limit, fetched, opened, cancelled, market, sell, balance, mine, orders, insufficient,
         not_found) = await trio.to_thread.run_sync(trade)
        assert limit["status"] == "open" and fetched["id"] == limit["id"] and fetched["price"] == round(bid - 200, 2)
        assert [o["id"] for o in opened] == [limit["id"]]
        assert cancelled["status"] == "canceled"
        assert market["status"] == "closed" and market["filled"] == 0.02
        assert sell["status"] == "closed" and sell["filled"] == 0.01
        assert insufficient is not None and not_found is not None
        # ccxt's view equals the simulator's books of account
        acct = sim.engine.account("main")
        for asset in ("BTC", "USDT"):
            free, locked = acct.bal(asset)
            assert Decimal(str(balance[asset]["free"])) == Decimal(free) / 10**8
            assert Decimal(str(balance[asset]["used"])) == Decimal(locked) / 10**8
        ours = sim.engine.my_trades["main"]
        assert [t["id"] for t in mine] == [str(t["id"]) for t in ours]
        assert sum(t["amount"] for t in mine if t["side"] == "buy") == 0.02
        assert [o["status"] for o in orders] == ["canceled", "closed", "closed"]
        # and a raw query agrees with ccxt's parsed order
        async with httpx.AsyncClient(base_url=sim.rest_url) as c:
            raw = (await signed(c, "GET", "/api/v3/order", sim.hmac_key,
                                {"symbol": "BTCUSDT", "orderId": market["id"]})).json()
        assert Decimal(raw["cummulativeQuoteQty"]) == Decimal(str(market["cost"]))


async def test_ccxt_pro_order_book_and_trades_over_the_market_streams():
    import asyncio

    import ccxt.pro

    async with running_sim(speed=5, data={"BTCUSDT": bundled.BTCUSDT_FEED}) as sim:
        m = sim.markets["BTCUSDT"]
        seen: dict[int, tuple] = {}
        m.on_book_hooks.append(lambda mk: seen.__setitem__(mk.update_id, (mk.book.top(BID, 5), mk.book.top(ASK, 5))))

        def run():
            async def go():
                ex = ccxt.pro.binance({"options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                                   "fetchMargins": False}})
                base = sim.rest_url
                for name, url in list(ex.urls["api"].items()):
                    if isinstance(url, str) and url.startswith("https://"):
                        ex.urls["api"][name] = base + "/" + url.split("/", 3)[3]
                ex.urls["api"]["ws"]["spot"] = sim.stream_url + "/ws"
                ex.urls["api"]["ws"]["ws-api"]["spot"] = sim.ws_api_url
                try:
                    await ex.load_markets()
                    books = []
                    for _ in range(20):
                        ob = await ex.watch_order_book("BTC/USDT")
                        books.append((ob["nonce"], [list(x) for x in ob["bids"][:5]], [list(x) for x in ob["asks"][:5]]))
                    trades = await ex.watch_trades("BTC/USDT")
                    return books, [t["id"] for t in trades]
                finally:
                    await ex.close()
            return asyncio.run(go())

        with trio.fail_after(60):
            books, trade_ids = await trio.to_thread.run_sync(run)
        spec = m.spec
        for nonce, bids, asks in books:
            want_bids, want_asks = seen[nonce]
            assert [[spec.price_to_int(str(p)), spec.qty_to_int(str(q))] for p, q in bids] == [list(x) for x in want_bids]
            assert [[spec.price_to_int(str(p)), spec.qty_to_int(str(q))] for p, q in asks] == [list(x) for x in want_asks]
        public = {str(t.id) for t in m.trades}
        assert trade_ids and set(trade_ids) <= public
