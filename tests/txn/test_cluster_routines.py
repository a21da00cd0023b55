"""Routines replicate with their database: created on one node of a 3-node in-memory cluster
(test_cluster_commit.Cluster), callable on the others, writes of the CALL replicated; a node
cut off while a routine was created and dropped catches up."""

from __future__ import annotations

from marmotdb.sql.results import CallResult
from tests.txn.test_cluster_commit import Cluster, cluster, rows  # noqa: F401 - the fixture

PROCEDURE = """CREATE PROCEDURE fill(IN n INT, OUT total INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  SET total = 0;
  WHILE i < n DO
    SET i = i + 1;
    INSERT INTO t VALUES (i, label(i));
    SET total = total + i;
  END WHILE;
  SELECT count(*) FROM t;
END"""


def test_a_procedure_created_on_node_1_is_called_on_node_3(cluster: Cluster) -> None:
    cluster.ok(1, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    cluster.ok(1, "CREATE FUNCTION label(x INT) RETURNS VARCHAR(10) RETURN CONCAT('n', x)")
    cluster.ok(1, PROCEDURE)
    reply = cluster.ok(3, "CALL fill(3, @total)")
    assert isinstance(reply.result, CallResult)
    assert [list(r.rows) for r in reply.result.results] == [[(3,)]]
    assert rows(cluster, 3, "SELECT @total") == [(6,)]
    for i in (1, 2, 3):
        assert rows(cluster, i, "SELECT id, v FROM t ORDER BY id") == [
            (1, "n1"), (2, "n2"), (3, "n3")]
        assert rows(cluster, i, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES "
                                "ORDER BY ROUTINE_NAME") == [("fill",), ("label",)]
    assert cluster.checksums(1) == cluster.checksums(2) == cluster.checksums(3)
    cluster.ok(2, "DROP PROCEDURE fill")
    reply = cluster.run(3, "CALL fill(1, @total)")
    assert reply.error is not None and reply.error.code == 1305


def test_a_node_cut_off_while_routines_changed_catches_up(cluster: Cluster) -> None:
    cluster.ok(1, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    cluster.cut = {3}
    cluster.ok(1, "CREATE FUNCTION label(x INT) RETURNS VARCHAR(10) RETURN CONCAT('n', x)")
    cluster.ok(2, PROCEDURE)
    cluster.ok(1, "CREATE PROCEDURE gone() SELECT 1")
    cluster.ok(2, "DROP PROCEDURE gone")
    cluster.advance(1000)
    cluster.cut = set()
    for _ in range(10):
        cluster.advance(1000)
    assert rows(cluster, 3, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES "
                            "ORDER BY ROUTINE_NAME") == [("fill",), ("label",)]
    cluster.ok(3, "CALL fill(2, @total)")
    assert rows(cluster, 1, "SELECT v FROM t ORDER BY id") == [("n1",), ("n2",)]
