"""The index InnoDB makes for a FOREIGN KEY (a *generated* one, definition/keys.py): a new
FOREIGN KEY on the columns of an old one's leftover index takes it over under its own name, and
a key that covers it replaces it. Alembic's autogenerate compares these names with the model:
a stray leftover index would be a spurious ``drop_index``. Asked of marmotdb and, in the
differential group, of MariaDB (MySQL's rule, mysql_prepare_create_table)."""

from __future__ import annotations

from typing import Any


STATEMENTS = [
    "CREATE TABLE p (id INT PRIMARY KEY)",
    # alembic: drop_constraint + create_foreign_key to change ON DELETE / ON UPDATE
    "CREATE TABLE c (id INT PRIMARY KEY, pid INT NOT NULL, "
    "CONSTRAINT fk1 FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE)",
    "ALTER TABLE c DROP FOREIGN KEY fk1",
    "ALTER TABLE c MODIFY pid INT NULL",
    "ALTER TABLE c ADD CONSTRAINT fk2 FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE CASCADE",
    # a key whose first column is the foreign key's replaces the generated index
    "CREATE TABLE d (id INT PRIMARY KEY, pid INT, x INT, "
    "CONSTRAINT fk3 FOREIGN KEY (pid) REFERENCES p (id))",
    "CREATE INDEX ix_d ON d (pid, x)",
    "ALTER TABLE d ADD CONSTRAINT fk4 FOREIGN KEY (pid) REFERENCES p (id)",
    # an index the user wrote stays, whatever its name
    "CREATE TABLE e (id INT PRIMARY KEY, pid INT, KEY mine (pid), "
    "CONSTRAINT fk5 FOREIGN KEY (pid) REFERENCES p (id))",
    "ALTER TABLE e DROP FOREIGN KEY fk5",
    "ALTER TABLE e ADD CONSTRAINT fk6 FOREIGN KEY (pid) REFERENCES p (id)",
]
INDEXES = ("SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM "
           "information_schema.STATISTICS WHERE TABLE_SCHEMA = 'fk_indexes' "
           "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX")
EXPECTED = [
    ("c", "fk2", 1, "pid"), ("c", "PRIMARY", 1, "id"),
    ("d", "ix_d", 1, "pid"), ("d", "ix_d", 2, "x"), ("d", "PRIMARY", 1, "id"),
    ("e", "mine", 1, "pid"), ("e", "PRIMARY", 1, "id"),
    ("p", "PRIMARY", 1, "id"),
]


def _indexes(conn: Any) -> list[tuple]:
    cursor = conn.cursor()
    cursor.execute("DROP DATABASE IF EXISTS fk_indexes")
    cursor.execute("CREATE DATABASE fk_indexes")
    cursor.execute("USE fk_indexes")
    for statement in STATEMENTS:
        cursor.execute(statement)
    cursor.execute(INDEXES)
    found = sorted((t, i, int(s), c) for t, i, s, c in cursor.fetchall())
    cursor.execute("DROP DATABASE fk_indexes")
    return found


def test_innodbs_foreign_key_indexes_are_kept(each_server: Any) -> None:
    assert _indexes(each_server) == sorted(EXPECTED)
