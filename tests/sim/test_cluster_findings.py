"""Product defects the cluster simulator found, each pinned by a small deterministic run.

Each test builds the situation by hand on the simulator's world (``cluster_runner.opened``:
three production nodes after the setup) and asserts what DESIGN.md §4.1 requires. A defect
still open is marked ``xfail(strict=True)`` with its description: when the fix lands the test
passes, the strict xfail turns red, and the marker must go. The others were fixed after the
simulator found them (the comment names the sweep that did) and stay as regression tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from marmotdb.node import Reply
from marmotdb.sim.cluster_invariants import BANK_TOTAL
from marmotdb.sim.cluster_runner import ClusterRun, opened, run_one
from marmotdb.sim.cluster_world import CrashTrigger
from marmotdb.sim.network import HEALTHY, LinkFault
from marmotdb.storage.commitlog import iter_log
from marmotdb.txn.messages import MESSAGE_TYPES, Learn, Prepare, Votes

TAGS = {cls: tag for tag, cls in MESSAGE_TYPES.items()}
PREPARE_TAG, VOTES_TAG, LEARN_TAG = TAGS[Prepare], TAGS[Votes], TAGS[Learn]

VOTES_NOT_SYNCED = (
    "with durability = 'fsync' nothing syncs the txn store's WAL (TxnStore says 'the caller "
    "makes them durable … by syncing the WAL (wal_path)'; no caller does): a YES vote, its "
    "intents and an acceptance are lost with the power, so a node that loses power forgets "
    "what it promised and accepted (txn/DESIGN.md §7.4: 'fsync with durability = fsync')")

EMPTY_TURN_LEFT_OPEN = (
    "an explicit transaction that took the write turn (a locking read) and commits nothing "
    "gives the turn back with its BEGIN IMMEDIATE still open and the batch empty; a peer's "
    "outcome waiting for the turn then runs on a connection inside a transaction: "
    "CommitPipeline._run_exclusive_now asserts (AssertionError escapes the node's input, "
    "pipeline.py _advance: _can_join lets an exclusive waiter in when the batch is empty, "
    "not when the connection is idle), the apply never happens and its intents stay "
    "(sim: cluster-clock seeds 2, 3: internal-error)")

FAST_PEER_VERSION_BLOCKS = (
    "a node that applied a row version from a peer whose clock is more than "
    "max_clock_offset_ms ahead (a ONE write, a learn, catch-up) does not move its HLC past it "
    "(refused, never absorbed), so its own next write of that row picks a commit timestamp "
    "below the row's version and fails with 1105 'commit timestamp … is not newer than the "
    "version of a row' until its wall clock catches up (sim: cluster-clock seeds 11, 13, 14, "
    "17, 20, 24: internal-error, 1105 to the client)")

FAST_LOG_BLOCKS_RESTART = (
    "a restarted node whose commit log holds a timestamp more than max_clock_offset_ms ahead "
    "of its clock (a version from a fast peer) cannot open that database: CommitPipeline's "
    "constructor calls hlc.update(max_commit_ts) and ClockOffsetError escapes (pipeline.py "
    "__init__ <- server_state.pipeline), so every write, apply and catch-up of that database "
    "fails on that node (sim: cluster-chaos seeds 39, 46: internal-error, log-gap, diverged)")

LATE_VOTE_DROPS_ACCEPTANCE = (
    "BatchRound keeps one _outstanding set for both phases: a vote that arrives after the "
    "decision (the round decides as soon as enough voters answered, so with 5 members the "
    "slow voters' Votes usually come after the Accepts left) removes that peer from the "
    "Accept's outstanding set, and its Accepted is then ignored ('node_id not in "
    "_outstanding'). A quorum that accepted is answered 1180; and when such an ignored answer "
    "is the round's last event, _check_accepted never runs again: the round never ends, the "
    "coordinator's pipeline stays _deciding and every later write on that node waits "
    "(sim: cluster-clock seed 31: node 1 wedged, 45 intents held, no-reply)")


@contextlib.contextmanager
def cluster(seed: int = 1) -> Iterator[ClusterRun]:
    """Three nodes after the setup (tables and first rows replicated, nothing undecided);
    the seed draws the settings (seed 1: durability "normal", seed 2: "fsync")."""
    with opened(seed, "cluster-calm", 3) as run:
        run.setup()
        yield run


def ok(run: ClusterRun, node_id: int, *statements: str) -> list[Reply]:
    replies = run.run_statements(node_id, ["USE simdb", *statements])
    assert all(r is not None and r.error is None for r in replies), replies
    return replies[1:]  # type: ignore[return-value]


def origin_log(run: ClusterRun, node_id: int, origin: int) -> dict[int, bytes]:
    return run.world.read_database(node_id, "simdb", lambda conn: {
        e.origin_seq: e.write_set for e in iter_log(conn) if e.origin == origin})


@pytest.mark.parametrize("level, trigger", [
    ("QUORUM", CrashTrigger("send", PREPARE_TAG, 1)),  # after the Prepare to node 2 left
    ("ONE", CrashTrigger("send", LEARN_TAG, 2)),       # after both Learns, before its COMMIT
])
def test_a_restarted_coordinator_never_reuses_an_origin_sequence(level: str,
                                                                 trigger: CrashTrigger) -> None:
    # cluster-crash (decision-differs, split-decision, stuck intents): the coordinator
    # recorded a batch only at its own acceptance, so a batch that died before its decision,
    # or was decided without one, was reused; a peer applied the old transaction under the
    # new decision. Fixed: the batch is recorded before the first Prepare leaves.
    with cluster() as run:
        world = run.world
        world.crash_on(1, trigger)
        assert run.run_statements(1, [
            "USE simdb", f"SET marmot_write_consistency = '{level}'",
            "INSERT INTO sset VALUES (1, 0)"], within_us=200_000)[-1] is None
        assert not world.machines[1].is_up
        world.restart(1)
        ok(run, 1, "INSERT INTO sset VALUES (2, 0)")  # acknowledged
        world.run_until(world.now_us + 3_000_000)
        logs = {n: origin_log(run, n, origin=1) for n in run.ids}
        for seq, mine in logs[1].items():
            for node_id in (2, 3):
                assert logs[node_id].get(seq, mine) == mine, f"1:{seq} differs on {node_id}"
        held = {n: run.world.read_database(n, "simdb", lambda c: [
            r[0] for r in c.execute("SELECT id FROM sset")]) for n in run.ids}
        assert all(2 in ids for ids in held.values()), held


def test_a_restarted_participant_keeps_the_intents_of_what_it_prepared() -> None:
    # cluster-crash (lost-update): a restarted participant voted YES over its own undecided
    # intent. Fixed: a restart reloads the intents of the undecided instances in the store.
    with cluster() as run:
        world = run.world
        world.crash_on(1, CrashTrigger("send", PREPARE_TAG, 2))  # both peers got the Prepare
        assert run.run_statements(1, ["USE simdb", "UPDATE reg SET v = 1 WHERE k = 1"],
                                  within_us=200_000)[-1] is None
        participant = world.machines[3].node
        assert participant is not None and participant.cluster is not None
        prepared = len(participant.cluster.intents)
        assert prepared and participant.cluster.store.load()  # undecided: nobody decides it
        world.crash(3)
        world.restart(3)
        restarted = world.machines[3].node
        assert restarted is not None and restarted.cluster is not None
        assert len(restarted.cluster.intents) == prepared


def test_a_recovered_instance_leaves_no_record_behind() -> None:
    # cluster-partition (unforgotten): a node that accepted a recovery's vector without the
    # write sets kept the acceptor record after catch-up applied the outcome. Fixed: a learn
    # without write sets forgets the acceptor state.
    with cluster() as run:
        world = run.world
        world.crash_on(1, CrashTrigger("send", PREPARE_TAG, 1))  # node 3 never hears of it
        assert run.run_statements(1, ["USE simdb", "INSERT INTO sset VALUES (1, 0)"],
                                  within_us=200_000)[-1] is None
        world.run_until(world.now_us + 30_000_000)  # node 2 recovers it; catch-up runs
        for node_id in (2, 3):
            node = world.machines[node_id].node
            assert node is not None and node.cluster is not None
            assert set(origin_log(run, node_id, origin=1)) >= {8}  # applied (abort marker)
            assert node.cluster.store.load() == {}, node_id


def test_a_peer_outcome_applies_after_a_transaction_that_wrote_nothing() -> None:
    with cluster() as run:
        world = run.world
        replies: list[Reply] = []
        session = world.open_session(1)
        assert session is not None
        for request, sql in enumerate(["USE simdb", "BEGIN",
                                       "SELECT v FROM reg WHERE k = 1 FOR UPDATE"], 1):
            world.on_reply = lambda node, generation, reply: replies.append(reply)
            world.submit(1, session, request, sql)  # node 1 holds its write turn ...
            world.run_until(world.now_us + 10_000)
        ok(run, 2, "UPDATE reg SET v = 5 WHERE k = 2")  # ... when it learns this one
        world.on_reply = lambda node, generation, reply: replies.append(reply)
        world.submit(1, session, 4, "COMMIT")  # nothing written: the turn goes back
        world.run_until(world.now_us + 100_000)
        assert [r.error for r in replies] == [None] * 4
        assert world.internal_errors == []
        assert world.read_database(1, "simdb", lambda c: c.execute(
            "SELECT v FROM reg WHERE k = 2").fetchall()) == [(5,)]


def test_a_row_written_by_a_fast_peer_stays_writable() -> None:
    with cluster() as run:
        world = run.world
        world.jump_clock(2, 3_000_000)  # node 2 lives 3 s ahead
        ok(run, 2, "SET marmot_write_consistency = 'ONE'",
           "UPDATE counter SET n = n + 1 WHERE id = 1")  # its version reaches node 1 too
        world.run_until(world.now_us + 100_000)
        replies = run.run_statements(1, ["USE simdb", "UPDATE counter SET n = n + 1 WHERE id = 1"])
        assert replies[-1] is not None and replies[-1].error is None, replies[-1]


def test_a_node_restarts_over_a_log_from_a_fast_peer() -> None:
    with cluster() as run:
        world = run.world
        world.jump_clock(2, 3_000_000)  # node 2 lives 3 s ahead
        ok(run, 2, "SET marmot_write_consistency = 'ONE'", "INSERT INTO sset VALUES (1, 2)")
        world.run_until(world.now_us + 100_000)  # node 1 logged it, 3 s ahead of its clock
        world.crash(1)
        world.restart(1)
        replies = run.run_statements(1, ["USE simdb", "INSERT INTO sset VALUES (2, 1)"])
        assert replies[-1] is not None and replies[-1].error is None, replies[-1]
        assert world.internal_errors == []


def test_acceptances_of_slow_voters_count() -> None:
    with opened(1, "cluster-calm", 5) as run:
        run.setup()
        assert run.settings.decision_timeout_ms == 2000
        world = run.world
        for slow in (4, 5):  # their frames to node 1 arrive a second late, in order
            world.set_link(slow, 1, LinkFault(drop_rate=1.0))
        for dies in (2, 3):  # they vote at once, then die: their Accepts are never answered
            world.crash_on(dies, CrashTrigger("send", VOTES_TAG, 1))
        replies: list[Reply] = []
        session = world.open_session(1)
        assert session is not None
        world.on_reply = lambda node, generation, reply: replies.append(reply)
        world.submit(1, session, 1, "USE simdb")
        world.run_until(world.now_us + 10_000)
        world.submit(1, session, 2, "INSERT INTO sset VALUES (1, 0)")  # decided on the votes
        world.run_until(world.now_us + 4_000_000)  # of 1, 2, 3; accepted by 1, 4, 5 (a second
        # later): OK, not 1180 at the Accept timeout of 2 and 3
        assert len(replies) == 2 and replies[1].error is None, replies[-1]


def test_a_vote_survives_power_loss_with_durability_fsync() -> None:
    with cluster(seed=2) as run:
        assert run.durability == "fsync"
        world = run.world
        for disk in world.disks:  # from now on writes not covered by a sync are lost with
            disk.mode, disk.torn_keep = "power", 0.0  # the power
        world.crash_on(1, CrashTrigger("send", PREPARE_TAG, 2))  # both peers voted YES
        assert run.run_statements(1, ["USE simdb", "UPDATE reg SET v = 1 WHERE k = 1"],
                                  within_us=200_000)[-1] is None
        voter = world.machines[3].node
        assert voter is not None and voter.cluster is not None
        voted = voter.cluster.store.load()
        assert voted
        world.crash(3, "power loss")
        world.restart(3)
        restarted = world.machines[3].node
        assert restarted is not None and restarted.cluster is not None
        assert restarted.cluster.store.load() == voted


def test_a_peer_clock_far_ahead_never_wedges_the_coordinator() -> None:
    # cluster-clock (internal-error, no-reply): ClockOffsetError escaped BatchRound._on_votes
    # after the voter had left the outstanding set, so the round never decided and the
    # coordinator's pipeline waited for good. Fixed: a clock too far ahead is a NO vote.
    with cluster() as run:
        world = run.world
        world.jump_clock(2, 3_000_000)  # node 2 lives 3 s ahead: its votes carry that clock
        replies = run.run_statements(1, ["USE simdb", "SET marmot_write_consistency = 'ALL'",
                                         *(f"INSERT INTO sset VALUES ({i}, 0)"
                                           for i in range(1, 9))], within_us=10_000_000)
        assert all(r is not None for r in replies), "a write never got an answer"
        assert world.internal_errors == []


def _half_transfer_read(read_level: str) -> tuple[int, int]:
    """Node 3 hears of transfer A (node 1) a second late, and of transfer B (node 2), built
    on A, at once; then it reads the total at ``read_level``."""
    with cluster() as run:
        world = run.world
        world.set_link(1, 3, LinkFault(drop_rate=1.0))  # node 1's frames reach 3 a second late
        ok(run, 1, "BEGIN", "UPDATE bank SET bal = bal - 10 WHERE id = 1",
           "UPDATE bank SET bal = bal + 10 WHERE id = 2", "COMMIT")
        world.run_until(world.now_us + 50_000)  # node 2 learned it; node 3 has not heard of it
        ok(run, 2, "BEGIN", "UPDATE bank SET bal = bal - 5 WHERE id = 2",
           "UPDATE bank SET bal = bal + 5 WHERE id = 3", "COMMIT")
        world.run_until(world.now_us + 50_000)
        (total,) = ok(run, 3, f"SET marmot_read_consistency = '{read_level}'",
                      "SELECT COUNT(*), SUM(bal) FROM bank")[1:]
        world.set_link(1, 3, HEALTHY)
        return tuple(total.result.rows[0])  # type: ignore[union-attr, return-value]


def test_a_local_read_never_sees_half_of_a_transfer() -> None:
    # cluster-partition, bank (a LOCAL read saw a total off): a replica applied a transfer
    # before the one it was built on, and last-write-wins applied the older one in part.
    # Fixed: replicas apply in causal order.
    assert _half_transfer_read("LOCAL") == BANK_TOTAL


def test_a_quorum_read_never_sees_half_of_a_transfer() -> None:
    assert _half_transfer_read("QUORUM") == BANK_TOTAL


def test_origins_that_depend_on_each_other_catch_up_together() -> None:
    # cluster-partition seed 21, 5 nodes (found by the 210-seed CI sweep): after one-way cuts
    # and an isolation, node 1 stayed at origin 2's entry 78 of 145 20 s after the heal. Each
    # catch-up page stopped at its first entry built on another origin's entry not applied
    # yet, and that origin's page at its first entry waiting for this one: a few entries per
    # origin per catch-up interval. Fixed: a page applies every entry whose bases are here,
    # and what waited is pulled again as soon as anything else was applied.
    result = run_one(21, "cluster-partition", 5)
    assert result.ok, f"{result.summary()}\n{result.violation or result.error}"
