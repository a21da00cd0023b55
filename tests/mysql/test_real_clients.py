"""Real MySQL clients against ServerConnection served by tests/mysql/harness.py (no SQL engine).

PyMySQL, mysql-connector-python (prepared cursor = binary protocol, re-executed) and the
mariadb CLI log in with both auth plugins, with and without TLS, through the fast path,
the RSA key exchange and full authentication over TLS.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from decimal import Decimal

import pytest

from marmotdb.mysql import auth
from marmotdb.mysql.connection import ProtocolSettings
from tests.mysql.harness import HarnessServer

pytestmark = pytest.mark.integration

USERS = {
    "nat": ("natpw", auth.NATIVE),
    "sha": ("shapw", auth.CACHING_SHA2),
    "any": ("anypw", auth.ANY_PLUGIN),
}


def credentials() -> dict[str, str]:
    return {name: auth.make_credential(pw, plugin, iterations=1000)
            for name, (pw, plugin) in USERS.items()}


@pytest.fixture(scope="module")
def fast_server(tls_contexts, rsa_key):
    server = HarnessServer(credentials(), ssl_context=tls_contexts[0], rsa_key=rsa_key).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def full_auth_server(tls_contexts, rsa_key):
    server = HarnessServer(credentials(), ssl_context=tls_contexts[0], rsa_key=rsa_key,
                           settings=ProtocolSettings(caching_sha2_fast_path=False)).start()
    yield server
    server.stop()


def pick(request, name: str) -> HarnessServer:
    return request.getfixturevalue(name)


# --- PyMySQL ----------------------------------------------------------------------------------

pymysql = pytest.importorskip("pymysql")


def pymysql_connect(server: HarnessServer, user: str, tls: bool, cert_files, **kw):
    ssl_args = {"ssl": {"ca": str(cert_files[0]), "check_hostname": False}} if tls else {}
    return pymysql.connect(host="127.0.0.1", port=server.port, user=user,
                           password=USERS[user][0], connect_timeout=5, read_timeout=10,
                           **ssl_args, **kw)


@pytest.mark.parametrize("server_name", ["fast_server", "full_auth_server"])
@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("user", ["nat", "sha", "any"])
def test_pymysql_logs_in_and_queries(request, cert_files, server_name, tls, user):
    server = pick(request, server_name)
    conn = pymysql_connect(server, user, tls, cert_files, database="shop")
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1, 'two', NULL, 1.5")
        assert cur.fetchall() == ((1, "two", None, Decimal("1.5")),)
        assert [d[0] for d in cur.description] == ["1", "'two'", "NULL", "1.5"]
        if tls:
            assert cur.connection._sock.version() is not None  # really over TLS
    finally:
        conn.close()


def test_pymysql_status_flags_insert_id_errors_and_multi_results(fast_server, cert_files):
    from pymysql.constants import CLIENT
    conn = pymysql_connect(fast_server, "sha", False, cert_files, autocommit=True,
                           client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        assert conn.get_autocommit() is True  # read from SERVER_STATUS_AUTOCOMMIT
        cur = conn.cursor()
        cur.execute("INSERT INTO t VALUES (1)")
        cur.execute("INSERT INTO t VALUES (2)")
        assert cur.rowcount == 1 and cur.lastrowid == 2
        cur.execute("BEGIN")
        assert conn.server_status & 1  # IN_TRANS
        cur.execute("COMMIT")
        assert not conn.server_status & 1
        with pytest.raises(pymysql.err.ProgrammingError) as info:
            cur.execute("DROP EVERYTHING")
        assert info.value.args[0] == 1064
        cur.execute("SELECT 1; SELECT 'b'; INSERT INTO t VALUES (3)")
        assert cur.fetchall() == ((1,),)
        assert cur.nextset() and cur.fetchall() == (("b",),)
        assert cur.nextset() and cur.rowcount == 1
        assert not cur.nextset()
        conn.ping()
        conn.select_db("other")
        cur.execute("SELECT 42")
        assert cur.fetchone() == (42,)
    finally:
        conn.close()


def test_pymysql_wrong_password(fast_server):
    with pytest.raises(pymysql.err.OperationalError) as info:
        pymysql.connect(host="127.0.0.1", port=fast_server.port, user="sha", password="nope",
                        connect_timeout=5)
    assert info.value.args[0] == 1045


# --- mysql-connector-python -------------------------------------------------------------------

mysql_connector = pytest.importorskip("mysql.connector")


def connector_connect(server: HarnessServer, user: str, tls: bool, cert_files):
    ssl_args = {"ssl_ca": str(cert_files[0]), "ssl_verify_cert": False} if tls \
        else {"ssl_disabled": True}
    return mysql_connector.connect(host="127.0.0.1", port=server.port, user=user,
                                   password=USERS[user][0], connection_timeout=5,
                                   use_pure=True, **ssl_args)


@pytest.mark.parametrize("server_name", ["fast_server", "full_auth_server"])
@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("user", ["nat", "sha"])
def test_connector_prepared_cursor_binary_round_trip(request, cert_files, server_name, tls,
                                                     user):
    server = pick(request, server_name)
    if server_name == "full_auth_server" and user == "sha" and not tls:
        # Connector/Python (pure) answers a full-auth request with the password in clear
        # even without TLS; like MySQL, the server refuses to take it over plain TCP.
        with pytest.raises(mysql_connector.errors.ProgrammingError) as info:
            connector_connect(server, user, tls, cert_files)
        assert info.value.errno == 1045
        return
    conn = connector_connect(server, user, tls, cert_files)
    try:
        cur = conn.cursor(prepared=True)
        values = (7, "text é", 2.5, Decimal("10.25"), dt.date(2024, 2, 29),
                  dt.datetime(2024, 2, 29, 1, 2, 3, 456000), None, b"\x00\xffbytes")
        cur.execute("SELECT ?, ?, ?, ?, ?, ?, ?, ?", values)
        row = cur.fetchone()
        assert row[0] == 7 and row[1] == "text é" and row[2] == 2.5
        assert row[3] == Decimal("10.25") and row[6] is None
        assert str(row[4]) == "2024-02-29"
        assert str(row[5]).startswith("2024-02-29 01:02:03.456")
        assert bytes(row[7]) == b"\x00\xffbytes"
        for i in range(3):  # re-execute the same statement with new values
            cur.execute("SELECT ?, ?, ?, ?, ?, ?, ?, ?",
                        (i, str(i), float(i), Decimal(i), dt.date(2020, 1, 1 + i),
                         dt.datetime(2020, 1, 1), i, b"x"))
            assert cur.fetchone()[0] == i
        cur.close()
        text = conn.cursor()
        text.execute("SELECT 'plain', 3")
        assert text.fetchall() == [("plain", 3)]
    finally:
        conn.close()


# --- the mariadb CLI --------------------------------------------------------------------------

MARIADB = shutil.which("mariadb")


@pytest.mark.skipif(MARIADB is None, reason="mariadb CLI not installed")
@pytest.mark.parametrize("server_name", ["fast_server", "full_auth_server"])
@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("user", ["nat", "sha"])
def test_mariadb_cli(request, server_name, tls, user):
    server = pick(request, server_name)
    args = [MARIADB, "-h127.0.0.1", f"-P{server.port}", f"-u{user}", f"-p{USERS[user][0]}",
            "--batch", "--skip-column-names"]
    args.append("--ssl" if tls else "--skip-ssl")
    script = "SELECT 1, 'x';\nSELECT @@version_comment;\nstatus\n"  # status: a client command
    done = subprocess.run(args, input=script, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "1\tx"
    assert lines[1] == "marmotdb harness"
    assert "Threads: 1  Questions: 1" in done.stdout  # COM_STATISTICS, via `status`
    ssl_line = next(line for line in lines if line.startswith("SSL:"))
    assert ("Cipher in use" in ssl_line) == tls
