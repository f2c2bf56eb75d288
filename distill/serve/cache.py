"""A bounded LRU of responses keyed by (text, lang, model version), with hit and miss counts."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class ResponseCache:
    """Least-recently-used cache of at most ``size`` responses (``size=0`` turns it off)."""

    def __init__(self, size: int):
        self.size = max(0, int(size))
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: Any) -> None:
        if not self.size:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def invalidate(self, lang: str | None = None) -> int:
        """Drop every entry (or those of ``lang``, the key's second part); returns how many."""
        with self._lock:
            keys = [k for k in self._data if lang is None or (isinstance(k, tuple) and k[1] == lang)]
            for k in keys:
                del self._data[k]
            return len(keys)

    def __len__(self) -> int:
        return len(self._data)
