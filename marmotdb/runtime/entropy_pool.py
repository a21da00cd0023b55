"""The operating system's random bytes, drawn a page at a time for the handshake's scrambles.

Every connect needs 20 random bytes for its scramble (and a missing user's impostor digests
need more). ``random.SystemRandom().randbytes`` makes one getrandom() system call per draw;
this draws ``POOL_BYTES`` at once and hands them out in order, each byte once, so a connect
costs a slice instead of a system call. The bytes are the OS's cryptographic randomness either
way; they wait in this process's memory until used, beside the keys it holds anyway.
"""

from __future__ import annotations

import os

POOL_BYTES = 4096  # one getrandom() per ~130 connects


class EntropyPool:
    """``randbytes(n)`` as ``random.SystemRandom`` has it (what handshake.RandomSource needs)."""

    __slots__ = ("_buffer", "_position")

    def __init__(self) -> None:
        self._buffer = b""
        self._position = 0

    def randbytes(self, n: int) -> bytes:
        position = self._position
        if position + n > len(self._buffer):
            self._buffer = os.urandom(max(POOL_BYTES, n))
            position = 0
        self._position = position + n
        return self._buffer[position:position + n]
