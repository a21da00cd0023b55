"""Exponential backoff with a cap for a sink that keeps failing (cdc/DESIGN.md §4).

Attempt n (1 = the first retry) waits ``initial_ms * multiplier ** (n - 1)``, capped at
``max_ms``. Jitter, when wanted, comes from a ``random.Random`` the caller owns (the core never
touches global randomness): up to ``jitter`` of the delay is taken off, so sinks of many nodes
that failed together do not retry in lockstep.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, initial_ms: int, max_ms: int, multiplier: float = 2.0,
                 jitter: float = 0.0, rng: random.Random | None = None):
        if initial_ms <= 0 or max_ms < initial_ms or multiplier < 1.0 or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < initial_ms <= max_ms, multiplier >= 1, "
                             "0 <= jitter < 1")
        self.initial_ms, self.max_ms, self.multiplier = initial_ms, max_ms, multiplier
        self.jitter, self._rng = jitter, rng
        self.attempt = 0

    def delay_ms(self, attempt: int) -> int:
        """The wait before retry number ``attempt`` (1-based), without jitter."""
        if attempt <= 0:
            return 0
        delay = float(self.initial_ms)
        for _ in range(attempt - 1):
            delay *= self.multiplier
            if delay >= self.max_ms:
                return self.max_ms
        return min(int(delay), self.max_ms)

    def next_delay_ms(self) -> int:
        """Count one more failure and return the wait before the next try."""
        self.attempt += 1
        delay = self.delay_ms(self.attempt)
        if self.jitter and self._rng is not None:
            delay -= int(delay * self.jitter * self._rng.random())
        return delay

    def reset(self) -> None:
        """A success: the next failure starts again from ``initial_ms``."""
        self.attempt = 0
