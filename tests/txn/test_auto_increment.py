"""AUTO_INCREMENT from per-node ranges claimed through committed transactions (txn/DESIGN.md §9).

Three sans-I/O nodes wired in memory (the harness of test_cluster_commit.py): claims are
ordinary replicated write sets, so concurrent inserts on every node never pick one id, ids
stay small, explicit ids are kept (and generated ones step over them), LAST_INSERT_ID() is the
first generated id, a cut-off node with no range refuses with 1047, ranges are refilled in
the background before they run out, a statement larger than the ranges (or a trigger's table
without one) claims and runs again, an explicit transaction holding the turn claims inside
itself, narrow types stop at their maximum, and SHOW / INFORMATION_SCHEMA report this node's
next id.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from marmotdb.node import Node, Reply
from marmotdb.peer.catalog import all_messages
from marmotdb.peer.codec import FrameCodec
from marmotdb.txn.auto_increment import Ranges
from tests.txn.test_cluster_commit import SECRET, USERS, Cluster, rows


@pytest.fixture
def cluster(tmp_path: Path):
    c = Cluster(tmp_path).in_database()
    c.ok(1, "CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40))")
    yield c
    c.close()


def ranges(cluster: Cluster, node_id: int) -> Ranges:
    return cluster.nodes[node_id].state.auto_increment_ranges["d"]


def settle(cluster: Cluster, requests: list[tuple[int, int]], steps: int = 200) -> list[Reply]:
    """Deliver and let time pass until every request is answered."""
    cluster.deliver()
    for _ in range(steps):
        if all(r in cluster.replies for r in requests):
            break
        cluster.advance(20)
    return [cluster.replies.pop(r) for r in requests]


def claims(cluster: Cluster, node_id: int) -> list[tuple[Any, ...]]:
    state = cluster.nodes[node_id].state
    conn = state.read_connection(state.databases.get("d"))
    with state.binding(conn).trusted_scope():
        return [tuple(r) for r in conn.execute(
            "SELECT tbl, claim, node, lo, hi FROM __marmot_auto_increment ORDER BY claim")]


def conflict_retries(cluster: Cluster) -> int:
    return sum(n.state.status["Marmot_conflict_retries"] for n in cluster.nodes.values())


def test_concurrent_multi_row_inserts_on_every_node_never_share_an_id(cluster: Cluster) -> None:
    requests = []
    for round_no in range(20):  # 20 clients per node, each one 50-row INSERT, all at once
        for node_id, node in cluster.nodes.items():
            client = node.open_session("root", now_ms=cluster.now_ms, database="d")
            values = ", ".join(f"('n{node_id} r{round_no} {k}')" for k in range(50))
            cluster._request += 1
            node.submit(client, cluster._request, f"INSERT INTO item (name) VALUES {values}",
                        now_ms=cluster.now_ms)
            requests.append((node_id, cluster._request))
    replies = settle(cluster, requests)
    assert [r.error for r in replies] == [None] * len(requests)
    assert conflict_retries(cluster) == 0  # no insert lost a conflict over an id
    firsts = [r.result.last_insert_id for r in replies]  # type: ignore[union-attr]
    assert len(set(firsts)) == len(firsts)
    ids = [r[0] for r in rows(cluster, 1, "SELECT id FROM item ORDER BY id")]
    assert len(ids) == len(set(ids)) == 3000
    assert max(ids) < 10_000  # small: a 32-bit column lasts
    for node_id in (2, 3):
        cluster.advance(100)
        assert [r[0] for r in rows(cluster, node_id, "SELECT id FROM item ORDER BY id")] == ids
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)
    chain = claims(cluster, 1)
    assert chain == claims(cluster, 2) == claims(cluster, 3)  # claims are replicated rows
    spans = sorted((lo, hi) for _, _, _, lo, hi in chain)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))  # disjoint ranges
    owner = {n for _, _, n, lo, hi in chain for i in ids if lo <= i <= hi}
    assert owner == {1, 2, 3}


def test_each_row_of_a_statement_gets_an_id_of_the_node_that_ran_it(cluster: Cluster) -> None:
    first = cluster.ok(2, "INSERT INTO item (name) VALUES ('a'), ('b'), ('c')")
    assert first.result.last_insert_id == 1  # type: ignore[union-attr]
    cluster.ok(3, "INSERT INTO item (name) VALUES ('x')")  # node 3 claims the next range
    assert rows(cluster, 3, "SELECT id, name FROM item ORDER BY id") == [
        (1, "a"), (2, "b"), (3, "c"), (1001, "x")]
    assert rows(cluster, 2, "SELECT LAST_INSERT_ID()") == [(1,)]
    reply = cluster.ok(2, "INSERT INTO item (name) SELECT CONCAT(name, '2') FROM item "
                          "WHERE id < 100 ORDER BY id")
    assert reply.result.last_insert_id == 4  # type: ignore[union-attr]
    cluster.ok(2, "REPLACE INTO item (name) VALUES ('r')")
    cluster.ok(2, "INSERT IGNORE INTO item (id, name) VALUES (1, 'dup'), (NULL, 'i')")
    cluster.ok(2, "INSERT INTO item (name) VALUES ('u') ON DUPLICATE KEY UPDATE name = 'v'")
    cluster.ok(2, "INSERT INTO item () VALUES ()")
    session = cluster.nodes[2].session(cluster.sessions[2])
    plan = session.prepare("INSERT INTO item (id, name) VALUES (?, ?)")
    cluster._request += 1
    cluster.nodes[2].submit_prepared(cluster.sessions[2], cluster._request, plan, [None, "p"],
                                     now_ms=cluster.now_ms)
    prepared = settle(cluster, [(2, cluster._request)])[0]
    assert prepared.error is None
    assert prepared.result.last_insert_id == 11  # type: ignore[union-attr]
    assert rows(cluster, 1, "SELECT id, name FROM item WHERE id BETWEEN 4 AND 11 ORDER BY id"
                ) == [(4, "a2"), (5, "b2"), (6, "c2"), (7, "r"), (8, "i"), (9, "u"),
                      (10, None), (11, "p")]
    assert conflict_retries(cluster) == 0


def test_explicit_ids_are_kept_and_generated_ids_step_over_them(cluster: Cluster) -> None:
    cluster.ok(1, "INSERT INTO item (name) VALUES ('first')")  # node 1 owns 1..1000
    cluster.ok(2, "INSERT INTO item VALUES (3, 'explicit on 2'), (2000000000, 'far')")
    cluster.advance(50)  # learned on node 1
    reply = cluster.ok(1, "INSERT INTO item (name) VALUES ('a'), ('b'), ('c')")
    assert reply.result.last_insert_id == 2  # type: ignore[union-attr]
    assert rows(cluster, 1, "SELECT id, name FROM item WHERE id < 10 ORDER BY id") == [
        (1, "first"), (2, "a"), (3, "explicit on 2"), (4, "b"), (5, "c")]  # 3 skipped
    cluster.ok(1, "INSERT INTO item VALUES (0, 'zero'), (NULL, 'null')")
    assert rows(cluster, 1, "SELECT id FROM item WHERE name IN ('zero', 'null') ORDER BY id"
                ) == [(6,), (7,)]
    cluster.ok(1, "SET sql_mode = 'NO_AUTO_VALUE_ON_ZERO'")
    cluster.ok(1, "INSERT INTO item VALUES (0, 'kept zero')")
    assert rows(cluster, 1, "SELECT id FROM item WHERE name = 'kept zero'") == [(0,)]


def test_a_cut_off_node_without_a_range_refuses_with_1047_never_a_duplicate(
        cluster: Cluster) -> None:
    cluster.ok(1, "INSERT INTO item (name) VALUES ('majority')")
    cluster.cut = {3}
    for level in ("QUORUM", "ONE"):
        cluster.ok(3, f"SET marmot_write_consistency = '{level}'")
        reply = cluster.run(3, "INSERT INTO item (name) VALUES ('minority')")
        assert reply.error is not None and reply.error.code == 1047, reply.error
    cluster.ok(1, "SET marmot_write_consistency = 'ONE'")  # a node holding a range: no claim
    cluster.cut = {1}
    cluster.ok(1, "INSERT INTO item (name) VALUES ('alone at ONE')")
    cluster.cut = set()
    cluster.advance(1000)
    cluster.ok(2, "INSERT INTO item (name) VALUES ('after the heal')")
    cluster.advance(2000)  # catch-up
    found = rows(cluster, 2, "SELECT id, name FROM item ORDER BY id")
    assert [name for _, name in found] == ["majority", "alone at ONE", "after the heal"]
    assert len({i for i, _ in found}) == 3
    assert rows(cluster, 3, "SELECT COUNT(*) FROM item WHERE name = 'minority'") == [(0,)]


def test_an_insert_whose_claim_ends_unknown_did_not_run_and_says_so(cluster: Cluster) -> None:
    cluster.dropped_tags = {35}  # Accepted: the claim's decision reaches no quorum in time
    reply = cluster.run(3, "INSERT INTO item (name) VALUES ('waits for a claim')")
    assert reply.error is not None and reply.error.code == 1047, reply.error  # not 1180
    cluster.dropped_tags = set()
    cluster.advance(3000)  # recovery finishes the claim; its range is never used
    cluster.ok(3, "INSERT INTO item (name) VALUES ('after')")
    for node_id in cluster.nodes:
        assert rows(cluster, node_id, "SELECT name FROM item") == [("after",)]


def test_ranges_are_refilled_before_they_run_out(cluster: Cluster) -> None:
    ranges(cluster, 1).block_size = 10
    cluster.ok(1, "INSERT INTO item (name) VALUES ('one')")  # claims 1..10
    assert ranges(cluster, 1).claims == 1
    for k in range(5):  # ids 2..6: 4 left, below half a block: the next claim starts
        cluster.ok(1, f"INSERT INTO item (name) VALUES ('{k}')")
    cluster.advance(20)
    assert ranges(cluster, 1).claims == 2 and ranges(cluster, 1).remaining("item") == 14
    reply = cluster.ok(1, "INSERT INTO item (name) VALUES ('a'), ('b'), ('c'), ('d'), ('e')")
    assert reply.result.last_insert_id == 7  # type: ignore[union-attr]
    assert [r[0] for r in rows(cluster, 1, "SELECT id FROM item ORDER BY id")] == list(
        range(1, 12))  # 7..10 then 11 from the claim made in the background


def test_a_statement_larger_than_the_ranges_claims_and_runs_again(cluster: Cluster) -> None:
    ranges(cluster, 2).block_size = 10
    values = ", ".join(f"('v{k}')" for k in range(35))
    reply = cluster.ok(2, f"INSERT INTO item (name) VALUES {values}")
    assert reply.result.affected_rows == 35  # type: ignore[union-attr]
    reply = cluster.ok(2, "INSERT INTO item (name) SELECT name FROM item")
    assert reply.result.affected_rows == 35  # type: ignore[union-attr]
    ids = [r[0] for r in rows(cluster, 1, "SELECT id FROM item ORDER BY id")]
    assert len(set(ids)) == 70 and max(ids) < 200


def test_an_explicit_transaction_holding_the_turn_claims_inside_itself(cluster: Cluster) -> None:
    cluster.ok(1, "CREATE TABLE note (id INT PRIMARY KEY)")
    cluster.ok(2, "INSERT INTO item (name) VALUES ('two')")  # node 2 owns 1..1000
    cluster.ok(1, "BEGIN")
    cluster.ok(1, "INSERT INTO note VALUES (1)")  # node 1 holds the turn from here
    reply = cluster.ok(1, "INSERT INTO item (name) VALUES ('in txn'), ('in txn too')")
    assert reply.result.last_insert_id == 1001  # type: ignore[union-attr]
    assert ranges(cluster, 1).remaining("item") == 0  # the riding range is not yet everyone's
    cluster.ok(1, "COMMIT")
    assert ranges(cluster, 1).remaining("item") == 998  # committed: it is node 1's now
    cluster.ok(1, "INSERT INTO item (name) VALUES ('after')")
    cluster.advance(50)
    assert rows(cluster, 3, "SELECT id, name FROM item ORDER BY id") == [
        (1, "two"), (1001, "in txn"), (1002, "in txn too"), (1003, "after")]
    assert [c[2] for c in claims(cluster, 3)] == [2, 1]


def test_a_rolled_back_transaction_gives_its_riding_range_up(cluster: Cluster) -> None:
    cluster.ok(1, "CREATE TABLE note (id INT PRIMARY KEY)")
    cluster.ok(1, "BEGIN")
    cluster.ok(1, "INSERT INTO note VALUES (1)")
    cluster.ok(1, "INSERT INTO item (name) VALUES ('gone')")
    cluster.ok(1, "ROLLBACK")
    reply = cluster.ok(2, "INSERT INTO item (name) VALUES ('two')")  # claim 1 is free again
    assert reply.result.last_insert_id == 1  # type: ignore[union-attr]
    reply = cluster.ok(1, "INSERT INTO item (name) VALUES ('one')")  # never reuses 1..1000
    assert reply.result.last_insert_id == 1001  # type: ignore[union-attr]


def test_a_cluster_of_one_claims_locally(tmp_path: Path) -> None:
    solo = Cluster(tmp_path, size=1)
    try:
        solo.ok(1, "CREATE DATABASE d")
        solo.ok(1, "USE d")
        solo.ok(1, "CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)")
        reply = solo.ok(1, "INSERT INTO item (name) VALUES ('a'), ('b')")
        assert reply.result.last_insert_id == 1  # type: ignore[union-attr]
        assert claims(solo, 1) == [("item", 1, 1, 1, 1000)]
        assert solo.nodes[1].cluster is not None and solo.nodes[1].cluster.rounds == 0
    finally:
        solo.close()


def test_a_trigger_inserting_elsewhere_takes_that_tables_ids_not_the_insert_id(
        cluster: Cluster) -> None:
    cluster.ok(1, "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, item_name TEXT)")
    cluster.ok(1, "CREATE TRIGGER item_audit BEFORE INSERT ON item FOR EACH ROW "
                  "INSERT INTO audit (item_name) VALUES (NEW.name)")
    cluster.ok(2, "INSERT INTO audit (item_name) VALUES ('node 2 claims audit first')")
    reply = cluster.ok(1, "INSERT INTO item (name) VALUES ('a'), ('b')")
    assert reply.result.last_insert_id == 1  # type: ignore[union-attr]  # item's, not audit's
    cluster.advance(50)
    assert rows(cluster, 3, "SELECT id, item_name FROM audit ORDER BY id") == [
        (1, "node 2 claims audit first"), (1001, "a"), (1002, "b")]
    assert rows(cluster, 3, "SELECT id, name FROM item ORDER BY id") == [(1, "a"), (2, "b")]


def test_the_block_size_setting_sizes_the_claims(tmp_path: Path) -> None:
    from marmotdb import config
    from marmotdb.sql.server_settings import state_options

    options = state_options(config.load(None, {
        "MARMOTDB_CLUSTER_AUTO_INCREMENT_BLOCK_SIZE": "25"}), "8.0.36")
    assert options["auto_increment_block_size"] == 25
    c = Cluster(tmp_path, size=1)
    try:
        c.close()
        c.nodes[1] = Node(tmp_path / "n1", users=USERS, node_id=1, now_ms=c.now_ms,
                          rng=random.Random(1), on_output=lambda out: c._output(1, out),
                          state_options={"auto_increment_block_size": 25})
        c.nodes[1].attach_cluster(FrameCodec([SECRET], registry=all_messages()), c._roster)
        c.sessions[1] = c.nodes[1].open_session("root", now_ms=c.now_ms)
        c.ok(1, "CREATE DATABASE d")
        c.ok(1, "USE d")
        c.ok(1, "CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY)")
        c.ok(1, "INSERT INTO item () VALUES ()")
        assert claims(c, 1) == [("item", 1, 1, 1, 25)]
    finally:
        c.close()


def test_show_create_table_and_information_schema_report_this_nodes_next_id(
        cluster: Cluster) -> None:
    cluster.ok(1, "INSERT INTO item (name) VALUES ('a'), ('b')")  # node 1: 1..1000, next 3
    cluster.ok(2, "INSERT INTO item (name) VALUES ('c')")         # node 2: 1001..2000, next 1002
    cluster.advance(50)
    expected = {1: 3, 2: 1002, 3: 2001}  # node 3 has no range: where its claim would start
    for node_id, next_id in expected.items():
        text = rows(cluster, node_id, "SHOW CREATE TABLE item")[0][1]
        assert f"AUTO_INCREMENT={next_id} " in text, (node_id, text)
        assert rows(cluster, node_id, "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                                      "WHERE TABLE_NAME = 'item'") == [(next_id,)]
        assert rows(cluster, node_id, "SELECT @@auto_increment_increment, "
                                      "@@auto_increment_offset") == [(1, 1)]
    status = rows(cluster, 1, "SHOW TABLE STATUS LIKE 'item'")[0]
    assert status[10] == 3


def test_a_narrow_column_is_claimed_in_small_blocks_and_refuses_past_its_type(
        cluster: Cluster) -> None:
    cluster.ok(1, "CREATE TABLE tiny (id TINYINT AUTO_INCREMENT PRIMARY KEY, v INT)")
    cluster.ok(1, "INSERT INTO tiny (v) VALUES (1)")  # claims 1..1, refills 2..2 at once
    cluster.ok(2, "INSERT INTO tiny (v) VALUES (2)")
    assert rows(cluster, 2, "SELECT id, v FROM tiny ORDER BY id") == [(1, 1), (3, 2)]
    assert [(c[2],) + c[3:] for c in claims(cluster, 2) if c[0] == "tiny"][:3] == [
        (1, 1, 1), (1, 2, 2), (2, 3, 3)]  # TINYINT: one id per claim, 127 // 64
    cluster.ok(3, "INSERT INTO tiny VALUES (127, 3)")
    cluster.advance(50)
    cluster.ok(1, "INSERT INTO tiny (v) VALUES (4)")  # its refilled id 2
    reply = cluster.run(1, "INSERT INTO tiny (v) VALUES (5)")  # nothing left below 128
    assert reply.error is not None and reply.error.code == 1467, reply.error
    assert rows(cluster, 1, "SELECT id, v FROM tiny ORDER BY id") == [
        (1, 1), (2, 4), (3, 2), (127, 3)]


def test_a_session_holding_lock_tables_write_still_gets_a_claim(cluster: Cluster) -> None:
    cluster.ok(3, "LOCK TABLES item WRITE")
    reply = cluster.ok(3, "INSERT INTO item (name) VALUES ('locked')")  # the claim passes
    assert reply.result.last_insert_id == 1  # type: ignore[union-attr]
    cluster.ok(3, "UNLOCK TABLES")


def test_an_update_whose_trigger_inserts_gets_ids_like_an_insert(cluster: Cluster) -> None:
    cluster.ok(1, "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, item_name TEXT)")
    cluster.ok(1, "INSERT INTO item VALUES (1, 'a'), (2, 'b')")
    cluster.ok(1, "CREATE TRIGGER item_renamed AFTER UPDATE ON item FOR EACH ROW "
                  "INSERT INTO audit (item_name) VALUES (NEW.name)")
    cluster.ok(2, "UPDATE item SET name = CONCAT(name, '!')")  # autocommit: claims, runs again
    cluster.ok(3, "BEGIN")
    cluster.ok(3, "UPDATE item SET name = CONCAT(name, '?') WHERE id = 1")  # rides a claim
    cluster.ok(3, "COMMIT")
    cluster.advance(50)
    assert rows(cluster, 1, "SELECT id, item_name FROM audit ORDER BY id") == [
        (1, "a!"), (2, "b!"), (1001, "a!?")]


def test_a_restarted_node_claims_anew_and_never_reuses_its_old_range(cluster: Cluster) -> None:
    cluster.ok(1, "INSERT INTO item (name) VALUES ('before')")  # node 1: 1..1000, in memory
    cluster.restart(1)
    reply = cluster.ok(1, "INSERT INTO item (name) VALUES ('after')")
    assert reply.result.last_insert_id == 1001  # type: ignore[union-attr]  # the rest: a gap
    assert [c[2:] for c in claims(cluster, 2)] == [(1, 1, 1000), (1, 1001, 2000)]
