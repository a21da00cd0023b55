"""Failed-login throttling per account and source, after MySQL's connection_control plugin.

Theory of operation
-------------------
Each (user name as sent, client host) pair counts its consecutive failed logins. Once the
count reaches ``failures_before_delay`` (MySQL: connection_control_failed_connections_threshold,
default 3), every further login attempt of that pair, successful or not, gets its answer
delayed by ``(failures - threshold + 1) * delay_min_ms`` (MySQL:
connection_control_min_connection_delay, 1000 ms), capped at ``delay_max_ms``
(connection_control_max_connection_delay). A successful login resets the pair.

Unlike MySQL (max 2147483647 ms) the cap defaults to 8 s: the runtime aborts a login that is
not finished within ``handshake_timeout_ms`` (10 s), and a delay beyond it would lock the
account out from that host for good, since only a finished successful login resets it.
Keep ``delay_max_ms`` below the handshake timeout.

The delay never blocks anything: the protocol machine holds the decided answer (the auth
reply bytes and the Authenticated/ConnectionClosed event) and reports ``reply_not_before``;
the runtime calls ``next_event()`` again at that time. Until then the client has learnt
nothing, not even whether the password was right.

Memory is bounded: at most ``entries_max`` pairs are tracked (least recently failed out first),
so a client cycling through random user names cannot grow the table. Time comes from the
``clock`` the runtime passes (monotonic seconds); the simulator and tests pass their own.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable


class LoginThrottle:
    """Node-wide failed-login counters (see the module docstring)."""

    __slots__ = ("_failures", "clock", "delay_max_ms", "delay_min_ms", "entries_max",
                 "failures_before_delay")

    def __init__(self, clock: Callable[[], float], *, failures_before_delay: int = 3,
                 delay_min_ms: int = 1000, delay_max_ms: int = 8000,
                 entries_max: int = 10_000):
        self.clock = clock
        self.failures_before_delay = failures_before_delay
        self.delay_min_ms = delay_min_ms
        self.delay_max_ms = delay_max_ms
        self.entries_max = entries_max
        self._failures: OrderedDict[tuple[str, str], int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def failures(self, user: str, host: str) -> int:
        return self._failures.get((_bounded(user), host), 0)

    def delay_s(self, user: str, host: str) -> float:
        """How long the answer to this attempt waits (0.0: not throttled)."""
        over = self.failures(user, host) - self.failures_before_delay + 1
        if over <= 0 or self.failures_before_delay <= 0:
            return 0.0
        return min(over * self.delay_min_ms, self.delay_max_ms) / 1000

    def record(self, user: str, host: str, passed: bool) -> None:
        key = (_bounded(user), host)
        if passed:
            self._failures.pop(key, None)
            return
        self._failures[key] = self._failures.get(key, 0) + 1
        self._failures.move_to_end(key)
        while len(self._failures) > self.entries_max:
            self._failures.popitem(last=False)


_KEY_CHARS_MAX = 64


def _bounded(user: str) -> str:
    """User names as keys, at most 64 characters (a long one by its digest): memory stays
    ``entries_max`` small keys whatever the names a client invents."""
    if len(user) <= _KEY_CHARS_MAX:
        return user
    return "sha256:" + hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()
