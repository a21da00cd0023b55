"""Replayed SETs (catalog_set.answer_set): the same text on every connect is parsed once; what
reads the session (variables, privileges, transaction state) is never replayed stale."""

from __future__ import annotations

import itertools

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.catalog import set_statement as catalog_set
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.users import User, Users

_ids = itertools.count(1)


@pytest.fixture
def server(tmp_path):
    users = Users([User("root", "x", {"*": "admin"}), User("app", "x", {"shop": "rw"})])
    state = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                        users=users)
    yield state
    state.close()


def session(server: ServerState, user: str = "root") -> Session:
    return Session(server, server.users.get(user), next(_ids))


def value(s: Session, expression: str) -> object:
    return s.execute(f"SELECT {expression}").rows[0][0]  # type: ignore[union-attr]


def test_a_constant_set_is_replayed_with_the_same_effect(server: ServerState) -> None:
    sql = "SET NAMES latin1, sql_mode = 'ANSI_QUOTES', @x = 5, autocommit = 0"
    first, second = session(server), session(server)
    first.execute(sql)
    assert sql in catalog_set._REPLAYS
    second.execute(sql)
    for s in (first, second):
        assert (value(s, "@@character_set_client"), value(s, "@@sql_mode"), value(s, "@x"),
                value(s, "@@autocommit")) == ("latin1", "ANSI_QUOTES", 5, 0)


def test_a_set_reading_the_session_is_run_each_time(server: ServerState) -> None:
    s = session(server)
    for mode in ("ANSI_QUOTES", "NO_ZERO_DATE"):
        s.execute(f"SET @m = '{mode}'")
        s.execute("SET sql_mode = @m")
        assert value(s, "@@sql_mode") == mode
    assert "SET sql_mode = @m" not in catalog_set._REPLAYS


def test_default_reads_the_global_value_again(server: ServerState) -> None:
    root = session(server)
    root.execute("SET sql_mode = DEFAULT")
    root.execute("SET GLOBAL sql_mode = 'ANSI_QUOTES'")
    later = session(server)
    later.execute("SET sql_mode = 'NO_ZERO_DATE'")
    later.execute("SET sql_mode = DEFAULT")
    assert value(later, "@@sql_mode") == "ANSI_QUOTES"


def test_set_global_asks_for_the_privilege_every_time(server: ServerState) -> None:
    session(server).execute("SET GLOBAL max_execution_time = 7")
    with pytest.raises(MarmotError) as info:
        session(server, "app").execute("SET GLOBAL max_execution_time = 7")
    assert info.value.code == 1227
