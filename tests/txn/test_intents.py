"""Intents (txn/intents.py): a row's marks of several instances."""

from __future__ import annotations

from marmotdb.hlc import Timestamp
from marmotdb.storage.writeset import ChangeOp, RowChange, WriteSet
from marmotdb.txn.intents import Intents


def write_set(origin: int, commit_ms: int, base_ms: int | None) -> WriteSet:
    base = Timestamp(base_ms, 0, 9) if base_ms is not None else None  # any origin: 9
    change = RowChange("t", ChangeOp.UPDATE, (1,), (1,), (1, "old"), (1, "new"), base)
    return WriteSet(Timestamp(commit_ms, 0, 9), origin, commit_ms,
                    Timestamp(commit_ms, 0, 9), "d", 0, [], [change], [])


def test_a_row_stays_marked_by_an_unapplied_instance_when_a_later_one_built_on_it_aborts(
        ) -> None:
    """I1 commits but is not applied here yet; I2, built on I1's commit (its coordinator had
    applied it), marks the row too, then aborts. The row must still carry I1's mark: a write
    built on the version before I1 is a conflict, or it overwrites I1's acknowledged row
    (found by the torture runs: list-append + partition, an acknowledged append lost)."""
    intents = Intents()
    i1, i2, i3 = (2, "d", 10), (3, "d", 20), (1, "d", 30)
    intents.mark(i1, write_set(2, 100, 50))
    assert not intents.conflicts(i2, write_set(3, 200, 100))  # built on I1's commit
    intents.mark(i2, write_set(3, 200, 100))
    assert intents.conflicts(i3, write_set(1, 300, 100))  # built on I1, not on I2
    intents.release(i2)  # I2 aborted
    assert intents.conflicts(i3, write_set(1, 300, 50))  # the version before I1: stale
    assert not intents.conflicts(i3, write_set(1, 300, 100))  # built on I1: fine
    intents.release(i1)  # I1 applied here
    assert len(intents) == 0


def test_members_of_one_batch_pass_the_mark_along() -> None:
    intents = Intents()
    i1 = (2, "d", 10)
    intents.mark(i1, write_set(2, 100, 50))
    intents.mark(i1, write_set(2, 101, 100))  # a later member of the batch, built on it
    assert intents.conflicts((1, "d", 5), write_set(1, 300, 100))
    assert not intents.conflicts((1, "d", 5), write_set(1, 300, 101))
    intents.release(i1)
    assert len(intents) == 0
