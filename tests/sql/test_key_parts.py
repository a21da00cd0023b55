"""Key parts through a session: a column whose name starts with ``(`` is a column, not a
functional key part, in the stored definition, SHOW CREATE TABLE and INFORMATION_SCHEMA (the
rows themselves: ddl.sql's fixture case, also run on MariaDB)."""

from __future__ import annotations

import json

import pytest

from marmotdb.sql import schema
from marmotdb.sql.catalog.model import KeyExpression
from tests.sql.sessions import rows, session


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE k")
    s.use("k")
    s.execute("CREATE TABLE `(2)` (`(3)` INT NOT NULL AUTO_INCREMENT, `(4)` VARCHAR(9), "
              "PRIMARY KEY (`(3)`), KEY `e` ((lower(`(4)`))))")
    return s


def test_shown_quoted_and_expressions_unquoted(db):
    create = rows(db.execute("SHOW CREATE TABLE `(2)`"))[0][1]
    assert "  PRIMARY KEY (`(3)`),\n" in create
    assert "  KEY `e` ((lower(`(4)`)))\n" in create  # MySQL's print: lower-case functions
    assert rows(db.execute("SELECT INDEX_NAME, COLUMN_NAME, EXPRESSION FROM "
                           "information_schema.STATISTICS WHERE TABLE_SCHEMA = 'k' "
                           "ORDER BY INDEX_NAME")) == [
        ("e", None, "lower(`(4)`)"), ("PRIMARY", "(3)", None)]


def test_kept_by_a_rebuild(db):
    db.execute("ALTER TABLE `(2)` ADD COLUMN x INT FIRST")
    create = rows(db.execute("SHOW CREATE TABLE `(2)`"))[0][1]
    assert "  PRIMARY KEY (`(3)`),\n" in create and "((lower(`(4)`)))" in create.lower()


def test_definitions_stored_before_the_marker_still_read():
    table = schema.TableDef("t", columns=[schema.ColumnDef("a", schema.MySqlType("int")),
                                          schema.ColumnDef("(b)", schema.MySqlType("int"))])
    table.indexes = [schema.IndexDef("e", "INDEX", [(KeyExpression("(`a` + 1)"), None, False),
                                                    ("(b)", None, False)])]
    meta = json.loads(schema.table_meta_json(table))
    assert meta["table"]["indexes"][0]["columns"][0][0] == {"$expr": "(`a` + 1)"}
    meta["table"]["indexes"][0]["columns"][0][0] = "(`a` + 1)"  # as stored before the marker
    expression, column = [p for p, _, _ in schema.table_def_from_dict(meta).indexes[0].columns]
    assert schema.is_key_expression(expression) and expression == "(`a` + 1)"
    assert not schema.is_key_expression(column) and column == "(b)"
