"""A client connection's one inactivity deadline, with at most one loop timer behind it.

Theory of operation
-------------------
A MySQL connection always has one deadline that closes it: ``connect_timeout`` until its login
is done, then ``wait_timeout`` between commands (``net_read_timeout`` while a packet is half
read), none while a command runs. The deadline moves on every command, but a loop timer is
dear to move: uvloop's ``call_later`` + ``cancel`` cost ~9 µs, and a connect + three
statements used to arm and cancel six of them (a quarter of the server's Python work per
connect).

So moving the deadline *later* only writes it down: the timer already armed fires at its
earlier time, finds the deadline moved, and re-arms once for the new one (for a busy
connection with the default 8-hour ``wait_timeout``: once per 8 hours). Moving it *earlier*
(a shorter timeout set by the client, a half-read packet) re-arms at once. Clearing it (a
command is running) leaves the timer to fire and find nothing due. ``close`` cancels the timer
for good, so a closed connection is not kept alive by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# uvloop's clock has millisecond resolution: a timer may run up to this much before its time,
# which counts as on time instead of re-arming for the rest.
EARLY_FIRE_S = 0.002


class ConnectionDeadline:
    __slots__ = ("_at", "_handle", "_handle_at", "_loop", "_on_expiry", "_reason")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_expiry: Callable[[str], None]):
        self._loop = loop
        self._on_expiry = on_expiry  # called with the reason of the deadline that passed
        self._at: float | None = None  # loop time; None: nothing due
        self._reason = ""
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = 0.0

    @property
    def reason(self) -> str | None:
        """What the current deadline is for (None: no deadline)."""
        return self._reason if self._at is not None else None

    def set(self, delay_s: float, reason: str) -> None:
        """The connection closes ``delay_s`` from now unless the deadline moves again."""
        at = self._loop.time() + delay_s
        self._at, self._reason = at, reason
        if self._handle is not None:
            if self._handle_at <= at:
                return  # fires early, sees the later deadline, re-arms
            self._handle.cancel()
        self._arm(at)

    def clear(self) -> None:
        """No deadline (a command is running); the armed timer, if any, finds nothing due."""
        self._at = None

    def close(self) -> None:
        """For good: the timer is cancelled and the callback dropped (it is usually a bound
        method of the connection's owner, which holds this: a cycle otherwise)."""
        self._at = None
        self._on_expiry = _closed
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, at: float) -> None:
        self._handle_at = at
        self._handle = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._handle = None
        at = self._at
        if at is None:
            return
        if at - self._loop.time() > EARLY_FIRE_S:  # moved later since the timer was armed
            self._arm(at)
            return
        self._at = None
        self._on_expiry(self._reason)


def _closed(reason: str) -> None:
    """The callback of a closed deadline (never called: a closed deadline arms nothing)."""
