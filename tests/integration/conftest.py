"""Fixtures for tests against a real ``marmotdb serve`` process (see server.py).

Every test under tests/integration/ is marked ``integration``. A test that fails while using
`marmot_server` gets the server's stderr/stdout of that test in its report.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from tests.integration.server import LogMark, MarmotServer, serving

HERE = Path(__file__).resolve().parent
_LOG_MARK_KEY = pytest.StashKey[LogMark]()


@pytest.fixture(scope="module")
def marmot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarmotServer]:
    """One server per test module; stopped with SIGTERM and required to exit cleanly."""
    yield from serving(tmp_path_factory.mktemp("marmot"))


@pytest.fixture(params=["marmotdb", pytest.param("mariadb", marks=pytest.mark.differential)])
def each_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """An autocommit PyMySQL connection to marmotdb, then to the differential MariaDB
    (tests/differential.py): a test that asks for it checks that both give MySQL's answer."""
    name = "marmot_server" if request.param == "marmotdb" else "differential_mariadb"
    conn = request.getfixturevalue(name).connect(autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def mariadb_cli(
    marmot_server: MarmotServer,
) -> Callable[..., CompletedProcess[str]]:
    """``mariadb_cli(args, input=None)`` runs /usr/bin/mariadb as root against the server."""
    return marmot_server.mariadb_cli


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("marmot_server")
    if not isinstance(server, MarmotServer):
        return
    if call.when == "setup":
        item.stash[_LOG_MARK_KEY] = server.log_mark()
    if report.failed:
        since = item.stash.get(_LOG_MARK_KEY, (0, 0))
        report.sections.append(("marmotdb server output", server.output(since)))
