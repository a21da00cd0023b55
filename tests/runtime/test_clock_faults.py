"""One real node's clock offset by seconds (peers.md §5 #6: a skewed clock must not make a
"later" write lose, nor an acknowledged one vanish).

How the clock is skewed: node 3 is restarted under libfaketime (``LD_PRELOAD`` +
``FAKETIME="+5s"``). That is enough for the whole node: ``runtime/peer_transport.LoopClock``
reads the wall clock ONCE (``time.time()``, shifted by libfaketime) and from then on advances
by the event loop's monotonic clock, so the node's clock is "wall at start + monotonic
elapsed" — whether libfaketime also shifts CLOCK_MONOTONIC (it does, by the same offset)
cancels out. The test checks the skew took: ``NOW()`` on node 3 runs >= 4 s ahead.

What the product is documented to do (hlc.py, txn/DESIGN.md §7.2 and §7.5): a participant
refuses a write set whose commit timestamp is more than ``max_clock_offset_ms`` (500 ms)
ahead of its own clock (vote CLOCK) and never absorbs that time; the coordinator ignores a
voter's clock that far ahead. So with one node 5 s ahead:

    writes coordinated by the skewed node at QUORUM   refused by both others: 1213, never
                                                      committed (retryable: it stays
                                                      refused until the clock is fixed)
    writes coordinated by the others                  commit (the skewed node votes yes)
    a write at ONE on the skewed node                 commits there and replicates with its
                                                      5 s-ahead version; a later write on
                                                      another node that saw it is ordered
                                                      after it by the HLC and wins, although
                                                      its wall clock is 5 s behind
    counters incremented from every node              final value = acknowledged increments
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.client_load import Writers, create_database, execute
from marmotdb.torture.cluster import LocalCluster
from marmotdb.torture.audit import AUDITED_SERVE_ARGS, audit, lww_winner

pytestmark = pytest.mark.integration

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SKEW_S = 5
COUNTERS = 3
SKEWED = 3


@pytest.fixture
def skewed_trio(tmp_path: Path) -> Iterator[LocalCluster]:
    if not LIBFAKETIME.exists():
        pytest.skip("libfaketime not installed (apt-get install faketime)")
    cluster = LocalCluster(tmp_path, 3, serve_args=AUDITED_SERVE_ARGS)
    try:
        cluster.start()
        create_database(cluster)
        values = ", ".join(f"({i}, 0)" for i in range(1, COUNTERS + 1))
        execute(cluster, 1, "CREATE TABLE ctr (id INT PRIMARY KEY, n INT)",
                f"INSERT INTO ctr VALUES {values}",
                "CREATE TABLE lww (id INT PRIMARY KEY, v TEXT)")
        cluster.processes[SKEWED].send_signal(signal.SIGTERM)
        assert cluster.processes[SKEWED].wait(15) == 0
        cluster.restart(SKEWED, env={"LD_PRELOAD": str(LIBFAKETIME),
                                     "FAKETIME": f"+{SKEW_S}s"})
        cluster.until(cluster.converged, 30, "the skewed node back in the membership")
        yield cluster
    finally:
        cluster.stop()


def clock_s(cluster: LocalCluster, node_id: int) -> float:
    return float(execute(cluster, node_id, "SELECT UNIX_TIMESTAMP(NOW(6))")[0][0])


def increment(key: int) -> str:
    return f"UPDATE ctr SET n = n + 1 WHERE id = {key % COUNTERS + 1}"


def acked_per_counter(keys: set[int]) -> Counter[int]:
    return Counter(key % COUNTERS + 1 for key in keys)


def run_clock_skew(cluster: LocalCluster, acked_target: int) -> None:
    ahead_s = clock_s(cluster, SKEWED) - clock_s(cluster, 1)
    assert ahead_s >= SKEW_S - 1, f"node {SKEWED} is only {ahead_s:.2f} s ahead"

    # counters from every node at QUORUM: the skewed node's are refused, the others commit
    skewed = Writers(cluster, [SKEWED], increment, writer_base=100).start()
    others = Writers(cluster, [1, 2], increment).start()
    try:
        others.wait_acked(acked_target, 90, "coordinated by the nodes with good clocks")
        skewed.cluster.until(lambda: sum(skewed.outcomes.codes.values()) + len(
            skewed.outcomes.acked) >= 3, 60, "statements finished on the skewed node")
    finally:
        seen_skewed, seen_others = skewed.stop(), others.stop()
    assert set(seen_skewed.codes) <= {1213}, seen_skewed.codes  # documented refusal only
    assert not seen_skewed.unknown and not seen_others.unknown

    # causality over wall clocks: ONE write on the skewed node, then a write that saw it
    execute(cluster, SKEWED, "SET marmot_write_consistency = 'ONE'",
            "INSERT INTO lww VALUES (1, 'skewed node, 5 s ahead')")
    cluster.until(lambda: execute(cluster, 1, "SELECT v FROM lww WHERE id = 1") ==
                  [("skewed node, 5 s ahead",)], 10, "node 1 learned the ONE write")
    execute(cluster, 1, "UPDATE lww SET v = 'node 1, after it' WHERE id = 1")

    replicas = audit(cluster, ("ctr", "lww"))
    acked = acked_per_counter(seen_skewed.acked | seen_others.acked)
    for replica in replicas:
        assert replica.tables["ctr"] == [(i, acked[i]) for i in range(1, COUNTERS + 1)], \
            f"node {replica.node_id}: {replica.tables['ctr']} vs acknowledged {acked}"
        assert replica.tables["lww"] == [(1, "node 1, after it")]
        version, origin, image = lww_winner(replica, "lww", (1,))
        assert (origin, image) == (1, (1, "node 1, after it")), (version, origin, image)


def test_a_node_5s_ahead_loses_no_update_and_lww_follows_the_hlc(
        skewed_trio: LocalCluster) -> None:
    run_clock_skew(skewed_trio, acked_target=60)


@pytest.mark.slow
def test_a_node_5s_ahead_under_a_long_counter_load(skewed_trio: LocalCluster) -> None:
    run_clock_skew(skewed_trio, acked_target=1500)
