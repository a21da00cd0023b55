"""Sessions over a real data directory, for the executor's tests: a server with the given
accounts (conftest.py's ``server`` fixture has three), a session as one of them, a result's
rows, a failure's MySQL code."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.results import Rows
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.storage.commitlog import iter_log
from marmotdb.users import User, Users

_ids = itertools.count(1)


def new_server(data_dir: Path, users: list[User]) -> ServerState:
    return ServerState(data_dir, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                       users=Users(users))


def session(server: ServerState, user: str = "root", database: str | None = None) -> Session:
    s = Session(server, server.users.get(user), next(_ids))
    if database:
        s.use(database)
    return s


def rows(result: Any) -> list[tuple[Any, ...]]:
    assert isinstance(result, Rows), result
    return [tuple(r) for r in result.rows]


def error_code(call: Callable[[], Any]) -> int:
    with pytest.raises(MarmotError) as info:
        call()
    return info.value.code


def table_rows(server: ServerState, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` (``db.t``), by id, as a new root session reads it."""
    return rows(session(server).execute(f"SELECT * FROM {table} ORDER BY id"))


def log_length(server: ServerState, name: str) -> int:
    """The number of entries in database ``name``'s commit log."""
    conn = apsw.Connection(str(server.databases.get(name).path))
    try:
        return len(list(iter_log(conn)))
    finally:
        conn.close()
