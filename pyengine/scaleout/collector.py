"""A collector: claims a share of the symbols and publishes their market data to Redis Streams.

Sharding (the reference collector design: a shared counter hands out the next symbol):

* every collector heartbeats into the sorted set ``<prefix>:collectors`` (score = Redis time);
  the live collectors are those seen within one lease period;
* a collector's fair share of a group of symbols is ``ceil(len(group) / live)``; below its
  share it ``INCR``s the group's counter and tries to take symbol ``counter % len(group)`` with
  ``SET <prefix>:owner:<SYMBOL> <id> NX PX <lease>``; the lease is renewed every heartbeat
  (only by its holder, checked in a script);
* a collector that dies stops renewing, its leases expire and the survivors, whose share has
  grown, take the symbols over; above its share (a collector joined) a collector gives one
  symbol back per heartbeat but keeps publishing it until another collector has taken it, so a
  hand-over loses nothing (the consumer drops the duplicates).

The hot symbols (those meeting the volume condition) form their own group with their own
counter, so they spread evenly over the collectors, and each of their messages is written to
Redis at once; the other symbols' messages are batched in a pipeline (``batch_max`` messages
or ``batch_s`` seconds, whichever comes first). With ``hot_replicas=2`` every hot symbol is
published by two collectors at once (never twice by one), so losing a collector loses no hot
data; the consumer merges the copies, newest wins.

A lease is held per slot: ``(symbol, replica)``, key ``<prefix>:owner:<SYMBOL>`` for replica 0
and ``<prefix>:owner:<SYMBOL>#<r>`` for the others.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import Counter
from collections.abc import Iterable

import redis

from pyengine.scaleout.sources import Frame
from pyengine.scaleout.streams import PUBLISH_LUA, seq_key, snapshot_key, stream_key

log = logging.getLogger(__name__)

RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


Slot = tuple[str, int]       # (symbol, replica)


def owner_key(prefix: str, slot: Slot) -> str:
    symbol, replica = slot
    return f"{prefix}:owner:{symbol}" + (f"#{replica}" if replica else "")


@dataclasses.dataclass
class CollectorStats:
    published: Counter = dataclasses.field(default_factory=Counter)   # by symbol
    claimed: int = 0
    lost: int = 0
    released: int = 0
    flushes: int = 0


class Collector:
    def __init__(self, client: redis.Redis, symbols: Iterable[str], hot: Iterable[str], *,
                 collector_id: str, prefix: str = "pe", lease_ms: int = 3000,
                 maxlen: int = 100_000, batch_max: int = 200, batch_s: float = 0.02,
                 drain_ticks: int = 5, hot_replicas: int = 1) -> None:
        symbols = list(dict.fromkeys(symbols))
        hot_set = set(hot) & set(symbols)
        self.groups: dict[str, list[Slot]] = {
            "hot": [(s, r) for r in range(hot_replicas) for s in symbols if s in hot_set],
            "cold": [(s, 0) for s in symbols if s not in hot_set]}
        self.hot = hot_set
        self.r = client
        self.id = collector_id
        self.prefix = prefix
        self.lease_ms = lease_ms
        self.maxlen = maxlen
        self.batch_max = batch_max
        self.batch_s = batch_s
        self.drain_ticks = drain_ticks
        self.owned: dict[Slot, float] = {}      # slot -> wall time it was taken (s)
        self.draining: dict[Slot, int] = {}     # released, still published: ticks left
        self.stats = CollectorStats()
        self._publish = client.register_script(PUBLISH_LUA)
        self._renew = client.register_script(RENEW_LUA)
        self._release = client.register_script(RELEASE_LUA)
        self._pipe = client.pipeline(transaction=False)
        self._pending = 0
        self._first_pending = 0.0
        self._members = f"{prefix}:collectors"

    # ---------------------------------------------------------------- ownership

    def _redis_ms(self) -> int:
        sec, usec = self.r.time()
        return sec * 1000 + usec // 1000

    def live_collectors(self) -> int:
        now = self._redis_ms()
        return max(1, self.r.zcount(self._members, now - self.lease_ms, "+inf"))

    def heartbeat(self) -> None:
        now = self._redis_ms()
        self.r.zadd(self._members, {self.id: now})
        self.r.zremrangebyscore(self._members, "-inf", now - 100 * self.lease_ms)

    def tick(self) -> None:
        """Heartbeat, renew leases, then claim or give back symbols toward the fair share."""
        self.heartbeat()
        for slot in list(self.owned):
            if not self._renew(keys=[owner_key(self.prefix, slot)], args=[self.id, self.lease_ms]):
                log.warning("%s: lost the lease on %s", self.id, slot)
                del self.owned[slot]
                self.stats.lost += 1
        live = self.live_collectors()
        for name, group in self.groups.items():
            if group:
                self._balance(name, group, math.ceil(len(group) / live))
        for slot in list(self.draining):
            holder = self.r.get(owner_key(self.prefix, slot))
            self.draining[slot] -= 1
            if holder not in (None, self.id.encode()):
                del self.draining[slot]          # handed over
            elif self.draining[slot] <= 0:
                del self.draining[slot]
                self._claim(slot)                # nobody came for it: keep it

    def symbols(self) -> set[str]:
        """Symbols this collector publishes now (held or being handed over)."""
        return {s for s, _ in self.owned} | {s for s, _ in self.draining}

    def owns(self, symbol: str) -> bool:
        return any(s == symbol for s, _ in self.owned)

    def _balance(self, name: str, group: list[Slot], share: int) -> None:
        mine = [slot for slot in group if slot in self.owned]
        attempts = 0
        while len(mine) < share and attempts < len(group):
            attempts += 1
            i = self.r.incr(f"{self.prefix}:next:{name}")
            slot = group[(i - 1) % len(group)]
            # never two replicas of one symbol in one collector: they would fail together
            if not self.owns(slot[0]) and self._claim(slot):
                mine.append(slot)
        if len(mine) > share:
            slot = mine[-1]
            self._release(keys=[owner_key(self.prefix, slot)], args=[self.id])
            del self.owned[slot]
            self.draining[slot] = self.drain_ticks
            self.stats.released += 1
            log.info("%s: handing %s over (share %d)", self.id, slot, share)

    def _claim(self, slot: Slot) -> bool:
        if self.r.set(owner_key(self.prefix, slot), self.id, nx=True, px=self.lease_ms):
            self.owned[slot] = time.time()
            self.draining.pop(slot, None)
            self.stats.claimed += 1
            log.info("%s: took %s", self.id, slot)
            return True
        return False

    def stop(self) -> None:
        """Flush, give every symbol back and leave the collector set."""
        self.flush()
        for slot in list(self.owned):
            self._release(keys=[owner_key(self.prefix, slot)], args=[self.id])
        self.owned.clear()
        self.draining.clear()
        self.r.zrem(self._members, self.id)

    # ---------------------------------------------------------------- publishing

    def publishes(self, symbol: str, due_s: float) -> bool:
        """Whether a message of ``symbol`` received at ``due_s`` (wall time) is ours to publish:
        we hold (or are handing over) the symbol and held it when the message arrived."""
        return (any(s == symbol and due_s >= since for (s, _), since in self.owned.items())
                or any(s == symbol for s, _ in self.draining))

    def offer(self, frame: Frame, due_s: float) -> bool:
        n = frame.norm
        if not self.publishes(n.symbol, due_s):
            return False
        self._publish(keys=[stream_key(self.prefix, n.symbol, n.kind),
                            seq_key(self.prefix, n.symbol, n.kind),
                            snapshot_key(self.prefix, n.symbol)],
                      args=[self.maxlen, "k", n.entry, "a", n.first, "b", n.last,
                            "E", n.event_ms, "r", frame.recv_ts_ns, "c", self.id, "m", frame.msg],
                      client=self._pipe)
        self.stats.published[n.symbol] += 1
        if self._pending == 0:
            self._first_pending = time.monotonic()
        self._pending += 1
        if n.symbol in self.hot or self._pending >= self.batch_max:
            self.flush()                          # the hot path: no batching delay
        return True

    def flush_if_due(self) -> None:
        if self._pending and time.monotonic() - self._first_pending >= self.batch_s:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._pipe.execute()
            self._pending = 0
            self.stats.flushes += 1
