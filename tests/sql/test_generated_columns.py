"""VIRTUAL and STORED generated columns through a session, where every write is captured for
replication (a SQLite VIRTUAL column would make the capture refuse the table: storage/schema.py),
and how the catalog shows them (the values: ddl.sql's fixture cases, also run on MariaDB)."""

from __future__ import annotations

import pytest

from tests.sql.sessions import error_code, rows, session


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE g")
    s.use("g")
    s.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT, s INT AS (a + b) VIRTUAL, "
              "p INT GENERATED ALWAYS AS (a * b) STORED, "
              "c VARCHAR(20) GENERATED ALWAYS AS (CONCAT(a, '-', b)))")
    return s


def test_writes_to_a_table_with_virtual_columns(db):
    db.execute("INSERT INTO t (id, a, b) VALUES (1, 2, 3)")
    db.execute("INSERT INTO t VALUES (2, 1, 1, DEFAULT, DEFAULT, DEFAULT)")
    db.execute("UPDATE t SET a = 10 WHERE id = 1")
    db.execute("REPLACE INTO t (id, a, b) VALUES (2, 5, 5)")
    db.execute("INSERT INTO t (id, a, b) VALUES (2, 0, 0) ON DUPLICATE KEY UPDATE a = 6")
    assert rows(db.execute("SELECT * FROM t ORDER BY id")) == [
        (1, 10, 3, 13, 30, "10-3"), (2, 6, 5, 11, 30, "6-5")]
    assert db.execute("DELETE FROM t WHERE s = 11").affected_rows == 1


def test_values_for_generated_columns_are_3105(db):
    assert error_code(lambda: db.execute("INSERT INTO t (id, a, s) VALUES (1, 1, 2)")) == 3105
    assert error_code(lambda: db.execute("INSERT INTO t VALUES (1, 1, 1, 2, 1, '1')")) == 3105
    assert error_code(lambda: db.execute("UPDATE t SET c = 'x'")) == 3105
    assert error_code(lambda: db.execute("INSERT INTO t VALUES (1, 1, 1)")) == 1136


def test_values_for_generated_columns_outside_strict_mode_are_ignored_with_1906(db):
    """MariaDB's rule (MySQL 8 refuses in every mode): what restores mariadb-dump's dumps,
    which list a value for every column and run in SQL_MODE='NO_AUTO_VALUE_ON_ZERO'."""
    db.execute("SET sql_mode = 'NO_AUTO_VALUE_ON_ZERO'")
    db.execute("INSERT INTO t VALUES (1, 2, 3, 99, 98, 'no'), (2, 1, 1, DEFAULT, 7, DEFAULT)")
    assert rows(db.execute("SHOW WARNINGS")) == [
        ("Warning", 1906, f"The value specified for generated column '{c}' in table 't' has "
                          "been ignored") for c in ("s", "p", "c", "p")]
    db.execute("INSERT INTO t (id, s, a) VALUES (3, 5, 1)")
    db.execute("REPLACE INTO t VALUES (2, 4, 4, 0, 0, '')")
    assert rows(db.execute("SELECT * FROM t ORDER BY id")) == [
        (1, 2, 3, 5, 6, "2-3"), (2, 4, 4, 8, 16, "4-4"), (3, 1, None, None, None, None)]
    db.execute("SET sql_mode = DEFAULT")  # strict again: the same shape is refused
    assert error_code(lambda: db.execute("INSERT INTO t VALUES (4, 1, 1, 9, 9, '9')")) == 3105
    assert error_code(lambda: db.execute("INSERT INTO t VALUES (5, 1, 1, 2, 1, '1')")) == 3105
    assert rows(db.execute("SELECT COUNT(*) FROM t")) == [(3,)]


def test_alter_table_adds_and_drops_virtual_columns(db):
    db.execute("INSERT INTO t (id, a, b) VALUES (1, 2, 3)")
    db.execute("ALTER TABLE t ADD COLUMN d INT AS (a - b) VIRTUAL AFTER b")
    db.execute("ALTER TABLE t ADD COLUMN e INT AS (a + 100) STORED")
    assert rows(db.execute("SELECT d, e FROM t")) == [(-1, 102)]
    db.execute("INSERT INTO t (id, a, b) VALUES (2, 5, 1)")
    db.execute("ALTER TABLE t DROP COLUMN d")
    assert rows(db.execute("SELECT id, s, e FROM t ORDER BY id")) == [(1, 5, 102), (2, 6, 105)]


def test_catalog_shows_the_kind_written(db):
    # The expression as MySQL prints it back (definition/shown_expression.py), not as written
    create = rows(db.execute("SHOW CREATE TABLE t"))[0][1]
    assert "`s` int GENERATED ALWAYS AS ((`a` + `b`)) VIRTUAL" in create
    assert "`p` int GENERATED ALWAYS AS ((`a` * `b`)) STORED" in create
    assert "`c` varchar(20) GENERATED ALWAYS AS (concat(`a`,_utf8mb4'-',`b`)) VIRTUAL" in create
    assert rows(db.execute("SELECT COLUMN_NAME, EXTRA, GENERATION_EXPRESSION FROM "
                           "information_schema.COLUMNS WHERE TABLE_SCHEMA = 'g' AND "
                           "TABLE_NAME = 't' AND EXTRA <> '' ORDER BY ORDINAL_POSITION")) == [
        ("s", "VIRTUAL GENERATED", "(`a` + `b`)"), ("p", "STORED GENERATED", "(`a` * `b`)"),
        ("c", "VIRTUAL GENERATED", "concat(`a`,_utf8mb4'-',`b`)")]
    assert [r[5] for r in rows(db.execute("SHOW COLUMNS FROM t"))][3:] == [
        "VIRTUAL GENERATED", "STORED GENERATED", "VIRTUAL GENERATED"]


def test_expressions_are_shown_as_mysql_prints_them_and_still_compute(db):
    db.execute("CREATE TABLE j (id INT PRIMARY KEY, doc JSON, n INT, "
               "name VARCHAR(20) AS (doc->>'$.name'), "
               "kind VARCHAR(5) AS (CASE WHEN n > 1 AND n IS NOT NULL THEN 'many' ELSE 'few' END), "
               "half INT AS (n DIV 2) STORED, q VARCHAR(10) AS (IF(n IN (1, 2), 'it''s', NULL)))")
    db.execute("INSERT INTO j (id, doc, n) VALUES (1, '{\"name\": \"x\"}', 2), (2, '{}', NULL)")
    assert rows(db.execute("SELECT name, kind, half, q FROM j ORDER BY id")) == [
        ("x", "many", 1, "it's"), (None, "few", None, None)]
    assert rows(db.execute("SELECT GENERATION_EXPRESSION FROM information_schema.COLUMNS "
                           "WHERE TABLE_SCHEMA = 'g' AND TABLE_NAME = 'j' AND EXTRA <> '' "
                           "ORDER BY ORDINAL_POSITION")) == [
        ("json_unquote(json_extract(`doc`,_utf8mb4'$.name'))",),
        ("(case when ((`n` > 1) and (`n` is not null)) then _utf8mb4'many' "
         "else _utf8mb4'few' end)",),
        ("(`n` DIV 2)",),
        ("if((`n` in (1,2)),_utf8mb4'it\\'s',NULL)",)]
    db.execute("ALTER TABLE j ADD COLUMN z INT")  # a rebuild re-stores the printed text as is
    assert "GENERATED ALWAYS AS ((`n` DIV 2)) STORED" in rows(
        db.execute("SHOW CREATE TABLE j"))[0][1]
    assert rows(db.execute("SELECT half FROM j ORDER BY id")) == [(1,), (None,)]


def test_a_decimal_generated_column_is_computed_exactly(db):
    """SQLite alone would multiply doubles: 12345678901234.123456 * 2 = 24691357802468.246."""
    db.execute("CREATE TABLE m (id INT PRIMARY KEY, d DECIMAL(20,6), "
               "twice DECIMAL(21,6) AS (d * 2) STORED, r DECIMAL(21,1) AS (d / 3))")
    db.execute("INSERT INTO m (id, d) VALUES (1, 12345678901234.123456)")
    db.execute("ALTER TABLE m ADD COLUMN n INT FIRST")  # a rebuild renders them again
    assert rows(db.execute("SELECT CAST(twice AS CHAR), CAST(r AS CHAR) FROM m")) == [
        ("24691357802468.246912", "4115226300411.4")]
