"""FOREIGN KEYs follow the renames of what they name (sql/rewrites/ddl/referencing.py): the
children's stored MySQL definitions, hence SHOW CREATE TABLE, mysqldump and
INFORMATION_SCHEMA, name the new column and table, as in MySQL. The behaviour (keys still
enforced) is in tests/fixtures/translate/ddl.sql, also run on MariaDB."""

from __future__ import annotations

import apsw
import pytest

from marmotdb.sql import schema
from tests.sql.sessions import error_code, rows, session

REFERENCES = ("SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, "
              "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE "
              "TABLE_SCHEMA = 'k' AND REFERENCED_TABLE_NAME IS NOT NULL "
              "ORDER BY TABLE_NAME, CONSTRAINT_NAME")
RULES = ("SELECT CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME FROM "
         "information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'k' "
         "ORDER BY CONSTRAINT_NAME")


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE k")
    s.use("k")
    s.execute("CREATE TABLE p (id INT PRIMARY KEY, code INT UNIQUE)")
    s.execute("CREATE TABLE c (id INT PRIMARY KEY, pc INT, pid INT, "
              "CONSTRAINT fk_code FOREIGN KEY (pc) REFERENCES p (code) ON UPDATE CASCADE, "
              "CONSTRAINT fk_id FOREIGN KEY (pid) REFERENCES p (id))")
    return s


def stored(server, table: str) -> str:
    """The child's definition as kept in __marmot_schema (not as the catalog reconciles it)."""
    conn = apsw.Connection(str(server.databases.get("k").path))
    try:
        text = schema.mysql_ddl(conn, table)
    finally:
        conn.close()
    assert text is not None
    return text


def show_create(db, table: str) -> str:
    return rows(db.execute(f"SHOW CREATE TABLE {table}"))[0][1]


def test_rename_column_renames_it_in_the_children(server, db):
    db.execute("ALTER TABLE p RENAME COLUMN code TO code2")
    db.execute("ALTER TABLE p CHANGE id pk INT")
    for text in (stored(server, "c"), show_create(db, "c")):
        assert "CONSTRAINT `fk_code` FOREIGN KEY (`pc`) REFERENCES `p` (`code2`) ON UPDATE " \
               "CASCADE" in text
        assert "CONSTRAINT `fk_id` FOREIGN KEY (`pid`) REFERENCES `p` (`pk`)" in text
    assert rows(db.execute(REFERENCES)) == [("c", "fk_code", "pc", "p", "code2"),
                                            ("c", "fk_id", "pid", "p", "pk")]
    # a referenced column renamed again can be changed and is still protected (1829)
    db.execute("ALTER TABLE p CHANGE code2 code3 INT COMMENT 'rebuilt'")
    assert "REFERENCES `p` (`code3`)" in stored(server, "c")
    assert error_code(lambda: db.execute("ALTER TABLE p DROP COLUMN code3")) == 1829


def test_a_rebuild_renaming_a_referenced_column_keeps_sqlite_keys_working(db):
    db.execute("INSERT INTO p VALUES (1, 10)")
    db.execute("INSERT INTO c VALUES (1, 10, 1)")
    db.execute("ALTER TABLE p CHANGE code code9 INT NOT NULL")  # NOT NULL: a rebuild
    db.execute("UPDATE p SET code9 = 11")  # ON UPDATE CASCADE through SQLite's key
    assert rows(db.execute("SELECT pc FROM c")) == [(11,)]
    assert error_code(lambda: db.execute("INSERT INTO c VALUES (2, 12, 1)")) == 1452


def test_self_referential_key_follows_its_primary_key(server, db):
    db.execute("CREATE TABLE node (node_id INT PRIMARY KEY, parent INT, "
               "CONSTRAINT up FOREIGN KEY (parent) REFERENCES node (node_id))")
    db.execute("ALTER TABLE node CHANGE node_id id INT")
    assert "FOREIGN KEY (`parent`) REFERENCES `node` (`id`)" in stored(server, "node")
    db.execute("ALTER TABLE node CHANGE id id SMALLINT, CHANGE parent parent SMALLINT")
    db.execute("ALTER TABLE node RENAME TO tree")
    assert "FOREIGN KEY (`parent`) REFERENCES `tree` (`id`)" in stored(server, "tree")
    assert ("tree", "up", "parent", "tree", "id") in rows(db.execute(REFERENCES))


def test_renamed_parent_tables_are_renamed_in_the_children(server, db):
    db.execute("CREATE TABLE q (id INT PRIMARY KEY)")
    db.execute("CREATE TABLE d (id INT PRIMARY KEY, qid INT, "
               "CONSTRAINT fk_q FOREIGN KEY (qid) REFERENCES q (id))")
    db.execute("RENAME TABLE p TO tmp, q TO p, tmp TO q, c TO c2")
    assert "REFERENCES `q` (`code`)" in stored(server, "c2")
    assert "REFERENCES `p` (`id`)" in stored(server, "d")
    db.execute("ALTER TABLE q RENAME TO parent")
    assert "REFERENCES `parent` (`code`)" in stored(server, "c2")
    assert rows(db.execute(RULES)) == [("fk_code", "c2", "parent"), ("fk_id", "c2", "parent"),
                                       ("fk_q", "d", "p")]


def test_a_column_another_database_refers_to_keeps_its_name(server, db):
    db.execute("CREATE DATABASE other")
    db.execute("CREATE TABLE other.x (id INT PRIMARY KEY, pc INT, "
               "CONSTRAINT fk_x FOREIGN KEY (pc) REFERENCES k.p (code))")
    assert error_code(lambda: db.execute("ALTER TABLE p RENAME COLUMN code TO c2")) == 1235
    db.execute("ALTER TABLE p RENAME COLUMN id TO pk")  # not that key's column
