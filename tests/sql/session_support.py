"""Sessions over a real data directory and real SQLite, without sockets, for executor tests."""

from __future__ import annotations

import itertools
from pathlib import Path

from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.users import User, Users

_CONNECTION_IDS = itertools.count(1)


def server_state(tmp_path: Path, users: list[User] | None = None) -> ServerState:
    """A node's shared state with a fixed clock; root may do anything unless ``users``."""
    return ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                       users=Users(users or [User("root", "x", {"*": "admin"})]))


def new_session(server: ServerState, user: str = "root", database: str | None = None
                ) -> Session:
    session = Session(server, server.users.get(user), next(_CONNECTION_IDS))
    if database is not None:
        session.use(database)
    return session


def database_session(server: ServerState, name: str, *statements: str) -> Session:
    """A root session in a new database ``name`` where ``statements`` have run."""
    session = new_session(server)
    session.execute(f"CREATE DATABASE {name}")
    session.use(name)
    for statement in statements:
        session.execute(statement)
    return session
