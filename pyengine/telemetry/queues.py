"""Bounded queues between the engine and telemetry consumers. Putting never blocks and
never fails: when full, the oldest item is dropped and counted. Only telemetry goes
through here; orders and fills go to the engine's journal."""
from __future__ import annotations

import collections
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    __slots__ = ("_items", "maxlen", "dropped")

    def __init__(self, maxlen: int) -> None:
        if maxlen <= 0:
            raise ValueError(f"queue size must be positive, got {maxlen}")
        self._items: collections.deque[T] = collections.deque(maxlen=maxlen)
        self.maxlen = maxlen
        self.dropped = 0

    def put(self, item: T) -> None:
        if len(self._items) == self.maxlen:
            self.dropped += 1
        self._items.append(item)   # deque(maxlen) discards from the left itself

    def put_many(self, items: list[T]) -> None:
        overflow = len(self._items) + len(items) - self.maxlen
        if overflow > 0:
            self.dropped += overflow
        self._items.extend(items)

    def take(self, limit: int) -> list[T]:
        """Up to ``limit`` items, oldest first."""
        items = self._items
        n = min(limit, len(items))
        return [items.popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self._items)
