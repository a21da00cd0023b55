"""Stored routines against a real ``marmotdb serve``: PyMySQL's multi-result CALL and OUT
parameters, the ``mariadb`` CLI with DELIMITER, KILL QUERY of a running CALL, and a
``mariadb-dump --routines`` round trip."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pymysql
import pytest

from tests.integration.server import MARIADB_CLI, MarmotServer
from tests.integration.test_mysqldump import DUMP_BIN, DUMP_TIMEOUT_S, _login_args

pytestmark = pytest.mark.integration

KILL_WAIT_S = 30.0


def _connect(server: MarmotServer, database: str, **kwargs: Any) -> Any:
    return server.connect(database=database, autocommit=True, charset="utf8mb4", **kwargs)


def test_call_returns_several_result_sets_then_ok(marmot_server: MarmotServer) -> None:
    db = marmot_server.create_database(
        "rt_multi", "CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, v VARCHAR(10))",
        "DROP PROCEDURE IF EXISTS two_sets",
        "CREATE PROCEDURE two_sets(IN n INT) BEGIN INSERT INTO t VALUES (n, 'x'); "
        "SELECT n AS first; SELECT id, v FROM t ORDER BY id; END")
    conn = _connect(marmot_server, db)
    with conn.cursor() as cur:
        cur.execute("CALL two_sets(7)")
        assert cur.fetchall() == ((7,),)
        assert cur.nextset()
        assert cur.fetchall() == ((7, "x"),)
        assert cur.nextset()  # the final OK of the CALL
        assert not cur.fetchall()
        assert not cur.nextset()
        cur.execute("SELECT 1")  # the connection is in step after the CALL
        assert cur.fetchall() == ((1,),)
    conn.close()


def test_out_parameters_through_user_variables(marmot_server: MarmotServer) -> None:
    db = marmot_server.create_database(
        "rt_out", "DROP PROCEDURE IF EXISTS divide",
        "CREATE PROCEDURE divide(IN a INT, IN b INT, OUT q INT, OUT r INT) "
        "BEGIN SET q = a DIV b; SET r = a MOD b; END")
    conn = _connect(marmot_server, db)
    with conn.cursor() as cur:
        cur.callproc("divide", (17, 5, 0, 0))  # PyMySQL's @_divide_N variables
        cur.execute("SELECT @_divide_2, @_divide_3")
        assert cur.fetchall() == ((3, 2),)
        with pytest.raises(pymysql.err.OperationalError) as info:
            cur.execute("CALL divide(1, 0, @q)")
        assert info.value.args[0] == 1318
    conn.close()


def test_signal_reaches_the_client_with_its_sqlstate(marmot_server: MarmotServer) -> None:
    db = marmot_server.create_database(
        "rt_signal", "DROP PROCEDURE IF EXISTS guard",
        "CREATE PROCEDURE guard(IN n INT) BEGIN IF n < 0 THEN SIGNAL SQLSTATE '45000' "
        "SET MESSAGE_TEXT = 'negative'; END IF; END")
    conn = _connect(marmot_server, db)
    with conn.cursor() as cur:
        with pytest.raises(pymysql.err.OperationalError) as info:
            cur.execute("CALL guard(-1)")
        assert info.value.args == (1644, "negative")
    conn.close()


def test_mariadb_cli_with_delimiter(marmot_server: MarmotServer) -> None:
    marmot_server.create_database("rt_cli")
    script = """
DROP PROCEDURE IF EXISTS counter;
DROP FUNCTION IF EXISTS twice;
DELIMITER //
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC
BEGIN
  RETURN x * 2;
END //
CREATE PROCEDURE counter(IN n INT)
BEGIN
  DECLARE i INT DEFAULT 0;
  WHILE i < n DO
    SET i = i + 1;
  END WHILE;
  SELECT i AS counted, twice(i) AS doubled;
END //
DELIMITER ;
CALL counter(4);
"""
    result = marmot_server.mariadb_cli(["--batch", "rt_cli"], input=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["counted", "doubled", "4", "8"]


def test_kill_query_stops_a_running_call(marmot_server: MarmotServer) -> None:
    db = marmot_server.create_database(
        "rt_kill", "DROP PROCEDURE IF EXISTS spin",
        "CREATE PROCEDURE spin() BEGIN DECLARE i INT DEFAULT 0; "
        "WHILE 1 DO SET i = i + 1; END WHILE; END")
    runner = _connect(marmot_server, db)
    other = _connect(marmot_server, db)
    outcome: list[Any] = []

    def run() -> None:
        try:
            with runner.cursor() as cur:
                cur.execute("CALL spin()")
            outcome.append(None)
        except pymysql.err.MySQLError as exc:
            outcome.append(exc.args)
    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    with other.cursor() as cur:
        cur.execute("SELECT 42")  # the server still answers others while the CALL runs
        assert cur.fetchall() == ((42,),)
        cur.execute(f"KILL QUERY {runner.thread_id()}")
    thread.join(KILL_WAIT_S)
    assert not thread.is_alive()
    assert outcome and outcome[0][0] == 1317
    with runner.cursor() as cur:  # the session goes on
        cur.execute("SELECT 1")
        assert cur.fetchall() == ((1,),)
    runner.close()
    other.close()


def _dump(server: MarmotServer, database: str) -> bytes:
    result = subprocess.run([DUMP_BIN, *_login_args(server), "--routines", "--skip-dump-date",
                             database], capture_output=True, timeout=DUMP_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def test_mysqldump_routines_round_trip(marmot_server: MarmotServer) -> None:
    marmot_server.create_database(
        "rt_dump_src", "CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)",
        "DROP PROCEDURE IF EXISTS fill", "DROP FUNCTION IF EXISTS plus_one",
        "CREATE FUNCTION plus_one(x INT) RETURNS INT DETERMINISTIC COMMENT 'adds' "
        "RETURN x + 1",
        "CREATE PROCEDURE fill(IN n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n"
        "  WHILE i < n DO\n    SET i = plus_one(i);\n    INSERT INTO t VALUES (i);\n"
        "  END WHILE;\nEND")
    dump = _dump(marmot_server, "rt_dump_src")
    assert b"CREATE DEFINER=`root`@" in dump and b"PROCEDURE `fill`" in dump
    conn = _connect(marmot_server, "rt_dump_src")
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS rt_dump_copy")
        cur.execute("CREATE DATABASE rt_dump_copy")
    conn.close()
    restored = subprocess.run([MARIADB_CLI, *_login_args(marmot_server), "rt_dump_copy"],
                              input=dump, capture_output=True, timeout=DUMP_TIMEOUT_S,
                              check=False)
    assert restored.returncode == 0, restored.stderr.decode(errors="replace")
    copy = _connect(marmot_server, "rt_dump_copy")
    with copy.cursor() as cur:
        cur.execute("CALL fill(3)")
        cur.execute("SELECT id FROM t ORDER BY id")
        assert cur.fetchall() == ((1,), (2,), (3,))
        cur.execute("SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_COMMENT FROM "
                    "information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'rt_dump_copy' "
                    "ORDER BY ROUTINE_NAME")
        assert cur.fetchall() == (("fill", "PROCEDURE", ""), ("plus_one", "FUNCTION", "adds"))
        cur.execute("DELETE FROM t")
    copy.close()
    again = _dump(marmot_server, "rt_dump_copy")
    assert again.replace(b"rt_dump_copy", b"rt_dump_src") == dump
