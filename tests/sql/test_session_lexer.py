"""The executor reads statements through the lexer: version comments, hints, delimiters and
quoting reach the session as MySQL's own lexer reads them: comments after transaction
statements, version comments newer than the announced version, NO_BACKSLASH_ESCAPES."""

from __future__ import annotations

import itertools

import pytest

from marmotdb.sql.results import Rows
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.users import User, Users

_ids = itertools.count(1)


@pytest.fixture
def db(tmp_path):
    state = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                        users=Users([User("root", "x", {"*": "admin"})]))
    s = Session(state, state.users.get("root"), next(_ids))
    s.execute("CREATE DATABASE shop")
    s.use("shop")
    s.execute("CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20))")
    yield s
    state.close()


def test_transaction_statements_may_carry_comments(db: Session) -> None:
    db.execute("BEGIN /* app */")
    db.execute("INSERT INTO t VALUES (1, 'a')")
    db.execute("SAVEPOINT s1 -- here\n")
    db.execute("COMMIT /* done */")
    assert not db.in_transaction


def test_a_newer_versioned_option_is_not_applied(db: Session) -> None:
    db.execute("START TRANSACTION /*!99999 READ ONLY */")
    db.execute("INSERT INTO t VALUES (2, 'b')")  # read only would refuse this
    db.execute("COMMIT")


def test_no_backslash_escapes_values(db: Session) -> None:
    db.execute("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
    db.execute(r"INSERT INTO t VALUES (3, 'a\')")
    result = db.execute("SELECT note FROM t WHERE id = 3")
    assert isinstance(result, Rows) and [tuple(r) for r in result.rows] == [("a\\",)]


@pytest.mark.parametrize("sql, value", [
    (r"SELECT 'a\b''c'", "a\\b'c"),  # the catalog's SELECT of values (PyMySQL's `SELECT %s`)
    (r"SELECT concat('a\b', 'c')", "a\\bc"),  # result names from the text: translated by it
    (r"SELECT upper('x\n')", "X\\N"),
])
def test_no_backslash_escapes_in_selects_without_tables(db: Session, sql: str, value: str
                                                        ) -> None:
    db.execute("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
    result = db.execute(sql)
    assert isinstance(result, Rows) and [tuple(r) for r in result.rows] == [(value,)]


def test_no_backslash_escapes_in_set_and_show(db: Session) -> None:
    db.execute("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
    db.execute(r"SET @v = 'a\b'")
    result = db.execute("SELECT @v")
    assert isinstance(result, Rows) and [tuple(r) for r in result.rows] == [("a\\b",)]


def test_status_flags_tell_no_backslash_escapes(db: Session) -> None:
    assert not db.status_flags() & 512
    db.execute("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
    assert db.status_flags() & 512


def test_a_set_with_a_backslash_follows_sql_mode(db: Session) -> None:
    """The same SET text means another value once NO_BACKSLASH_ESCAPES is on: it is parsed
    again, never replayed from its first run (sql/catalog/set_statement.py)."""
    values = []
    for mode in ("", "NO_BACKSLASH_ESCAPES"):
        db.execute(f"SET sql_mode = '{mode}'")
        db.execute(r"SET @v = 'a\b'")
        result = db.execute("SELECT @v")
        assert isinstance(result, Rows)
        values.append(result.rows[0][0])
    assert values == ["a\b", "a\\b"]
