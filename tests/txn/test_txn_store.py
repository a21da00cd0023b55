"""The acceptor rules of the txn store (txn/DESIGN.md §7.3): the safety core of recovery."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from marmotdb.txn.messages import NO_BALLOT
from marmotdb.txn.txn_store import DECIDED, TxnStore

I = (1, "d", 7)  # coordinator 1, database d, batch 7


def test_accept_needs_a_ballot_at_least_the_promise(tmp_path: Path) -> None:
    store = TxnStore(tmp_path)
    assert store.accept(I, (0, 1), [True]) is None          # the coordinator's first ballot
    ok, promised, accepted, vector = store.promise(I, (1, 2))
    assert (ok, promised, accepted, vector) == (True, (1, 2), (0, 1), [True])
    assert store.accept(I, (0, 1), [False]) == (1, 2)       # below the promise: refused
    assert store.promise(I, (1, 2))[0] is False             # not above: no second promise
    assert store.promise(I, (0, 9))[0] is False
    assert store.accept(I, (1, 2), [True]) is None


def test_records_survive_a_restart(tmp_path: Path) -> None:
    store = TxnStore(tmp_path)
    store.record_write_sets(I, [b"a", b"b"], [False, True])
    store.accept(I, (0, 1), [True, False])
    store.close()
    record = TxnStore(tmp_path).load()[I]
    assert record.write_sets == [b"a", b"b"] and record.one == [False, True]
    assert record.accepted == (0, 1) and record.vector == [True, False]


def test_a_decided_outcome_answers_every_later_round(tmp_path: Path) -> None:
    store = TxnStore(tmp_path)
    store.record_write_sets(I, [b"a"], [False])
    store.accept(I, (0, 1), [True])
    store.forget(I, [True], now_ms=1_000)
    assert store.load() == {} and store.write_sets(I) == ([], [])
    assert store.promise(I, (5, 3)) == (True, DECIDED, DECIDED, [True])
    assert store.accept(I, (5, 3), [False]) == DECIDED      # never decided anew
    assert store.accept(I, (5, 3), [True]) is None
    assert store.accepted_commits() == []


def test_accepted_commits_name_each_committed_member(tmp_path: Path) -> None:
    store = TxnStore(tmp_path)
    store.accept(I, (0, 1), [True, False, True])
    assert store.accepted_commits() == [(1, "d", 7), (1, "d", 9)]
    assert store.max_origin_seq(1, "d") == 0  # no write sets recorded
    store.record_write_sets(I, [b"a", b"b", b"c"], [])
    assert store.max_origin_seq(1, "d") == 9
    assert store.promise((2, "d", 1), (1, 1))[2] == NO_BALLOT


# ---------------------------------------------------------------------- a full disk
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (root only, as the torture suite's disk-full fault): a real ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path = tmp_path / "disk"
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_commit_refused_by_a_full_disk_keeps_every_write_and_retries(
        small_disk: Path) -> None:
    deferred: list[Callable[[], None]] = []
    timers: list[Callable[[], None]] = []
    store = TxnStore(small_disk, defer=deferred.append,
                     call_later=lambda _delay, callback: timers.append(callback))
    sent: list[str] = []

    def iteration(write: Callable[[], None], reply: str) -> None:
        write()
        store.committed(lambda: sent.append(reply))
        while deferred:
            deferred.pop(0)()

    iteration(lambda: store.accept(I, (0, 1), [True]), "accepted")
    assert sent == ["accepted"] and store.failed_commits == 0
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # every free block but a few
        f.write(b"\0" * (shutil.disk_usage(small_disk).free - 64 * 1024))
    big = os.urandom(512 * 1024)  # more than the WAL can grow by now
    iteration(lambda: store.record_write_sets((1, "d", 9), [big], [False]), "voted")
    assert store.failed_commits == 1 and sent == ["accepted"]   # nothing that waited ran
    assert len(timers) == 1
    assert store.write_sets((1, "d", 9)) == ([big], [False])    # reads still see the writes
    assert store.promise(I, (3, 2))[0] is True                  # and join them meanwhile
    store.committed(lambda: sent.append("promised"))
    timers.pop()()                                              # still full: retried again
    assert store.failed_commits == 2 and sent == ["accepted"] and len(timers) == 1
    filler.unlink()
    timers.pop()()
    assert sent == ["accepted", "voted", "promised"] and not timers
    store.close()
    records = TxnStore(small_disk).load()
    assert records[(1, "d", 9)].write_sets == [big]
    assert records[I].promised == (3, 2) and records[I].accepted == (0, 1)
