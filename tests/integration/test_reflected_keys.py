"""Keys as INFORMATION_SCHEMA describes them when SQLite's own view of them is ambiguous: two
FOREIGN KEYs on one column to one parent (to different columns of it), and a UNIQUE key with
a column prefix (SQLite indexes ``substr(…)``, an expression to PRAGMA index_xinfo). SQLAlchemy's
reflection and Alembic's autogenerate read these; marmotdb described the second FOREIGN KEY as
a copy of the first and the prefixed key under its SQLite name with an "(expression)" part.
Asked of marmotdb and, in the differential group, of MariaDB."""

from __future__ import annotations

from typing import Any


STATEMENTS = [
    "CREATE TABLE idx_t (id INT NOT NULL AUTO_INCREMENT, a VARCHAR(200), b INT, "
    "PRIMARY KEY (id), CONSTRAINT uq_b UNIQUE (b))",
    "CREATE UNIQUE INDEX ix_multi ON idx_t (b, a(20))",
    "CREATE INDEX ix_prefix ON idx_t (a(10))",
    "CREATE TABLE fk_t (x INT NOT NULL, ref INT, PRIMARY KEY (x), "
    "FOREIGN KEY (ref) REFERENCES idx_t (id) ON DELETE CASCADE ON UPDATE RESTRICT, "
    "CONSTRAINT fk_b FOREIGN KEY (ref) REFERENCES idx_t (b) ON DELETE SET NULL ON UPDATE CASCADE)",
]
STATISTICS = ("SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, NON_UNIQUE "
              "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'reflected_keys'")
USAGE = ("SELECT TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION, COLUMN_NAME, "
         "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM "
         "information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = 'reflected_keys'")
REFERENTIAL = ("SELECT CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE FROM "
               "information_schema.REFERENTIAL_CONSTRAINTS "
               "WHERE CONSTRAINT_SCHEMA = 'reflected_keys'")
EXPECTED_STATISTICS = [
    ("fk_t", "PRIMARY", 1, "x", None, 0), ("fk_t", "fk_b", 1, "ref", None, 1),
    ("idx_t", "PRIMARY", 1, "id", None, 0), ("idx_t", "ix_multi", 1, "b", None, 0),
    ("idx_t", "ix_multi", 2, "a", 20, 0), ("idx_t", "ix_prefix", 1, "a", 10, 1),
    ("idx_t", "uq_b", 1, "b", None, 0),
]
EXPECTED_USAGE = [
    ("fk_t", "PRIMARY", 1, "x", None, None), ("fk_t", "fk_b", 1, "ref", "idx_t", "b"),
    ("fk_t", "fk_t_ibfk_1", 1, "ref", "idx_t", "id"),
    ("idx_t", "PRIMARY", 1, "id", None, None), ("idx_t", "ix_multi", 1, "b", None, None),
    ("idx_t", "ix_multi", 2, "a", None, None), ("idx_t", "uq_b", 1, "b", None, None),
]
EXPECTED_REFERENTIAL = [("fk_b", "CASCADE", "SET NULL"), ("fk_t_ibfk_1", "RESTRICT", "CASCADE")]


def _rows(cursor: Any, query: str) -> list[tuple]:
    cursor.execute(query)
    return sorted(tuple(int(v) if isinstance(v, int) else v for v in row)
                  for row in cursor.fetchall())


def _described(conn: Any) -> tuple[list[tuple], ...]:
    cursor = conn.cursor()
    cursor.execute("DROP DATABASE IF EXISTS reflected_keys")
    cursor.execute("CREATE DATABASE reflected_keys")
    cursor.execute("USE reflected_keys")
    for statement in STATEMENTS:
        cursor.execute(statement)
    found = (_rows(cursor, STATISTICS), _rows(cursor, USAGE), _rows(cursor, REFERENTIAL))
    cursor.execute("DROP DATABASE reflected_keys")
    return found


EXPECTED = (sorted(EXPECTED_STATISTICS), sorted(EXPECTED_USAGE), sorted(EXPECTED_REFERENTIAL))


def test_each_key_is_described(each_server: Any) -> None:
    assert _described(each_server) == EXPECTED
