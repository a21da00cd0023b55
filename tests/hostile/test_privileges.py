"""Careless and hostile accounts against a real ``marmotdb serve``: PROCESSLIST and KILL of other
users' threads, SET GLOBAL without the privilege or of a setting marmotdb cannot honour, LOCK
TABLES that really hold other writers back, and SET GLOBAL of the listener's limits taking
effect for the connections that come afterwards."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pymysql
import pytest
from pymysql.constants import CLIENT, COMMAND

from marmotdb.mysql.auth import make_credential
from tests.hostile.test_server import shop  # noqa: F401 - the module's database
from tests.integration.server import ROOT_PASSWORD, MarmotServer, serving

pytestmark = pytest.mark.integration
PASSWORD = "pw-of-the-app"


@pytest.fixture(scope="module")
def marmot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarmotServer]:
    base = tmp_path_factory.mktemp("privileges")
    (base / "data").mkdir()
    users = [{"name": "root", "credential": make_credential(ROOT_PASSWORD), "grants": ["*:admin"]},
             {"name": "app", "credential": make_credential(PASSWORD), "grants": ["shop:admin"]},
             {"name": "peek", "credential": make_credential(PASSWORD), "grants": ["shop:r"]}]
    (base / "data" / "users.json").write_text(json.dumps(users))
    yield from serving(base)


def connect(marmot: MarmotServer, user: str = "root", **kwargs) -> pymysql.Connection:
    password = ROOT_PASSWORD if user == "root" else PASSWORD
    return pymysql.connect(host=marmot.host, port=marmot.port, user=user, password=password,
                           ssl_disabled=True, connect_timeout=5, read_timeout=20,
                           autocommit=True, **kwargs)


def error_of(cursor, sql: str) -> int:
    with pytest.raises(pymysql.MySQLError) as info:
        cursor.execute(sql)
    return info.value.args[0]


def test_processlist_and_kill_respect_other_users(marmot, shop):
    with connect(marmot) as root, root.cursor() as rc, connect(marmot, "app") as app, \
            app.cursor() as ac:
        rc.execute("SELECT CONNECTION_ID()")
        root_id = rc.fetchone()[0]
        rc.execute("SELECT 'the secret in root''s statement'")
        ac.execute("SHOW FULL PROCESSLIST")
        assert {row[1] for row in ac.fetchall()} == {"app"}
        ac.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'root'")
        assert ac.fetchone() == (0,)
        assert error_of(ac, f"KILL {root_id}") == 1095
        rc.execute("SHOW PROCESSLIST")
        assert {"root", "app"} <= {row[1] for row in rc.fetchall()}


def test_set_global_is_refused_or_takes_effect(marmot, shop):
    with connect(marmot, "app") as app, app.cursor() as ac:
        assert error_of(ac, "SET GLOBAL max_connections = 5") == 1227
        assert error_of(ac, "SET SESSION max_allowed_packet = 4096") == 1621
        assert error_of(ac, "SET sql_select_limit = 10") == 1235
    with connect(marmot) as root, root.cursor() as rc:
        assert error_of(rc, "SET GLOBAL general_log = ON") == 1235
        assert error_of(rc, "SET GLOBAL server_id = 9") == 1238
        rc.execute("SET GLOBAL require_secure_transport = ON")  # the server offers TLS
        rc.execute("SET GLOBAL require_secure_transport = OFF")
        rc.execute("SET GLOBAL wait_timeout = 1234")
        with connect(marmot, "app") as later, later.cursor() as lc:
            lc.execute("SELECT @@session.wait_timeout")
            assert lc.fetchone() == (1234,)  # a session that starts afterwards
        rc.execute("SET GLOBAL wait_timeout = DEFAULT")


def test_lock_tables_write_holds_another_connection_back(marmot, shop):
    finished: list[float] = []
    with connect(marmot, "app", database=shop) as holder, holder.cursor() as hc, \
            connect(marmot, "app", database=shop) as other:
        hc.execute("CREATE TABLE IF NOT EXISTS u (id INT PRIMARY KEY)")
        hc.execute("DELETE FROM t")
        hc.execute("INSERT INTO t VALUES (1, 1)")
        hc.execute("LOCK TABLES t WRITE")

        def write() -> None:
            with other.cursor() as oc:
                oc.execute("UPDATE t SET n = n + 10")
            finished.append(time.monotonic())
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.5)
        assert finished == []  # still waiting for the lock
        hc.execute("UPDATE t SET n = 2")
        assert error_of(hc, "SELECT * FROM u") == 1100
        released = time.monotonic()
        hc.execute("UNLOCK TABLES")
        writer.join(10)
        assert finished and finished[0] >= released
        hc.execute("SELECT n FROM t")
        assert hc.fetchone() == (12,)


def test_check_table_over_the_wire(marmot, shop):
    with connect(marmot, "peek", database=shop) as peek, peek.cursor() as pc:
        pc.execute("CHECK TABLE t, nope")
        assert pc.fetchall() == (("shop.t", "check", "status", "OK"),
                                 ("shop.nope", "check", "Error", "Table 'shop.nope' doesn't exist"),
                                 ("shop.nope", "check", "status", "Operation failed"))
        assert error_of(pc, "LOCK TABLES t WRITE") == 1044
        pc.execute("LOCK TABLES t READ")
        assert error_of(pc, "UPDATE t SET n = 0") in (1099, 1142, 1044)
        pc.execute("UNLOCK TABLES")


# ---------------------------------------------------------------------- read by the listener
@contextlib.contextmanager
def global_value(marmot: MarmotServer, name: str, value: object) -> Iterator[None]:
    """SET GLOBAL name = value for the block, then the value it had."""
    with connect(marmot) as root, root.cursor() as cur:
        cur.execute(f"SELECT @@global.{name}")
        before = cur.fetchone()[0]
        cur.execute(f"SET GLOBAL {name} = {value}")
        try:
            yield
        finally:
            cur.execute(f"SET GLOBAL {name} = %s", (before,))


def refused(call) -> int:
    with pytest.raises(pymysql.MySQLError) as info:
        call()
    return info.value.args[0]


def test_set_global_max_connections_keeps_one_slot_for_an_administrator(marmot):
    with connect(marmot) as root, root.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST")
        open_now = cur.fetchone()[0]
    with global_value(marmot, "max_connections", open_now + 1), connect(marmot, "app"):
        assert refused(lambda: connect(marmot, "app")) == 1040
        with connect(marmot) as admin, admin.cursor() as cur:  # the reserved slot
            cur.execute("SELECT 1")


def test_set_global_max_allowed_packet_applies_to_new_connections(marmot):
    big = "SELECT '" + "x" * 1_200_000 + "'"
    with connect(marmot, "app") as before, before.cursor() as old, \
            global_value(marmot, "max_allowed_packet", 1 << 20):
        old.execute(big)  # accepted before the change: keeps its limit
        with connect(marmot, "app") as after, after.cursor() as new:
            assert refused(lambda: new.execute(big)) in (1153, 2013, 2006)


def test_wait_timeout_closes_an_idle_connection(marmot):
    with connect(marmot, "app") as conn, conn.cursor() as cur:
        cur.execute("SET SESSION wait_timeout = 1")
        time.sleep(2.0)
        assert refused(lambda: cur.execute("SELECT 1")) in (2013, 2006, 4031)


def test_interactive_clients_start_from_interactive_timeout(marmot):
    with global_value(marmot, "interactive_timeout", 77), \
            connect(marmot, "app", client_flag=CLIENT.INTERACTIVE) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@session.wait_timeout")
        assert cur.fetchone() == (77,)


def test_set_global_connect_timeout_bounds_a_silent_login(marmot):
    with global_value(marmot, "connect_timeout", 2), \
            socket.create_connection((marmot.host, marmot.port), timeout=6) as sock:
        started = time.monotonic()
        sock.recv(4096)  # the greeting; then say nothing
        while sock.recv(4096):
            pass
        assert time.monotonic() - started < 5


def test_require_secure_transport_refuses_plain_logins(marmot):
    tls = {"ssl": {"check_hostname": False, "verify_mode": ssl.CERT_NONE}}
    with global_value(marmot, "require_secure_transport", "ON"):
        assert refused(lambda: connect(marmot, "app")) == 3159
        with pymysql.connect(host=marmot.host, port=marmot.port, user="app", password=PASSWORD,
                             **tls) as secure, secure.cursor() as cur:
            cur.execute("SELECT 1")


def test_set_global_max_prepared_stmt_count(marmot):
    with global_value(marmot, "max_prepared_stmt_count", 2), connect(marmot, "app") as conn:
        for _ in range(2):
            conn._execute_command(COMMAND.COM_STMT_PREPARE, "DO 1")
            conn._read_packet()
        conn._execute_command(COMMAND.COM_STMT_PREPARE, "DO 1")
        assert refused(conn._read_packet) == 1461
