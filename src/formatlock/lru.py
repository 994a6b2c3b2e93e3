"""A small thread-safe map that forgets its least recently used entry: every in-memory cache of
compiled work (constraints, mask grammars, closing automata, their successor tables) is one."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``size`` entries; reading an entry makes it the most recently used."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> V:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The entry for ``key``, made (outside the lock: making may be slow) and kept if missing."""
        found = self.get(key)
        return found if found is not None else self.put(key, make())

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries
