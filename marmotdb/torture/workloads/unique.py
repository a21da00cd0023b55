"""Values unique across every client of a run (list elements per key, set members, register
values): one counter per key, shared by the client threads."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Hashable


class UniqueValues:
    def __init__(self, first: int = 1):
        self._lock = threading.Lock()
        self._counters: defaultdict[Hashable, itertools.count[int]] = defaultdict(
            lambda: itertools.count(first))

    def take(self, key: Hashable = None) -> int:
        with self._lock:
            return next(self._counters[key])
