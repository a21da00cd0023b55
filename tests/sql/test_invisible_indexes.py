"""VISIBLE / INVISIBLE indexes are kept and shown as MySQL 8 shows them (they used to be
accepted and silently dropped). SQLite has no such flag: its planner may still use an
invisible index (docs/compatibility.md, Differences); the results are the same. MariaDB has
IGNORED indexes instead, so there is no differential test; MySQL 8's answers are written out."""

from __future__ import annotations

from marmotdb.sql.server_state import ServerState
from tests.sql.sessions import error_code, rows, session

CREATE = ("CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT, KEY ka (a) INVISIBLE, "
          "UNIQUE KEY ub (b) COMMENT 'c' INVISIBLE)")


def _shown(s) -> str:  # type: ignore[no-untyped-def]
    return rows(s.execute("SHOW CREATE TABLE t"))[0][1]


def _visible(s) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return rows(s.execute("SELECT DISTINCT INDEX_NAME, IS_VISIBLE FROM information_schema."
                          "STATISTICS WHERE TABLE_SCHEMA = 'ix' ORDER BY INDEX_NAME"))


def test_created_invisible_and_shown(server: ServerState) -> None:
    s = session(server)
    for statement in ("CREATE DATABASE ix", "USE ix", CREATE,
                      "CREATE INDEX kab ON t (a, b) INVISIBLE"):
        s.execute(statement)
    assert _shown(s) == """CREATE TABLE `t` (
  `id` int NOT NULL,
  `a` int DEFAULT NULL,
  `b` int DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ub` (`b`) COMMENT 'c' /*!80000 INVISIBLE */,
  KEY `ka` (`a`) /*!80000 INVISIBLE */,
  KEY `kab` (`a`,`b`) /*!80000 INVISIBLE */
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci"""
    assert [(r[2], r[13]) for r in rows(s.execute("SHOW INDEX FROM t"))] == [
        ("PRIMARY", "YES"), ("ub", "NO"), ("ka", "NO"), ("kab", "NO"), ("kab", "NO")]
    assert _visible(s) == [("ka", "NO"), ("kab", "NO"), ("PRIMARY", "YES"), ("ub", "NO")]
    s.execute("INSERT INTO t VALUES (1, 2, 3)")
    s.execute("INSERT INTO t VALUES (2, 2, 4)")
    assert rows(s.execute("SELECT id FROM t WHERE a = 2 ORDER BY id")) == [(1,), (2,)]
    assert error_code(lambda: s.execute("INSERT INTO t VALUES (3, 0, 3)")) == 1062  # enforced


def test_alter_index_changes_only_the_flag(server: ServerState) -> None:
    s = session(server)
    for statement in ("CREATE DATABASE ix", "USE ix", CREATE,
                      "ALTER TABLE t ALTER INDEX ka VISIBLE",
                      "ALTER TABLE t ADD COLUMN c INT, ALTER INDEX ub VISIBLE, "
                      "ADD INDEX kc (c) INVISIBLE"):
        s.execute(statement)
    assert _visible(s) == [("ka", "YES"), ("kc", "NO"), ("PRIMARY", "YES"), ("ub", "YES")]
    s.execute("ALTER TABLE t ALTER INDEX kc VISIBLE")
    assert "INVISIBLE" not in _shown(s)


def test_mysqls_errors(server: ServerState) -> None:
    s = session(server)
    for statement in ("CREATE DATABASE ix", "USE ix", CREATE):
        s.execute(statement)
    assert error_code(lambda: s.execute("ALTER TABLE t ALTER INDEX nope INVISIBLE")) == 1176
    assert error_code(lambda: s.execute("ALTER TABLE t ALTER INDEX `PRIMARY` INVISIBLE")) \
        == 3522
    assert error_code(lambda: s.execute("CREATE TABLE t2 (id INT, PRIMARY KEY (id) "
                                        "INVISIBLE)")) == 3522
    # without a PRIMARY KEY the first UNIQUE key on NOT NULL columns is MySQL's primary key
    assert error_code(lambda: s.execute("CREATE TABLE t2 (a INT NOT NULL, b INT, UNIQUE KEY "
                                        "ua (a) INVISIBLE)")) == 3522
    s.execute("CREATE TABLE t2 (a INT NOT NULL, b INT, UNIQUE KEY ua (a), UNIQUE KEY ub (b) "
              "INVISIBLE)")  # b is nullable: ub is not the implicit primary key
    assert error_code(lambda: s.execute("ALTER TABLE t2 ALTER INDEX ua INVISIBLE")) == 3522
