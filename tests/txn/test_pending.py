"""``txn.pending``'s combinators: a plain value passes through, a Pending's failure is
handed to the undo step and its outcome becomes the caller's."""

from __future__ import annotations

import pytest

from marmotdb.txn.pending import Pending, on_failure


def test_on_failure_passes_a_value_and_a_success_through_untouched() -> None:
    undone: list[BaseException] = []
    assert on_failure(7, undone.append) == 7
    waiting = Pending()
    out = on_failure(waiting, undone.append)
    waiting.resolve("ok")
    assert out.done() and out.result() == "ok" and undone == []


def test_on_failure_runs_the_undo_step_and_takes_its_outcome() -> None:
    undone: list[str] = []

    def undo(error: BaseException) -> None:
        undone.append(str(error))
        raise error
    waiting = Pending()
    out = on_failure(waiting, undo)
    waiting.fail(RuntimeError("no turn"))
    assert undone == ["no turn"]
    with pytest.raises(RuntimeError, match="no turn"):
        out.result()
    recovered = Pending()
    later = on_failure(recovered, lambda error: "instead")
    recovered.fail(ValueError("x"))
    assert later.result() == "instead"
