"""What drivers' schema reflection reads, as MySQL 8 answers it (SQLAlchemy's MySQL dialect
tests found each): DEFAULT of a DOUBLE(M,D) at its scale, comments in utf8mb3, DESCRIBE of a
view whose table was dropped (1356, which the dialect skips with a warning)."""

from __future__ import annotations

import pytest

from tests.sql.sessions import error_code, rows, session


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE r")
    s.use("r")
    return s


def test_double_default_shown_at_the_column_scale(db):
    db.execute("CREATE TABLE t (x DOUBLE(22,6) DEFAULT '0.0000', y FLOAT(7,2) DEFAULT 1.5, "
               "z DOUBLE DEFAULT '0.0000')")
    create = rows(db.execute("SHOW CREATE TABLE t"))[0][1]
    assert "`x` double(22,6) DEFAULT '0.000000'" in create
    assert "`y` float(7,2) DEFAULT '1.50'" in create
    assert "`z` double DEFAULT '0'" in create


def test_comments_keep_utf8mb3_characters_only(db):
    text = "☁️✨🐍🁰🝝"
    db.execute(f"CREATE TABLE t (c INT COMMENT '{text}', KEY k (c) COMMENT '{text}') "
               f"COMMENT='{text}'")
    assert rows(db.execute("SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE "
                           "TABLE_SCHEMA = 'r' AND TABLE_NAME = 't'")) == [("☁️✨???",)]
    assert rows(db.execute("SELECT COLUMN_COMMENT FROM information_schema.COLUMNS WHERE "
                           "TABLE_SCHEMA = 'r' AND TABLE_NAME = 't'")) == [("☁️✨???",)]
    assert "KEY `k` (`c`) COMMENT '☁️✨???'" in rows(db.execute("SHOW CREATE TABLE t"))[0][1]
    db.execute(f"ALTER TABLE t COMMENT = '{text}!'")
    assert rows(db.execute("SHOW TABLE STATUS"))[0][-1] == "☁️✨???!"


def test_describe_of_a_view_over_a_dropped_table_is_1356(db):
    db.execute("CREATE TABLE t1 (id INT)")
    db.execute("CREATE VIEW v AS SELECT id FROM t1")
    db.execute("DROP TABLE t1")
    assert error_code(lambda: db.execute("DESCRIBE v")) == 1356
    assert error_code(lambda: db.execute("SHOW FULL COLUMNS FROM v")) == 1356
    assert rows(db.execute("SHOW FULL TABLES")) == [("v", "VIEW")]


def test_a_views_column_has_its_tables_column_type(db):
    db.execute("CREATE TABLE t (e ENUM('', 'fleem'), d DECIMAL(10,3), s SET('a','b'))")
    db.execute("CREATE TABLE u (id INT)")
    db.execute("CREATE VIEW v AS SELECT t.e, t.d, t.s, u.id FROM t JOIN u")
    assert [r[:2] for r in rows(db.execute("DESCRIBE v"))] == [
        ("e", "enum('','fleem')"), ("d", "decimal(10,3)"), ("s", "set('a','b')"), ("id", "int")]
