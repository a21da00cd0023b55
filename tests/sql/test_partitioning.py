"""PARTITION BY is kept and shown as MySQL 8 shows it (sql/definition/partitioning.py): the
text SQLAlchemy reflects (its test_reflection_with_partition_options and the two
subpartition tests build these tables), ALTER TABLE's PARTITION BY / REMOVE PARTITIONING, and
the refusals that only MySQL 8 has (the rest are ddl.sql fixtures, run on MariaDB too)."""

from __future__ import annotations

import pytest

from tests.sql.sessions import error_code, rows, session

HASH = """) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci
/*!50100 PARTITION BY HASH (month(`c2`))
PARTITIONS 6 */"""
SUBPARTITIONS = """) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci
/*!50100 PARTITION BY RANGE (year(`c2`))
SUBPARTITION BY HASH (to_days(`c2`))
SUBPARTITIONS 2
(PARTITION p0 VALUES LESS THAN (1990) ENGINE = InnoDB,
 PARTITION p1 VALUES LESS THAN (2000) ENGINE = InnoDB,
 PARTITION p2 VALUES LESS THAN MAXVALUE ENGINE = InnoDB) */"""
NAMED_SUBPARTITIONS = """) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci
/*!50100 PARTITION BY RANGE (year(`c2`))
SUBPARTITION BY HASH (to_days(`c2`))
(PARTITION p0 VALUES LESS THAN (1990)
 (SUBPARTITION s0 ENGINE = InnoDB,
  SUBPARTITION s1 ENGINE = InnoDB),
 PARTITION p1 VALUES LESS THAN (2000)
 (SUBPARTITION s2 ENGINE = InnoDB,
  SUBPARTITION s3 ENGINE = InnoDB),
 PARTITION p2 VALUES LESS THAN MAXVALUE
 (SUBPARTITION s4 ENGINE = InnoDB,
  SUBPARTITION s5 ENGINE = InnoDB)) */"""


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE p")
    s.use("p")
    return s


def _create(db, table: str = "t") -> str:
    return rows(db.execute(f"SHOW CREATE TABLE {table}"))[0][1]


@pytest.mark.parametrize("clause, shown", [
    ("PARTITION BY HASH(MONTH(c2)) PARTITIONS 6", HASH),
    ("PARTITION BY RANGE(YEAR(c2)) SUBPARTITION BY HASH (TO_DAYS (c2))\n SUBPARTITIONS 2(\n"
     " PARTITION p0 VALUES LESS THAN (1990),\n PARTITION p1 VALUES LESS THAN (2000),\n"
     " PARTITION p2 VALUES LESS THAN MAXVALUE\n)", SUBPARTITIONS),
    ("PARTITION BY RANGE (YEAR (c2))\n SUBPARTITION BY HASH( TO_DAYS(c2))(\n"
     " PARTITION p0 VALUES LESS THAN (1990)(SUBPARTITION s0, SUBPARTITION s1),\n"
     " PARTITION p1 VALUES LESS THAN (2000)(SUBPARTITION s2, SUBPARTITION s3),\n"
     " PARTITION p2 VALUES LESS THAN MAXVALUE(SUBPARTITION s4, SUBPARTITION s5))",
     NAMED_SUBPARTITIONS),
])
def test_shown_as_mysql_shows_it(db, clause: str, shown: str):
    db.execute(f"CREATE TABLE t (c1 INTEGER, c2 DATETIME) ENGINE=InnoDB DEFAULT CHARSET=utf8 "
               f"{clause}")
    assert _create(db).endswith(shown)
    # the catalog reads the stored text back with the one reader: the same text again
    db.execute("ALTER TABLE t ADD COLUMN c3 INT")
    assert _create(db).endswith(shown)
    assert rows(db.execute("SELECT CREATE_OPTIONS FROM information_schema.TABLES WHERE "
                           "TABLE_SCHEMA = 'p' AND TABLE_NAME = 't'")) == [("partitioned",)]


def test_columns_forms_and_partition_comments(db):
    db.execute("CREATE TABLE t (a INT, b VARCHAR(5)) PARTITION BY LIST COLUMNS (a, b) "
               "(PARTITION p0 VALUES IN ((1, 'x'), (2, 'y')) COMMENT 'first', "
               "PARTITION `p 1` VALUES IN ((3, 'z')))")
    assert _create(db).endswith(
        "\n/*!50500 PARTITION BY LIST  COLUMNS(`a`,`b`)\n"
        "(PARTITION p0 VALUES IN ((1,'x'),(2,'y')) COMMENT = 'first' ENGINE = InnoDB,\n"
        " PARTITION `p 1` VALUES IN ((3,'z')) ENGINE = InnoDB) */")


def test_alter_table_partitions_and_unpartitions(db):
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    db.execute("INSERT INTO t VALUES (1, 10), (2, 20)")
    db.execute("ALTER TABLE t PARTITION BY KEY (id) PARTITIONS 3")
    assert _create(db).endswith("\n/*!50100 PARTITION BY KEY (`id`)\nPARTITIONS 3 */")
    db.execute("ALTER TABLE t REMOVE PARTITIONING")
    assert _create(db).endswith("COLLATE=utf8mb4_0900_ai_ci")
    assert rows(db.execute("SELECT id, v FROM t ORDER BY id")) == [(1, 10), (2, 20)]


def test_a_partitioning_column_cannot_be_dropped_or_renamed(db):
    db.execute("CREATE TABLE t (id INT, d DATE) PARTITION BY HASH (YEAR(d)) PARTITIONS 2")
    assert error_code(lambda: db.execute("ALTER TABLE t DROP COLUMN d")) == 3855
    assert error_code(lambda: db.execute("ALTER TABLE t RENAME COLUMN d TO e")) == 3855
    assert error_code(lambda: db.execute("ALTER TABLE t CHANGE d e DATE")) == 3855
    db.execute("ALTER TABLE t DROP COLUMN id")


@pytest.mark.parametrize("operation", ["ADD PARTITION (PARTITION p9)", "DROP PARTITION p0",
                                       "TRUNCATE PARTITION p0", "COALESCE PARTITION 1",
                                       "REORGANIZE PARTITION p0 INTO (PARTITION p5)"])
def test_operations_on_partitions_are_refused(db, operation: str):
    db.execute("CREATE TABLE t (a INT) PARTITION BY HASH (a) PARTITIONS 2")
    assert error_code(lambda: db.execute(f"ALTER TABLE t {operation}")) == 1235
