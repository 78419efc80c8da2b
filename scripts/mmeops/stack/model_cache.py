"""The local endpoint's loaded models: an LRU cache per endpoint config (one fleet)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class ModelCache:
    """Loaded models per endpoint config, least recently used first out. Each config (one
    fleet) is bounded by what one instance of its type holds, each model costing its worker
    process plus its size (mmeops/capacity.py); `max_bytes`, when set, overrides that bound
    for every config. A model larger than the whole bound still loads (and evicts everything
    else in its fleet): refusing it would make it unservable."""

    def __init__(self, max_bytes: int | None = None):
        self._max_bytes = max_bytes
        self._items: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._bounds: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self.loads = 0
        self.evictions = 0

    @property
    def max_bytes(self) -> int | None:
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int | None) -> None:
        """A new bound applies at once: shrinking it evicts."""
        with self._lock:
            self._max_bytes = value
            for fleet in {k[:2] for k in self._items}:
                self._evict(fleet)

    @property
    def bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def bound(self, fleet: tuple) -> int:
        return self._max_bytes if self._max_bytes is not None else self._bounds[fleet]

    def loaded(self) -> list[tuple]:
        """Keys of the loaded models, least recently used first."""
        with self._lock:
            return list(self._items)

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: tuple, model: Any, cost: int, fleet_bound: int) -> None:
        with self._lock:
            self._bounds[key[:2]] = fleet_bound
            self._items[key] = (model, cost)
            self._items.move_to_end(key)
            self.loads += 1
            self._evict(key[:2])

    def _evict(self, fleet: tuple) -> None:
        keys = [k for k in self._items if k[:2] == fleet]
        total = sum(self._items[k][1] for k in keys)
        limit = self.bound(fleet)
        for k in keys[:-1]:  # oldest first, never the one just used
            if total <= limit:
                break
            total -= self._items.pop(k)[1]
            self.evictions += 1

    def drop(self, predicate: Callable[[tuple], bool]) -> int:
        with self._lock:
            doomed = [k for k in self._items if predicate(k)]
            for k in doomed:
                del self._items[k]
            return len(doomed)
