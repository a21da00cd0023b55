"""One SQL node crashed and restarted by the simulator (``marmotdb.sim.sql_world``).

The default run is the CI sweep (a few hundred runs, well under two minutes on a loaded
2-core machine: the simulated disk lives in /dev/shm); ``--run-slow`` adds thousands of seeds.
A failure names the seed and the command that replays it. The last tests prove the checkers
bite: hand-made violations of each invariant, and a product mutation (acknowledging a batch
before its COMMIT) that the simulator must catch.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import apsw
import pytest

from marmotdb.node import Node, Reply
from marmotdb.sim import sql_invariants
from marmotdb.sql import server_state
from marmotdb.sim.sql_invariants import SqlViolation, check_commit_order, check_files
from marmotdb.sim.sql_workloads import DATABASE, SETUP, TxnRecord
from marmotdb.sim.sql_disk import SimDisk, installed
from marmotdb.sim.sql_runner import run_one
from marmotdb.sim.sql_world import CrashPlan, SqlRun
from marmotdb.txn.pipeline import BRANCH_FAULT_POINT, FAULT_POINTS, CommitPipeline
from marmotdb.users import User, Users
from tests.sim.replay import printed_trace_hashes

CI_SEEDS = range(1, 116)  # 115: two databases cost ~30% more CPU per run than one did at 150
SLOW_SEEDS = range(1000, 4000)


def assert_runs_pass(seeds: range, crash: CrashPlan | None = None) -> list:
    results, failures = [], []
    for seed in seeds:
        result = run_one(seed, crash)
        results.append(result)
        if not result.ok:
            failures.append(f"{result.violation or result.error}\n    replay: "
                            f"{result.replay_command()}")
    assert not failures, f"{len(failures)} of {len(seeds)} seeds failed:\n" + "\n".join(failures)
    return results


def test_sql_crash_passes_for_ci_seeds() -> None:
    results = assert_runs_pass(CI_SEEDS)
    phases = {r.crash_phase for r in results}
    assert {"running", "in-batch-commit", "idle"} <= phases  # the sweep reaches each phase
    # transactions of two databases commit, and some crash leaves a branch to the restart
    assert sum(r.spanning for r in results) > 100 and sum(r.redone for r in results) > 3


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_crash_at_every_fault_point(point: str) -> None:
    results = assert_runs_pass(range(1, 7), CrashPlan(point, 3))
    assert all(r.crash_point == f"{point}#3" for r in results)


@pytest.mark.parametrize("mode", ["process", "power"])
def test_crash_after_the_first_branch_committed(mode: str) -> None:
    # between a two-database transaction's first COMMIT (the decision) and its second branch:
    # the restart's redo finishes it (the branch in both databases' logs, the total kept)
    results = assert_runs_pass(range(1, 9), CrashPlan(BRANCH_FAULT_POINT, 1, mode))
    assert all(r.crash_point == f"{BRANCH_FAULT_POINT}#1" for r in results)
    assert sum(r.redone for r in results) >= 4


@pytest.mark.parametrize("mode", ["process", "power"])
def test_crash_at_disk_writes_inside_a_batch_commit(mode: str) -> None:
    # io #k for a spread of k: many land between the first WAL frame and the commit frame
    results = []
    for k in (7, 23, 60, 97, 150):
        results += assert_runs_pass(range(1, 5), CrashPlan("io", k, mode))
    assert sum(r.crash_phase == "in-batch-commit" for r in results) >= 5


@pytest.mark.parametrize("spec", ["ioerr#30x1", "ioerr#60x2+1", "ioerr#90x5+4/power"])
def test_failed_batch_commits_fail_exactly_their_members(spec: str) -> None:
    # The disk refuses WAL writes/syncs: the node lives on, the failed batch's clients get
    # the error, and none of it may be there after the restart (crash soon after, or later)
    results = assert_runs_pass(range(1, 9), CrashPlan.parse(spec))
    assert any(r.acked < r.txns for r in results)


@pytest.mark.slow
def test_sql_crash_passes_for_many_seeds() -> None:
    assert_runs_pass(SLOW_SEEDS)


# ---------------------------------------------------------------------- determinism
def test_same_seed_same_trace_hash() -> None:
    for seed in (3, 17):
        first, second = run_one(seed), run_one(seed)
        assert first.ok and second.ok
        assert first.trace_hash == second.trace_hash
        assert (first.committed, first.acked, first.crash_point) == \
            (second.committed, second.acked, second.crash_point)
    assert len({run_one(seed).trace_hash for seed in range(20, 25)}) == 5


def test_trace_hash_does_not_depend_on_the_process_hash_seed() -> None:
    outputs = printed_trace_hashes("--seed", "11", "--scenario", "sql-crash")
    assert outputs[0] == outputs[1] == run_one(11).trace_hash[:16]


def test_forced_crash_replays_and_prints_its_command() -> None:
    plan = CrashPlan.parse("recorded#2/power")
    result = run_one(5, plan)
    assert result.ok and result.crash_point == "recorded#2"
    assert result.replay_command().endswith("--seed 5 --scenario sql-crash "
                                            "--crash recorded#2/power")
    assert run_one(5, plan).trace_hash == result.trace_hash


# ---------------------------------------------------------------------- the checkers bite
def test_acknowledging_before_the_batch_commit_is_caught(monkeypatch) -> None:
    flush = CommitPipeline._flush

    def early_ack(self: CommitPipeline) -> None:  # the bug: answer, then make durable
        for member in self._batch:
            member.pending.resolve(member.value)
        flush(self)

    monkeypatch.setattr(CommitPipeline, "_flush", early_ack)
    caught = [run_one(seed, CrashPlan("before_batch_commit", 4)) for seed in range(1, 9)]
    kinds = {r.violation.kind for r in caught if r.violation is not None}
    assert "lost-ack" in kinds, [r.summary() for r in caught]


def test_a_branch_left_unfinished_is_caught(monkeypatch) -> None:
    # the bug: the restart keeps no promise (no branch redo), so a crash between the two
    # COMMITs leaves the transaction in its first database only
    monkeypatch.setattr(server_state, "redo_pending_branches", lambda names, lend: 0)
    caught = [run_one(seed, CrashPlan(BRANCH_FAULT_POINT, 1)) for seed in range(1, 5)]
    assert all(r.violation is not None and r.violation.kind == "balance" for r in caught), \
        [r.summary() for r in caught]


def test_both_or_neither_checker_flags_a_half_committed_transaction() -> None:
    def logged(*txn_ids: int) -> list:
        return [SimpleNamespace(txn_id=SimpleNamespace(pack=lambda t=t: t)) for t in txn_ids]
    present = [_record(tag, 1, "committed") for tag in ("a", "b", "c")]
    spanning = [True, False, True]  # a and c wrote the second database
    sql_invariants.check_both_or_neither(logged(1, 2, 3), logged(3, 1), present, spanning)
    for second, detail in ((logged(1), r"\['c'\] committed in simdb but not"),
                           (logged(1, 3, 2), "1 transactions committed in simdb2"),
                           (logged(1, 3, 1), "twice")):
        with pytest.raises(SqlViolation, match=detail) as info:
            sql_invariants.check_both_or_neither(logged(1, 2, 3), second, present, spanning)
        assert info.value.kind == "half-committed"


def _record(tag: str, batch: int, end: str) -> TxnRecord:
    return TxnRecord(tag, 0, False, ["INSERT"], end=end, batch=batch)


def test_commit_order_checker_flags_each_violation() -> None:
    order = [_record("a", 1, "committed"), _record("b", 2, "committed"),
             _record("c", 2, "committed"), _record("d", 3, "failed"),
             _record("e", 4, "running")]
    done = {1, 2}  # batch 3 failed (its client was told), batch 4 was cut by the crash
    assert [r.tag for r in check_commit_order(order, done, 3, durable=True)] == ["a", "b", "c"]
    assert len(check_commit_order(order, done, 4, durable=True)) == 4  # e made it
    assert check_commit_order(order, done, 1, durable=False)  # power loss without fsync
    cases = {"lost-ack": (done, 1), "torn-batch": (done, 2), "phantom": (done, 5),
             "failed-present": ({1, 2, 3}, 4), "lost-commit": ({1, 2, 3, 4}, 4)}
    for kind, (committed, logged) in cases.items():
        with pytest.raises(SqlViolation) as info:
            check_commit_order(order, committed, logged, durable=True)
        assert info.value.kind == kind, (kind, info.value)
    in_flight_ack = [_record("a", 1, "committed")]  # acked, but its batch never returned
    with pytest.raises(SqlViolation, match="lost-ack"):
        check_commit_order(in_flight_ack, set(), 0, durable=True)
    rolled = [_record("a", 1, "rolled back")]
    with pytest.raises(SqlViolation, match="rolled-back-present"):
        check_commit_order(rolled, {1}, 1, durable=True)


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    """A node's database after the setup and a few writes, closed cleanly."""
    node = Node(tmp_path, users=Users([User("root", "x", {"*": "admin"})]), node_id=1,
                now_ms=1_700_000_000_000, rng=__import__("random").Random(1))
    session = node.open_session("root", now_ms=node.now_ms)
    statements = SETUP + ["INSERT INTO item (id, tag, qty) VALUES (1, 'a', 1), (2, 'b', 2)",
                          "UPDATE acct SET bal = bal + CASE id WHEN 1 THEN -5 WHEN 2 THEN 5 "
                          "END WHERE id IN (1, 2)", "DELETE FROM item WHERE id = 2",
                          "INSERT INTO event (tag, n) VALUES ('e', 1)"]
    for i, sql in enumerate(statements):
        node.submit(session, i, sql, now_ms=node.now_ms + i)
        (reply,) = node.take_outputs()
        assert isinstance(reply, Reply) and reply.error is None, (sql, reply)
    node.close()
    return tmp_path / "databases" / f"{DATABASE}.db"


TAMPERING = {
    "row-versions": "DELETE FROM __marmot_row_versions WHERE tbl = 'item' AND deleted = 0",
    "log-replay": "UPDATE item SET qty = 99 WHERE id = 1",
    "balance": "UPDATE acct SET bal = bal + 1 WHERE id = 3",
    "origin-seq": "DELETE FROM __marmot_commit_log WHERE seq = 5",
    "log-decode": "UPDATE __marmot_commit_log SET write_set = X'00' WHERE seq = 2",
    "applied-vector": "UPDATE __marmot_applied SET seq = seq + 1",
}


def test_file_checkers_pass_on_clean_files(database_file: Path) -> None:
    conn = apsw.Connection(str(database_file))
    assert len(check_files(conn)) == 9  # 4 tables + the accounts + 4 writes
    sql_invariants.check_balance([conn])
    conn.close()


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_file_checkers_flag_hand_made_violations(database_file: Path, kind: str) -> None:
    conn = apsw.Connection(str(database_file))
    conn.execute(TAMPERING[kind])
    with pytest.raises(SqlViolation) as info:
        sql_invariants.check_balance([conn])
        sql_invariants.check_files(conn)
    conn.close()
    assert info.value.kind == kind, info.value


# ---------------------------------------------------------------------- the simulated disk
def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith("-shm")}  # the wal-index is rebuilt


def test_the_dead_nodes_connections_write_nothing() -> None:
    with installed() as vfs:
        run = SqlRun(4, CrashPlan("joined_batch", 3))
        vfs.disks.append(run.disk)
        try:
            run.setup()
            run._run_queue()
            assert run.disk.crashed and run.node is None
            before = _files(run.disk.root)
            assert any(name.endswith("-wal") for name in before)
            assert run.disk.bury() > 0  # closing the last connection would checkpoint and
            assert _files(run.disk.root) == before  # delete the WAL: dropped, files intact
        finally:
            run.close()
            vfs.disks.remove(run.disk)


@pytest.mark.parametrize("mode, survivors", [("process", [(1,), (2,)]), ("power", [(1,)])])
def test_power_loss_loses_exactly_the_unsynced_writes(tmp_path: Path, mode: str,
                                                       survivors: list) -> None:
    disk = SimDisk(tmp_path / "m", __import__("random").Random(0), mode=mode, torn_keep=0.0)
    disk.root.mkdir()
    with installed() as vfs:
        vfs.disks.append(disk)
        conn = apsw.Connection(str(disk.root / "x.db"))
        conn.execute("PRAGMA journal_mode=WAL").fetchall()
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t(x)")
        conn.execute("INSERT INTO t VALUES (1)")      # synced at its commit
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("INSERT INTO t VALUES (2)")      # written, never synced
        disk.crash("test")
        disk.bury()
        disk.crashed = False
        conn = apsw.Connection(str(disk.root / "x.db"))
        assert conn.execute("SELECT x FROM t ORDER BY x").fetchall() == survivors
        conn.close()
        vfs.disks.remove(disk)


def test_a_failed_ddl_batch_leaves_no_schema_version_behind(tmp_path: Path) -> None:
    # Found by seeds 144 and 231 (schema-version): the pipeline kept the version a DDL had
    # claimed in a batch whose COMMIT failed, so the next DDL skipped a version.
    disk = SimDisk(tmp_path / "m", __import__("random").Random(0), wal_autocheckpoint_pages=0)
    disk.root.mkdir()
    with installed() as vfs:
        vfs.disks.append(disk)
        node = Node(disk.root, users=Users([User("root", "x", {"*": "admin"})]), node_id=1,
                    now_ms=1_700_000_000_000, rng=__import__("random").Random(0))
        s = node.open_session("root", now_ms=node.now_ms)

        def run(sql: str) -> Reply:
            node.submit(s, 0, sql, now_ms=node.now_ms)
            (reply,) = node.take_outputs()
            return reply  # type: ignore[return-value]

        for sql in ("CREATE DATABASE d", "USE d", "CREATE TABLE t (id INT PRIMARY KEY, n INT)"):
            assert run(sql).error is None
        disk.fail_at_io, disk.fail_ios = disk.io_count + 1, 1000  # the disk is full
        assert run("CREATE INDEX ix_n ON t (n)").error is not None
        disk.fail_at_io = None
        assert run("CREATE INDEX ix_n ON t (n)").error is None
        pipeline = node.state.pipelines["d"]
        with node.state.binding(pipeline.conn).trusted_scope():
            on_disk = pipeline.conn.execute("PRAGMA user_version").fetchall()[0][0]
        assert pipeline.schema_version == on_disk == 2
        node.close()
        vfs.disks.remove(disk)
