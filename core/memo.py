"""A small in-process memo for values whose key holds everything they are made of."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Any


class LeastRecentlyUsed:
    """At most ``size`` values, the least recently used dropped first; thread-safe (the web
    process serves requests on several threads)."""

    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict(), Lock()

    def get(self, key) -> Any:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value):
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value
