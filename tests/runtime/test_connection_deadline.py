"""ConnectionDeadline: one timer per connection, re-armed only when it fires early or must
come sooner; the deadline that passes is reported once with its reason."""

from __future__ import annotations

from typing import Any

from marmotdb.runtime.connection_deadline import ConnectionDeadline


class Handle:
    def __init__(self, loop: FakeLoop, at: float, callback: Any):
        self.loop, self.at, self.callback, self.cancelled = loop, at, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """call_at and time() of an event loop, with time moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0
        self.handles: list[Handle] = []

    def time(self) -> float:
        return self.now

    def call_at(self, at: float, callback: Any) -> Handle:
        handle = Handle(self, at, callback)
        self.handles.append(handle)
        return handle

    def run_until(self, t: float) -> None:
        """Fire due handles in time order (a fired callback may arm new ones)."""
        while True:
            due = [h for h in self.handles if not h.cancelled and h.at <= t]
            if not due:
                break
            handle = min(due, key=lambda h: h.at)
            self.handles.remove(handle)
            self.now = max(self.now, handle.at)
            handle.callback()
        self.now = t

    @property
    def armed(self) -> list[float]:
        return [h.at for h in self.handles if not h.cancelled]


def make() -> tuple[FakeLoop, ConnectionDeadline, list[str]]:
    loop, expired = FakeLoop(), []
    return loop, ConnectionDeadline(loop, expired.append), expired  # type: ignore[arg-type]


def test_moving_the_deadline_later_arms_no_timer_until_the_old_one_fires() -> None:
    loop, deadline, expired = make()
    deadline.set(10, "connect_timeout")
    for step in range(1, 6):  # five commands, each moving the deadline later
        loop.now = 100 + step
        deadline.clear()
        deadline.set(10, "wait_timeout")
    assert len(loop.handles) == 1 and loop.armed == [110.0]
    loop.run_until(110)  # fires early, re-arms once at the real deadline
    assert expired == [] and loop.armed == [115.0]
    loop.run_until(115)
    assert expired == ["wait_timeout"] and loop.armed == []


def test_an_earlier_deadline_rearms_at_once() -> None:
    loop, deadline, expired = make()
    deadline.set(28800, "wait_timeout")
    deadline.set(30, "net_read_timeout")
    assert loop.armed == [130.0]
    loop.run_until(130)
    assert expired == ["net_read_timeout"]


def test_a_cleared_deadline_never_expires_and_close_cancels_the_timer() -> None:
    loop, deadline, expired = make()
    deadline.set(10, "connect_timeout")
    deadline.clear()  # a command is running
    assert deadline.reason is None
    loop.run_until(200)
    assert expired == [] and loop.armed == []
    deadline.set(5, "wait_timeout")
    assert deadline.reason == "wait_timeout"
    deadline.close()
    assert loop.armed == []
    loop.run_until(300)
    assert expired == []


def test_a_timer_a_millisecond_early_counts_as_on_time() -> None:
    loop, deadline, expired = make()
    deadline.set(10, "wait_timeout")
    loop.handles[0].at -= 0.001  # uvloop's millisecond clock
    loop.run_until(109.9995)
    assert expired == ["wait_timeout"]
