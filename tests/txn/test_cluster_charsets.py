"""A database's character set (CREATE/ALTER DATABASE) and the charsets a view, trigger or
routine records (schema.CreationCharsets) replicate with their DDL: every node shows what the
creating node shows, a node that was cut off during the DDL too once it has caught up."""

from __future__ import annotations

from pathlib import Path

from tests.txn.test_cluster_commit import Cluster, rows

SHOWN = [("SHOW CREATE DATABASE cs", 1),
         ("SHOW CREATE VIEW cs.v", slice(2, 4)),
         ("SHOW CREATE TRIGGER cs.tr", slice(3, 6)),
         ("SHOW CREATE PROCEDURE cs.p", slice(3, 6)),
         ("SHOW CREATE TABLE cs.t", 1)]


def _shown(cluster: Cluster, node_id: int) -> list[object]:
    return [tuple(rows(cluster, node_id, sql)[0])[part] for sql, part in SHOWN]


def test_every_node_shows_the_same_charsets(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path).in_database()  # (a restarted node reopens its session in d)
    try:
        cluster.cut = {3}
        for statement in ("CREATE DATABASE cs CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
                          "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci", "USE cs",
                          "CREATE TABLE t (id INT, note VARCHAR(5))",
                          "CREATE VIEW v AS SELECT id FROM t",
                          "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.note = 'x'",
                          "CREATE PROCEDURE p() SELECT 1"):
            cluster.ok(1, statement)
        cluster.advance(1000)
        cluster.restart(3)
        cluster.cut = set()
        for _ in range(6):
            cluster.advance(1000)
        first = _shown(cluster, 1)
        assert "COLLATE utf8mb4_unicode_ci" in str(first[0])
        assert first[1] == ("utf8mb4", "utf8mb4_general_ci")
        assert first[2] == first[3] == ("utf8mb4", "utf8mb4_general_ci", "utf8mb4_unicode_ci")
        assert "COLLATE=utf8mb4_unicode_ci" in str(first[4])
        assert _shown(cluster, 2) == first
        assert _shown(cluster, 3) == first
    finally:
        cluster.close()
