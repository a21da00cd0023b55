"""Real MySQL clients against a real ``marmotdb serve`` process."""

from __future__ import annotations

import asyncio
import importlib
import datetime
import decimal
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pymysql
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(marmot_server):
    conn = marmot_server.connect(autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS app")
    conn.close()
    return "app"


def test_pymysql_crud_types_and_counts(marmot_server, db):
    conn = marmot_server.connect(database=db, autocommit=True)
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS typed")
    cur.execute("CREATE TABLE typed (id BIGINT AUTO_INCREMENT PRIMARY KEY, big BIGINT, "
                "price DECIMAL(12,2), ratio DOUBLE, born DATETIME, day DATE, name VARCHAR(40), "
                "data BLOB)")
    big = 2**62 + 12345
    assert cur.execute("INSERT INTO typed (big, price, ratio, born, day, name, data) VALUES "
                       "(%s, %s, %s, %s, %s, %s, %s)",
                       (big, decimal.Decimal("1234.50"), 0.125,
                        datetime.datetime(2024, 2, 29, 13, 14, 15), datetime.date(2024, 1, 2),
                        "héllo", b"\x00\xffbin")) == 1
    first_id = cur.lastrowid
    assert first_id == 1
    assert cur.execute("INSERT INTO typed (name) VALUES ('a'), ('b'), ('c')") == 3
    assert cur.lastrowid == 2  # MySQL reports the first id of a multi-row insert
    cur.execute("SELECT big, price, ratio, born, day, name, data FROM typed WHERE id = %s",
                (first_id,))
    assert cur.fetchone() == (big, decimal.Decimal("1234.50"), 0.125,
                              datetime.datetime(2024, 2, 29, 13, 14, 15),
                              datetime.date(2024, 1, 2), "héllo", b"\x00\xffbin")
    cur.execute("SELECT name, big FROM typed WHERE id = 2")
    assert cur.fetchone() == ("a", None)
    assert cur.execute("UPDATE typed SET name = 'z' WHERE id >= 2") == 3
    assert cur.execute("DELETE FROM typed WHERE name = 'z'") == 3
    cur.execute("SELECT COUNT(*) FROM typed")
    assert cur.fetchone() == (1,)
    conn.close()


def test_errors_carry_mysql_codes(marmot_server, db):
    conn = marmot_server.connect(database=db, autocommit=True)
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS uniq")
    cur.execute("CREATE TABLE uniq (id INT PRIMARY KEY, v INT NOT NULL)")
    cur.execute("INSERT INTO uniq VALUES (1, 1)")
    cases = [("INSERT INTO uniq VALUES (1, 2)", 1062),
             ("SELECT * FROM missing_table", 1146),
             ("SELEKT 1", 1064),
             ("INSERT INTO uniq VALUES (2, NULL)", 1048),
             ("SELECT nosuchcolumn FROM uniq", 1054),
             ("CREATE TABLE uniq (id INT)", 1050),
             ("DROP TABLE nosuchtable", 1051),
             ("USE nosuchdb", 1049)]
    for sql, code in cases:
        with pytest.raises(pymysql.MySQLError) as info:
            cur.execute(sql)
        assert info.value.args[0] == code, (sql, info.value.args)
    cur.execute("SELECT v FROM uniq")  # the connection is still fine
    assert cur.fetchall() == ((1,),)
    conn.close()


def test_transactions_commit_rollback_savepoints(marmot_server, db):
    conn = marmot_server.connect(database=db)
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS acct")
    cur.execute("CREATE TABLE acct (id INT PRIMARY KEY, bal INT)")
    conn.autocommit(False)
    assert conn.get_autocommit() is False
    cur.execute("INSERT INTO acct VALUES (1, 100)")
    conn.rollback()
    cur.execute("SELECT COUNT(*) FROM acct")
    assert cur.fetchone() == (0,)
    cur.execute("INSERT INTO acct VALUES (1, 100)")
    cur.execute("SAVEPOINT s1")
    cur.execute("INSERT INTO acct VALUES (2, 200)")
    cur.execute("ROLLBACK TO SAVEPOINT s1")
    conn.commit()
    other = marmot_server.connect(database=db, autocommit=True)
    ocur = other.cursor()
    ocur.execute("SELECT id, bal FROM acct ORDER BY id")
    assert ocur.fetchall() == ((1, 100),)
    # A failing statement inside a transaction undoes only itself.
    cur.execute("BEGIN")
    cur.execute("UPDATE acct SET bal = 150 WHERE id = 1")
    with pytest.raises(pymysql.IntegrityError):
        cur.execute("INSERT INTO acct VALUES (1, 1)")
    cur.execute("COMMIT")
    ocur.execute("SELECT bal FROM acct WHERE id = 1")
    assert ocur.fetchone() == (150,)
    conn.close()
    other.close()


def test_second_writer_waits_then_gets_1205(marmot_server, db):
    a = marmot_server.connect(database=db, autocommit=True)
    b = marmot_server.connect(database=db, autocommit=True)
    ca, cb = a.cursor(), b.cursor()
    ca.execute("DROP TABLE IF EXISTS lockt")
    ca.execute("CREATE TABLE lockt (id INT PRIMARY KEY, v INT)")
    ca.execute("INSERT INTO lockt VALUES (1, 0)")
    ca.execute("BEGIN")
    ca.execute("UPDATE lockt SET v = 1 WHERE id = 1")
    cb.execute("SET SESSION innodb_lock_wait_timeout = 1")
    started = time.monotonic()
    with pytest.raises(pymysql.OperationalError) as info:
        cb.execute("UPDATE lockt SET v = 2 WHERE id = 1")
    assert info.value.args[0] == 1205
    assert time.monotonic() - started >= 0.9
    cb.execute("SELECT v FROM lockt")  # readers never block
    assert cb.fetchone() == (0,)
    # The waiter proceeds as soon as the holder commits.
    done = threading.Event()

    def writer():
        cb.execute("SET SESSION innodb_lock_wait_timeout = 10")
        cb.execute("UPDATE lockt SET v = 3 WHERE id = 1")
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.3)
    assert not done.is_set()
    ca.execute("COMMIT")
    thread.join(10)
    assert done.is_set()
    ca.execute("SELECT v FROM lockt")
    assert ca.fetchone() == (3,)
    a.close()
    b.close()


def test_disconnect_mid_transaction_loses_only_that_transaction(marmot_server, db):
    a = marmot_server.connect(database=db, autocommit=True)
    cur = a.cursor()
    cur.execute("DROP TABLE IF EXISTS dc")
    cur.execute("CREATE TABLE dc (id INT PRIMARY KEY)")
    cur.execute("INSERT INTO dc VALUES (1)")
    cur.execute("BEGIN")
    cur.execute("INSERT INTO dc VALUES (2)")
    a.close()  # goes away without COMMIT
    b = marmot_server.connect(database=db, autocommit=True)
    bc = b.cursor()
    bc.execute("INSERT INTO dc VALUES (3)")  # the lock was released with the session
    bc.execute("SELECT id FROM dc ORDER BY id")
    assert bc.fetchall() == ((1,), (3,))
    b.close()


def test_multi_statements_and_results(marmot_server, db):
    conn = marmot_server.connect(database=db, autocommit=True,
                                 client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    cur = conn.cursor()
    cur.execute("SELECT 1; SELECT 'two'")
    assert cur.fetchall() == ((1,),)
    assert cur.nextset()
    assert cur.fetchall() == (("two",),)
    assert not cur.nextset()
    conn.close()


def test_mysqlclient(marmot_server, db):
    import MySQLdb
    conn = MySQLdb.connect(host=marmot_server.host, port=marmot_server.port,
                           user=marmot_server.user, password=marmot_server.password,
                           database=db)
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS mc")
    cur.execute("CREATE TABLE mc (id INT PRIMARY KEY, name VARCHAR(10))")
    cur.executemany("INSERT INTO mc VALUES (%s, %s)", [(1, "a"), (2, "b")])
    conn.commit()
    cur.execute("SELECT id, name FROM mc ORDER BY id")
    assert cur.fetchall() == ((1, "a"), (2, "b"))
    conn.close()


def test_connector_python_prepared_cursor_and_caching_sha2(marmot_server, db):
    import mysql.connector as mysql_connector
    conn = mysql_connector.connect(host=marmot_server.host, port=marmot_server.port,
                                   user=marmot_server.user, password=marmot_server.password,
                                   database=db, auth_plugin="caching_sha2_password",
                                   ssl_disabled=False)
    cur = conn.cursor(prepared=True)
    cur.execute("DROP TABLE IF EXISTS pc")
    cur.execute("CREATE TABLE pc (id INT PRIMARY KEY, amount DECIMAL(8,3), at DATETIME(6), "
                "note TEXT)")
    rows = [(i, decimal.Decimal(f"{i}.125"), datetime.datetime(2025, 1, i, 1, 2, 3, 456000 + i),
             None if i == 2 else f"n{i}") for i in range(1, 4)]
    for row in rows:  # the same statement re-executed: types are not resent
        cur.execute("INSERT INTO pc VALUES (?, ?, ?, ?)", row)
    conn.commit()
    cur.execute("SELECT id, amount, at, note FROM pc WHERE id >= ? ORDER BY id", (1,))
    assert [tuple(r) for r in cur.fetchall()] == rows
    conn.close()


def test_asyncmy_and_aiomysql(marmot_server, db):
    async def run() -> list:
        results = []
        for module_name in ("asyncmy", "aiomysql"):
            module = importlib.import_module(module_name)
            conn = await module.connect(host=marmot_server.host, port=marmot_server.port,
                                        user=marmot_server.user,
                                        password=marmot_server.password, db=db,
                                        autocommit=True)
            async with conn.cursor() as cur:
                await cur.execute("SELECT %s + 1", (41,))
                results.append((await cur.fetchone())[0])
            conn.close()
        return results

    assert asyncio.run(run()) == [42, 42]


def test_tls_with_pymysql_and_mariadb_cli(marmot_server, db):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = marmot_server.connect(ssl=context)
    cur = conn.cursor()
    cur.execute("SELECT 7")
    assert cur.fetchone() == (7,)
    # What clients (aiomysql's tests, Workbench) read to know the link is encrypted.
    cur.execute("SHOW STATUS LIKE 'Ssl_version%'")
    assert cur.fetchall() == ((("Ssl_version", conn._sock.version()),))
    cur.execute("SHOW SESSION STATUS WHERE Variable_name = 'Ssl_cipher'")
    assert cur.fetchall() == ((("Ssl_cipher", conn._sock.cipher()[0]),))
    conn.close()
    plain = marmot_server.connect(ssl_disabled=True)
    with plain.cursor() as cur:
        cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        assert cur.fetchall() == (("Ssl_cipher", ""),)
    plain.close()
    done = marmot_server.mariadb_cli(["--ssl", "--ssl-verify-server-cert=0", "-N", "-e",
                                      "SELECT 'secure'"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "secure"


def test_no_backslash_escapes_reaches_the_client(marmot_server, db):
    """With sql_mode NO_BACKSLASH_ESCAPES the OK packets say so (status 512): PyMySQL then
    doubles quotes instead of backslash-escaping them, and values round-trip unchanged."""
    conn = marmot_server.connect(autocommit=True)
    with conn.cursor() as cur:
        assert conn.escape("foo'bar") == "'foo\\'bar'"
        cur.execute("SET sql_mode = 'NO_BACKSLASH_ESCAPES'")
        assert conn.server_status & 512
        assert conn.escape("foo'bar") == "'foo''bar'"
        cur.execute("SELECT %s", ("a\\b'c",))
        assert cur.fetchone() == ("a\\b'c",)
        cur.execute("SET sql_mode = DEFAULT")
        assert not conn.server_status & 512
    conn.close()


def test_aiomysql_kill_sends_com_process_kill(marmot_server, db):
    """aiomysql's kill() is COM_PROCESS_KILL (PyMySQL's now sends the KILL statement)."""
    aiomysql = importlib.import_module("aiomysql")

    async def run() -> int:
        victim = await aiomysql.connect(**marmot_server.login())
        killer = await aiomysql.connect(**marmot_server.login())
        await killer.kill(victim.thread_id())
        with pytest.raises(aiomysql.OperationalError):
            async with victim.cursor() as cur:
                await cur.execute("SELECT 1")
        with pytest.raises(aiomysql.OperationalError) as unknown:
            await killer.kill(999_999)
        killer.close()
        victim.close()
        return unknown.value.args[0]

    assert asyncio.run(run()) == 1094  # Unknown thread id


def test_sha256_password_account_with_pymysql(marmot_server, db):
    """An account created WITH sha256_password (aiomysql's tests make two): PyMySQL logs in
    over TLS (the password itself) and without (RSA key exchange)."""
    admin = marmot_server.connect(autocommit=True)
    with admin.cursor() as cur:
        cur.execute("DROP USER IF EXISTS sha_user")
        cur.execute('CREATE USER sha_user IDENTIFIED WITH "sha256_password" BY "pass_sha256"')
    admin.close()
    for tls in ({"ssl": {"check_hostname": False}}, {"ssl_disabled": True}):
        conn = pymysql.connect(host=marmot_server.host, port=marmot_server.port,
                               user="sha_user", password="pass_sha256", connect_timeout=10,
                               **tls)
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone() == ("sha_user@%",)
        conn.close()
    with pytest.raises(pymysql.err.OperationalError) as denied:
        pymysql.connect(host=marmot_server.host, port=marmot_server.port, user="sha_user",
                        password="wrong", connect_timeout=10)
    assert denied.value.args[0] == 1045


def test_mariadb_cli_batch(marmot_server, db):
    script = ("CREATE TABLE IF NOT EXISTS cli (id INT PRIMARY KEY, s VARCHAR(5));\n"
              "REPLACE INTO cli VALUES (1, 'x'), (2, NULL);\n"
              "SELECT id, s FROM cli ORDER BY id;\n")
    done = marmot_server.mariadb_cli(["-D", db, "--batch"], input=script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["id\ts", "1\tx", "2\tNULL"]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_mariadb_cli_interactive_session(marmot_server, db, tmp_path):
    session = f"marmot{marmot_server.port}"
    command = (f"mariadb -h{marmot_server.host} -P{marmot_server.port} -u{marmot_server.user} "
               f"-p{marmot_server.password} {db}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                    command], check=True)
    try:
        def screen() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout

        deadline = time.monotonic() + 15
        while "[app]>" not in screen() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "MySQL [app]>" in screen(), screen()  # the CLI names a non-MariaDB server MySQL
        for line in ("SELECT 40 + 2 AS answer\\;", "status"):  # tmux: a bare ';' separates
            subprocess.run(["tmux", "send-keys", "-t", session, line, "Enter"], check=True)
        deadline = time.monotonic() + 10
        while "Uptime" not in screen() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = screen()
        assert "| answer |" in text and "|     42 |" in text, text
        assert "Uptime:" in text, text
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_server_survives_garbage_and_slow_clients(marmot_server):
    for payload in (b"\x00" * 3, b"GET / HTTP/1.1\r\n\r\n", b"\xff\xff\xff\x00" + b"A" * 64):
        with socket.create_connection((marmot_server.host, marmot_server.port), 5) as sock:
            sock.recv(4096)  # the handshake
            sock.sendall(payload)
            sock.settimeout(5)
            try:
                while sock.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
    conn = marmot_server.connect()
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    conn.close()


def test_security_surface_is_closed(marmot_server, db):
    conn = marmot_server.connect(database=db, autocommit=True)
    cur = conn.cursor()
    for sql in ("ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA journal_mode=DELETE",
                "SELECT load_extension('/tmp/evil')", "SELECT * FROM __marmot_schema",
                "SELECT * FROM sqlite_master"):
        with pytest.raises(pymysql.MySQLError) as info:
            cur.execute(sql)
        assert info.value.args[0] in (1064, 1142, 1227, 1235, 1146, 1305), (sql, info.value)
    conn.close()


def test_wrong_password_and_unknown_user_are_refused(marmot_server):
    for user, password in (("root", "wrong"), ("nobody", "x"), ("root", "")):
        with pytest.raises(pymysql.OperationalError) as info:
            marmot_server.connect(user=user, password=password)
        assert info.value.args[0] == 1045


def test_sysbench_oltp_read_write_both_ps_modes(marmot_server):
    if shutil.which("sysbench") is None:
        pytest.skip("sysbench not installed")
    conn = marmot_server.connect(autocommit=True)
    conn.cursor().execute("CREATE DATABASE IF NOT EXISTS sbtest")
    conn.close()
    common = ["sysbench", "oltp_read_write", f"--mysql-host={marmot_server.host}",
              f"--mysql-port={marmot_server.port}", f"--mysql-user={marmot_server.user}",
              f"--mysql-password={marmot_server.password}", "--mysql-db=sbtest", "--tables=1",
              "--table-size=1000", "--threads=4"]
    prepare = subprocess.run(common + ["prepare"], capture_output=True, text=True, timeout=120)
    assert prepare.returncode == 0, prepare.stdout + prepare.stderr
    for mode in ("auto", "disable"):
        run = subprocess.run(common + ["--events=200", "--time=0", f"--db-ps-mode={mode}",
                                       "run"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "transactions:" in run.stdout and "ignored errors:" in run.stdout
        transactions = int(run.stdout.split("transactions:")[1].split()[0])
        assert transactions == 200, run.stdout
    subprocess.run(common + ["cleanup"], capture_output=True, timeout=120)


def test_sleep_waits_without_blocking_others(marmot_server):
    sleeper = marmot_server.connect()
    other = marmot_server.connect()
    finished = []

    def sleep():
        cur = sleeper.cursor()
        cur.execute("SELECT SLEEP(0.5)")
        finished.append((cur.fetchone(), time.monotonic()))

    started = time.monotonic()
    thread = threading.Thread(target=sleep)
    thread.start()
    time.sleep(0.1)
    cur = other.cursor()
    cur.execute("SELECT 1")  # served while the other connection sleeps
    assert cur.fetchone() == (1,) and time.monotonic() - started < 0.45
    thread.join(5)
    assert finished and finished[0][0] == (0,) and finished[0][1] - started >= 0.5
    sleeper.close()
    other.close()
