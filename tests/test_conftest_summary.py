"""The suite's summary and its differential group (tests/conftest.py, tests/differential.py):
groups left out are deselected with one line each saying why and how to run them, not listed
one by one as skipped; with MariaDB installed the differential group runs against one private
server per session, which is gone when the session ends, also when tests failed."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HAS_MARIADB = shutil.which("mariadbd") is not None and shutil.which("mariadb-install-db") \
    is not None

TESTS = '''
import pytest

@pytest.mark.slow
def test_slow(): pass

@pytest.mark.differential
def test_against_mariadb(): pass

def test_using_the_server_is_in_the_group(differential_mariadb): pass

def test_plain(): pass
'''

# Two tests share the session's server; the second fails on purpose: the server must still stop.
SERVER_TESTS = '''
import pathlib

def test_server_is_a_private_mariadb(differential_mariadb):
    conn = differential_mariadb.connect()
    with conn.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@port, @@datadir, @@socket")
        version, port, datadir, sock = cursor.fetchone()
    pathlib.Path("server.txt").write_text(f"{version}\\n{port}\\n{datadir}\\n{sock}\\n")
    assert "MariaDB" in version and port == differential_mariadb.port != 3306

def test_same_server_then_a_failure(differential_mariadb):
    port = int(pathlib.Path("server.txt").read_text().split()[1])
    assert differential_mariadb.port == port
    assert False, "failing on purpose"
'''


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, tests: str = TESTS,
        returncode: int = 0) -> str:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(tests)
    base = {k: v for k, v in os.environ.items() if not k.startswith("MARMOTDB_DIFFERENTIAL")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-W", "ignore::pytest.PytestUnknownMarkWarning", *args],
                            cwd=tmp_path, capture_output=True, text=True, check=False,
                            env={**base, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120)
    assert result.returncode == returncode, result.stdout + result.stderr
    return result.stdout + result.stderr


def without_mariadb(tmp_path: Path) -> dict[str, str]:
    """A PATH on which no MariaDB is installed (the pytest above runs by absolute path)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    return {"PATH": str(empty)}


def test_without_mariadb_one_line_names_what_was_left_out_and_why(tmp_path: Path) -> None:
    out = run(tmp_path, env=without_mariadb(tmp_path))
    assert "1 passed, 3 deselected" in out and "skipped" not in out
    assert "not run: 1 slow tests (long fault tests, seed sweeps); to run them, add --run-slow" \
        in out
    assert re.search(r"not run: 2 differential tests \(.*\); mariadb-install-db is not "
                     r"installed \(apt-get install mariadb-server mariadb-client\); to run "
                     r"them, install it \(scripts/test.sh does\) or set "
                     r"MARMOTDB_DIFFERENTIAL_MARIADB=host:port\n", out), out
    assert out.count("not run:") == 2


def test_no_differential_leaves_them_out(tmp_path: Path) -> None:
    out = run(tmp_path, "--no-differential", "--run-slow")
    assert "2 passed, 2 deselected" in out
    assert "not run: 2 differential tests" in out and "--no-differential was given" in out


def test_differential_without_mariadb_is_a_usage_error(tmp_path: Path) -> None:
    out = run(tmp_path, "--differential", env=without_mariadb(tmp_path),
              returncode=pytest.ExitCode.USAGE_ERROR)
    assert "--differential: cannot run the differential tests: mariadb-install-db is not " \
           "installed" in out


def test_opting_in_runs_them(tmp_path: Path) -> None:
    # An external server is used as named, never started: these tests do not connect.
    out = run(tmp_path, "--run-slow", "-k", "not using_the_server",
              env={"MARMOTDB_DIFFERENTIAL_MARIADB": "127.0.0.1:1"})
    assert "3 passed, 1 deselected" in out and "not run" not in out


@pytest.mark.skipif(not HAS_MARIADB, reason="needs mariadb-server installed")
def test_private_server_runs_once_and_is_gone_after_a_failing_session(tmp_path: Path) -> None:
    out = run(tmp_path, "--differential", tests=SERVER_TESTS,
              returncode=pytest.ExitCode.TESTS_FAILED)
    assert "1 failed, 1 passed" in out and "failing on purpose" in out
    version, port, datadir, sock = (tmp_path / "server.txt").read_text().split()
    assert not Path(datadir).exists() and not Path(sock).exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(port))) != 0
