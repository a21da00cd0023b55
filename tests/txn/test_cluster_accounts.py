"""Accounts replicate with the rest (marmotdb/accounts/DESIGN.md): three in-memory nodes (the
Cluster of test_cluster_commit.py), CREATE USER / GRANT on one node, login and checks on another."""

from __future__ import annotations

from pathlib import Path

import pytest

from marmotdb.mysql.auth import AuthExchange, parse_credential, scramble_native
from tests.txn.test_cluster_commit import T0, Cluster, rows

SCRAMBLE = bytes(range(1, 21))


def logs_in(cluster: Cluster, node_id: int, user: str, password: str) -> bool:
    """The real mysql_native_password exchange against the node's stored credential."""
    stored = cluster.nodes[node_id].state.users.credential(user, "10.0.0.9")
    credential = parse_credential(stored) if stored is not None else None
    exchange = AuthExchange(credential, SCRAMBLE, tls=False, rsa_key=None)
    step = exchange.start("mysql_native_password", scramble_native(password, SCRAMBLE))
    return step.passed is True


@pytest.fixture
def cluster(tmp_path: Path):
    c = Cluster(tmp_path).in_database()
    c.ok(1, "CREATE TABLE t (id INT PRIMARY KEY)")
    yield c
    c.close()


def test_a_user_created_on_node_1_logs_in_on_node_3(cluster: Cluster) -> None:
    assert not logs_in(cluster, 3, "alice", "pw")
    cluster.ok(1, "CREATE USER 'alice'@'%' IDENTIFIED BY 'pw'")
    cluster.ok(1, "GRANT SELECT ON d.* TO 'alice'@'%'")
    assert logs_in(cluster, 3, "alice", "pw") and not logs_in(cluster, 3, "alice", "nope")
    session = cluster.nodes[3].open_session("alice", now_ms=T0, host="10.0.0.9", database="d")
    cluster.sessions[3] = session
    assert rows(cluster, 3, "SELECT COUNT(*) FROM t") == [(0,)]
    reply = cluster.run(3, "INSERT INTO t VALUES (1)")
    assert reply.error is not None and reply.error.code == 1142
    cluster.ok(2, "GRANT INSERT ON d.t TO 'alice'@'%'")  # granted on another node: seen here
    cluster.ok(3, "INSERT INTO t VALUES (1)")
    cluster.ok(2, "DROP USER 'alice'@'%'")
    assert not logs_in(cluster, 1, "alice", "pw") and not logs_in(cluster, 3, "alice", "pw")


def test_two_nodes_creating_one_user_at_once_do_not_both_succeed(cluster: Cluster) -> None:
    first = cluster.submit(1, "CREATE USER 'bob'@'%' IDENTIFIED BY 'one'")
    second = cluster.submit(2, "CREATE USER 'bob'@'%' IDENTIFIED BY 'two'")
    for _ in range(40):
        cluster.advance(100)
    answers = [cluster.replies.pop((1, first)), cluster.replies.pop((2, second))]
    assert sum(a.error is None for a in answers) == 1
    assert {a.error.code for a in answers if a.error is not None} <= {1396, 1213}
    passwords = [p for p in ("one", "two") if logs_in(cluster, 3, "bob", p)]
    assert len(passwords) == 1


def test_a_node_that_missed_create_user_refuses_until_it_caught_up(cluster: Cluster) -> None:
    cluster.cut = {3}
    cluster.ok(1, "CREATE USER 'carol'@'%' IDENTIFIED BY 'pw'")
    assert not logs_in(cluster, 3, "carol", "pw")  # not applied there yet: 1045, as documented
    cluster.cut = set()
    for _ in range(10):
        cluster.advance(1000)
    assert logs_in(cluster, 3, "carol", "pw")


def test_changing_the_config_root_by_sql_takes_over_on_every_node(cluster: Cluster) -> None:
    assert not cluster.nodes[3].state.users.get("root").stored  # from each node's config
    cluster.ok(1, "ALTER USER 'root'@'%' IDENTIFIED BY 'new-root'")
    for i in (1, 2, 3):
        root = cluster.nodes[i].state.users.get("root", "10.0.0.9")
        assert root is not None and root.stored and root.has("SUPER")
        assert logs_in(cluster, i, "root", "new-root")
