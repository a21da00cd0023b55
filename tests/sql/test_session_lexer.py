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
