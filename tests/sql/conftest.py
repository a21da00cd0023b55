"""The executor's tests share one server fixture (tests/sql/sessions.py has the helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from marmotdb.sql.server_state import ServerState
from marmotdb.users import User
from tests.sql.sessions import new_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerState]:
    """root (everything), reader (reads shop) and writer (writes shop)."""
    state = new_server(tmp_path, [User("root", "x", {"*": "admin"}),
                                  User("reader", "x", {"shop": "r"}),
                                  User("writer", "x", {"shop": "rw"})])
    yield state
    state.close()
