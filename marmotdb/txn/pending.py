"""A result that is not known yet: the sans-I/O future of the write path.

The core may not import asyncio, yet a statement can have to wait: for a database's write turn,
for the batch COMMIT that makes it durable, later for a network round. It then returns a
``Pending`` instead of a result. Whoever hosts the core waits on it with a callback: the MySQL
runtime sends the reply from ``add_done_callback``; the simulator and the tests resolve the
pipeline and read ``result()``.

A ``Pending`` is resolved once (``resolve`` or ``fail``); callbacks run in the order they were
added, immediately if it is already done. ``chain(value, then)`` composes steps that may or may
not wait: if ``value`` is a plain result, ``then`` runs now; if it is a ``Pending``, ``then``
runs when it resolves and the chain's own ``Pending`` follows the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_UNSET: Any = object()


class Pending:
    __slots__ = ("_value", "_error", "_callbacks")

    def __init__(self) -> None:
        self._value: Any = _UNSET
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Pending], None]] = []

    # -- state ------------------------------------------------------------------------------
    def done(self) -> bool:
        return self._value is not _UNSET or self._error is not None

    def result(self) -> Any:
        """The value, or raise the error; only once done."""
        if self._error is not None:
            raise self._error
        if self._value is _UNSET:
            raise RuntimeError("Pending.result() before it was resolved")
        return self._value

    def error(self) -> BaseException | None:
        """The error it failed with, or None (resolved or not yet done)."""
        return self._error

    # -- outcome ----------------------------------------------------------------------------
    def resolve(self, value: Any) -> None:
        if self.done():
            return
        self._value = value
        self._run_callbacks()

    def fail(self, error: BaseException) -> None:
        if self.done():
            return
        self._error = error
        self._run_callbacks()

    def add_done_callback(self, callback: Callable[[Pending], None]) -> None:
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def _run_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def settle(self, run: Callable[[], Any]) -> None:
        """Take ``run()``'s outcome: its value, the Pending it returns (followed), or the
        exception it raises."""
        try:
            following = run()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiter, not swallowed
            self.fail(exc)
            return
        if isinstance(following, Pending):
            self.follow(following)
        else:
            self.resolve(following)

    def follow(self, other: Pending) -> None:
        """Resolve or fail as ``other`` does."""
        def copy(done: Pending) -> None:
            if done._error is not None:
                self.fail(done._error)
            else:
                self.resolve(done._value)
        other.add_done_callback(copy)


def chain(value: Any, then: Callable[[Any], Any]) -> Any:
    """``then(value)`` now if ``value`` is a plain result, else when the Pending resolves.

    Returns ``then``'s result (which may itself be a Pending) or a Pending of it. An error of
    the awaited Pending skips ``then`` and fails the returned Pending."""
    if not isinstance(value, Pending):
        return then(value)
    if value.done():
        return then(value.result())
    out = Pending()

    value.add_done_callback(lambda done: out.settle(lambda: then(done.result())))
    return out


def on_failure(value: Any, then: Callable[[BaseException], Any]) -> Any:
    """``value`` as it is, unless it is a Pending that fails: then ``then(error)``'s outcome
    (its value, the Pending it returns, or what it raises — re-raising ``error`` after
    undoing something is the usual use)."""
    if not isinstance(value, Pending):
        return value
    out = Pending()

    def done(finished: Pending) -> None:
        error = finished.error()
        if error is None:
            out.resolve(finished.result())
        else:
            out.settle(lambda: then(error))
    value.add_done_callback(done)
    return out
