"""The catalog describes a table from its stored CREATE TABLE read by the translation's own
reader (sql/definition/create_table.py, through catalog/declared.py). Each case is one place
where the catalog's former parser and the translation's disagreed; the value asserted is
MySQL 8's (the cases MariaDB can decide are in tests/fixtures/translate/ddl.sql too)."""

from __future__ import annotations

import pytest

from tests.sql.sessions import rows, session


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE d")
    s.use("d")
    return s


def _create(db, table: str = "t") -> str:
    return rows(db.execute(f"SHOW CREATE TABLE {table}"))[0][1]


def test_a_functional_key_with_a_json_operator_keeps_the_table_described(db):
    # The catalog's parser stopped at ->> and described the whole table from SQLite's
    # declared types (json as longtext, the key as "(expression)").
    db.execute("CREATE TABLE t (id INT PRIMARY KEY, doc JSON, KEY k ((CAST(doc->>'$.n' AS "
               "UNSIGNED))))")
    create = _create(db)
    assert "`doc` json DEFAULT NULL," in create  # (MySQL prints TEXT and BLOB bare, not JSON)
    # as MySQL 8 prints the expression back (definition/shown_expression.py)
    assert "KEY `k` ((cast(json_unquote(json_extract(`doc`,_utf8mb4'$.n')) as unsigned)))" \
        in create


def test_serial_is_bigint_unsigned_not_null_auto_increment_unique(db):
    # The translation read SERIAL as a nullable signed BIGINT; MySQL: BIGINT UNSIGNED NOT NULL
    # AUTO_INCREMENT UNIQUE.
    db.execute("CREATE TABLE t (id INT, g SERIAL)")
    create = _create(db)
    assert "`g` bigint unsigned NOT NULL AUTO_INCREMENT," in create
    assert "UNIQUE KEY `g` (`g`)" in create
    db.execute("INSERT INTO t (id) VALUES (7), (8)")
    assert rows(db.execute("SELECT g, id FROM t ORDER BY g")) == [(1, 7), (2, 8)]


@pytest.mark.parametrize("spelling, shown", [("INT1", "tinyint"), ("INT2", "smallint"),
                                             ("INT3", "mediumint"), ("INT8", "bigint"),
                                             ("FLOAT4", "float"), ("FLOAT8", "double")])
def test_numbered_type_aliases(db, spelling: str, shown: str):
    # coltypes read INT1 … INT8 as INT (a type name had no digits).
    db.execute(f"CREATE TABLE t (a {spelling})")
    assert f"`a` {shown} DEFAULT NULL" in _create(db)


def test_utf8_collations_have_their_utf8mb3_names(db):
    db.execute("CREATE TABLE t (a VARCHAR(5) CHARACTER SET utf8 COLLATE utf8_bin)")
    assert "`a` varchar(5) CHARACTER SET utf8mb3 COLLATE utf8mb3_bin" in _create(db)


def test_a_table_collation_sets_its_character_set(db):
    db.execute("CREATE TABLE t (a VARCHAR(5)) COLLATE=latin1_bin")
    assert _create(db).endswith("DEFAULT CHARSET=latin1 COLLATE=latin1_bin")


def test_a_table_character_set_gets_its_default_collation(db):
    # The translation made up <charset>_general_ci for character sets it did not list.
    db.execute("CREATE TABLE t (a VARCHAR(5)) DEFAULT CHARSET=cp932")
    assert _create(db).endswith("DEFAULT CHARSET=cp932 COLLATE=cp932_japanese_ci")


def test_a_binary_default_is_upper_case_hex(db):
    # Stored as 0x0aff00 by the translation, shown as 0x0AFF00 by the catalog (MySQL's).
    db.execute("CREATE TABLE t (b BINARY(3) DEFAULT 0x0aff)")
    assert "`b` binary(3) DEFAULT 0x0AFF00" in _create(db)
    assert rows(db.execute("SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE "
                           "TABLE_SCHEMA = 'd' AND TABLE_NAME = 't'")) == [("0x0AFF00",)]


def test_column_defaults_read_the_same_in_show_create_and_information_schema(db):
    # Two renderers of COLUMN_DEFAULT disagreed (a FLOAT's -1000.0); both showed an unsigned
    # default from 2^63 as its stored 8-byte form (0xFFFF…) instead of the number.
    db.execute("CREATE TABLE t (f FLOAT DEFAULT -1e3, u BIGINT UNSIGNED DEFAULT "
               "18446744073709551615, s VARCHAR(9) DEFAULT 'it''s', b VARBINARY(2) DEFAULT "
               "0x0aff)")
    create = _create(db)
    assert "`f` float DEFAULT '-1000'" in create
    assert "`u` bigint unsigned DEFAULT '18446744073709551615'" in create
    assert rows(db.execute(
        "SELECT COLUMN_NAME, COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE "
        "TABLE_SCHEMA = 'd' AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION")) == [
        ("f", "-1000"), ("u", "18446744073709551615"), ("s", "it's"), ("b", "0x0AFF")]
