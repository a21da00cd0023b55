"""The differential group: tests that run the same statements on a real MariaDB, so an
expectation that is marmotdb's rather than MySQL's is a failure (pytest plugin, loaded by
tests/conftest.py).

Theory of operation: a test joins the group by asking for the ``differential_mariadb`` fixture
(it is marked ``differential`` here, so marking it by hand is optional). Whether the group runs
is decided once per session, at configure time:

- ``MARMOTDB_DIFFERENTIAL_MARIADB=host:port`` (with ``MARMOTDB_DIFFERENTIAL_USER`` /
  ``MARMOTDB_DIFFERENTIAL_PASSWORD``, default root and no password): that server is used as
  is, e.g. a real MySQL 8;
- otherwise, when MariaDB's server is installed: the first test of the group starts ONE private
  instance for the whole session (marmotdb/torture/mariadb_server.py: own data dir and socket in a temp
  dir, a free loopback port, ``--no-defaults``, as root too), stopped when the session ends,
  whether tests failed or not (and killed with the pytest process if that dies first);
- otherwise the group is deselected and the summary says why in one line (tests/conftest.py).

``--differential`` makes the group mandatory: without a MariaDB the session stops with a usage
error instead of leaving the tests out (scripts/test.sh passes it, since it installs the
server). ``--no-differential`` leaves the group out for a quick local loop.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from marmotdb.torture import mariadb_server

SERVER_ENV = "MARMOTDB_DIFFERENTIAL_MARIADB"
USER_ENV = "MARMOTDB_DIFFERENTIAL_USER"
PASSWORD_ENV = "MARMOTDB_DIFFERENTIAL_PASSWORD"
PRIVATE_USER = "differential"
MODE_AUTO, MODE_REQUIRE, MODE_OFF = "auto", "require", "off"
HOW_TO_RUN = f"install it (scripts/test.sh does) or set {SERVER_ENV}=host:port"


@dataclass(frozen=True)
class MariaDBEndpoint:
    """Where the group's server listens and whom to log in as."""

    host: str
    port: int
    user: str
    password: str

    def connect(self, **options: Any) -> Any:
        """A PyMySQL connection to the server (options as for ``pymysql.connect``)."""
        import pymysql
        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, **options)


def external_endpoint() -> MariaDBEndpoint | None:
    """The server named by MARMOTDB_DIFFERENTIAL_MARIADB, if set."""
    address = os.environ.get(SERVER_ENV, "")
    if not address:
        return None
    host, _, port = address.partition(":")
    return MariaDBEndpoint(host, int(port or 3306), os.environ.get(USER_ENV, "root"),
                           os.environ.get(PASSWORD_ENV, ""))


def unavailable_reason(config: pytest.Config) -> str | None:
    """Why the differential group cannot run in this session, in one line; None if it can."""
    if config.getoption("differential") == MODE_OFF:
        return "--no-differential was given"
    if os.environ.get(SERVER_ENV):
        return None
    missing = mariadb_server.missing_requirements()
    return f"{missing}; to run them, {HOW_TO_RUN}" if missing else None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("differential", "tests against a real MariaDB")
    group.addoption("--differential", dest="differential", action="store_const",
                    const=MODE_REQUIRE, default=MODE_AUTO,
                    help="differential tests must run: fail the session if no MariaDB can be "
                         "started (default: run them when mariadbd is installed)")
    group.addoption("--no-differential", dest="differential", action="store_const",
                    const=MODE_OFF, help="leave the differential tests out")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("differential") == MODE_REQUIRE:
        reason = unavailable_reason(config)
        if reason:
            raise pytest.UsageError(f"--differential: cannot run the differential tests: "
                                    f"{reason}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Before tests/conftest.py deselects groups: a test using the server is in the group.
    for item in items:
        if "differential_mariadb" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.differential)


@pytest.fixture(scope="session")
def differential_mariadb(tmp_path_factory: pytest.TempPathFactory
                         ) -> Iterator[MariaDBEndpoint]:
    """The session's MariaDB: the external one, or a private instance started on first use."""
    external = external_endpoint()
    if external is not None:
        yield external
        return
    server = mariadb_server.MariaDBServer(user=PRIVATE_USER, password=secrets.token_hex(12))
    try:
        server.start()
    except mariadb_server.MariaDBStartError as exc:
        # Every test of the group reports this: one line each, the log once, on disk.
        log = tmp_path_factory.getbasetemp() / "differential-mariadb-start.log"
        log.write_text(str(exc))
        pytest.fail(f"the private MariaDB did not start ({str(exc).splitlines()[0]}); "
                    f"its log: {log}", pytrace=False)
    try:
        yield MariaDBEndpoint(server.host, server.port, server.user, server.password)
    finally:
        server.stop()
