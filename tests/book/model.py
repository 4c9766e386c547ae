"""A deliberately simple pure-Python order book with Binance's sync rules: the reference
the C book is checked against."""
from __future__ import annotations

EMPTY, WAIT_FIRST, SYNCED, OUT_OF_SYNC = "empty", "waiting-for-first-diff", "synced", "out-of-sync"


class ModelBook:
    def __init__(self):
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.state = EMPTY
        self.last_id = 0

    def snapshot(self, last_id, bids, asks):
        self.bids, self.asks = {}, {}
        self._set(bids, asks)
        self.last_id = last_id
        self.state = OUT_OF_SYNC if self._crossed() else WAIT_FIRST

    def _crossed(self):
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))

    def diff(self, first, last, bids, asks) -> str:
        """Returns 'applied', 'stale' or 'rejected'."""
        if self.state in (EMPTY, OUT_OF_SYNC):
            return "rejected"
        if last <= self.last_id:
            return "stale"
        if (self.state == WAIT_FIRST and first > self.last_id + 1) or \
           (self.state == SYNCED and first != self.last_id + 1):
            self.state = OUT_OF_SYNC
            return "rejected"
        self._set(bids, asks)
        self.last_id = last
        self.state = OUT_OF_SYNC if self._crossed() else SYNCED
        return "applied"

    def _set(self, bids, asks):
        """Levels in order: a quantity replaces the level, zero removes it."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for p, q in levels:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)

    @property
    def readable(self):
        return self.state == SYNCED

    def top(self, side, n):
        levels = self.bids if side == "bid" else self.asks
        return sorted(levels.items(), key=lambda kv: -kv[0] if side == "bid" else kv[0])[:n]

    def depth_to(self, side, px):
        if side == "bid":
            return sum(q for p, q in self.bids.items() if p >= px)
        return sum(q for p, q in self.asks.items() if p <= px)

    def impact(self, side, qty):
        """Taking from `side`: (filled, notional, worst price)."""
        left, notional, worst = qty, 0, 0
        for p, q in self.top(side, len(self.bids) + len(self.asks)):
            if left <= 0:
                break
            take = min(q, left)
            notional += take * p
            left -= take
            worst = p
        return qty - left, notional, worst
