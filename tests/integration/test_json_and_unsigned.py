"""JSON and BIGINT UNSIGNED (issue 15) as drivers and tools see them against ``marmotdb
serve``: JSON result columns with MySQL's type 245, unsigned values from 2^63 in the text
protocol (PyMySQL), the binary protocol (mysql-connector-python, prepared), and a mysqldump
round trip that restores them exactly."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.server import MARIADB_CLI, MarmotServer
from tests.integration.test_mysqldump import DUMP_BIN, DUMP_TIMEOUT_S, _login_args

pytestmark = pytest.mark.integration

TOP = 2**64 - 1
HALF = 2**63


@pytest.fixture(scope="module")
def db(marmot_server: MarmotServer) -> str:
    return marmot_server.create_database(
        "kinds",
        "CREATE TABLE docs (id INT PRIMARY KEY, doc JSON)",
        "INSERT INTO docs VALUES (1, '{\"b\": [1, 2], \"a\": {\"t\": true}}'), "
        "(2, '[\"x\", 3.5]')",
        "CREATE TABLE big (id INT PRIMARY KEY, v BIGINT UNSIGNED NOT NULL, KEY kv (v))",
        f"INSERT INTO big VALUES (1, {TOP}), (2, {HALF}), (3, 7), (4, 0)")


def test_json_columns_and_functions_are_typed_json(marmot_server: MarmotServer, db: str) -> None:
    conn = marmot_server.connect(database=db)
    with conn.cursor() as cur:
        cur.execute("SELECT doc, doc->'$.a', JSON_OBJECT('k', doc), doc->>'$.b[0]' "
                    "FROM docs WHERE id = 1")
        assert [d[1] for d in cur.description] == [245, 245, 245, 253]
        doc, inner, wrapped, first = cur.fetchone()
        assert doc == '{"a": {"t": true}, "b": [1, 2]}'
        assert json.loads(inner) == {"t": True}
        assert json.loads(wrapped) == {"k": {"a": {"t": True}, "b": [1, 2]}}
        assert first == "1"
        cur.execute("SELECT id FROM docs WHERE 'x' MEMBER OF(doc)")
        assert cur.fetchall() == ((2,),)
        cur.execute("SELECT d.id, jt.v FROM docs AS d, JSON_TABLE(d.doc, '$.b[*]' COLUMNS "
                    "(v INT PATH '$')) AS jt ORDER BY jt.v")
        assert cur.fetchall() == ((1, 1), (1, 2))
    conn.close()


def test_unsigned_values_in_the_text_protocol(marmot_server: MarmotServer, db: str) -> None:
    conn = marmot_server.connect(database=db)
    with conn.cursor() as cur:
        cur.execute("SELECT id, v FROM big ORDER BY v DESC")
        assert cur.fetchall() == ((1, TOP), (2, HALF), (3, 7), (4, 0))
        assert cur.description[1][1] == 8  # LONGLONG
        cur.execute("SELECT MAX(v), MIN(v), SUM(v) FROM big")
        assert cur.fetchone() == (TOP, 0, TOP + HALF + 7)
        cur.execute("SELECT id FROM big WHERE v >= %s ORDER BY id", (HALF,))
        assert cur.fetchall() == ((1,), (2,))
        cur.execute("SELECT v - 1 FROM big WHERE v = %s", (TOP,))
        assert cur.fetchone() == (TOP - 1,)
    conn.close()


def test_unsigned_values_in_the_binary_protocol(marmot_server: MarmotServer, db: str) -> None:
    import mysql.connector as mysql_connector
    conn = mysql_connector.connect(**marmot_server.login(database=db))
    cur = conn.cursor(prepared=True)
    cur.execute("SELECT id, v FROM big WHERE v > ? ORDER BY v", (HALF - 1,))
    assert [tuple(r) for r in cur.fetchall()] == [(2, HALF), (1, TOP)]
    cur.execute("SELECT id FROM big WHERE v = ?", (TOP,))
    assert [tuple(r) for r in cur.fetchall()] == [(1,)]
    conn.close()


def test_overflow_is_1690_and_out_of_range_is_1264(marmot_server: MarmotServer,
                                                   db: str) -> None:
    import pymysql
    conn = marmot_server.connect(database=db)
    with conn.cursor() as cur:
        with pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute("UPDATE big SET v = v + 1 WHERE id = 1")
        assert info.value.args[0] == 1690
        with pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute(f"INSERT INTO big VALUES (9, {TOP + 1})")
        assert info.value.args[0] == 1264
    conn.close()


def test_mysqldump_round_trip_keeps_json_and_unsigned(marmot_server: MarmotServer,
                                                      db: str) -> None:
    dumped = subprocess.run([DUMP_BIN, *_login_args(marmot_server), db, "docs", "big"],
                            capture_output=True, timeout=DUMP_TIMEOUT_S, check=False)
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")
    assert str(TOP).encode() in dumped.stdout
    copy = marmot_server.create_database("kinds_copy")
    restored = subprocess.run([MARIADB_CLI, *_login_args(marmot_server), "--binary-mode", copy],
                              input=dumped.stdout, capture_output=True,
                              timeout=DUMP_TIMEOUT_S, check=False)
    assert restored.returncode == 0, restored.stderr.decode(errors="replace")
    conn = marmot_server.connect()
    with conn.cursor() as cur:
        for table, key in (("docs", "id"), ("big", "id")):
            cur.execute(f"SELECT * FROM {db}.{table} ORDER BY {key}")
            original = cur.fetchall()
            cur.execute(f"SELECT * FROM {copy}.{table} ORDER BY {key}")
            assert cur.fetchall() == original
    conn.close()
    again = subprocess.run([DUMP_BIN, *_login_args(marmot_server), copy, "docs", "big"],
                           capture_output=True, timeout=DUMP_TIMEOUT_S, check=False)
    strip = [line for line in dumped.stdout.splitlines() if not line.startswith(b"--")]
    assert [line for line in again.stdout.splitlines() if not line.startswith(b"--")] == strip


def test_json_table_columns_are_typed_as_declared(marmot_server: MarmotServer, db: str) -> None:
    conn = marmot_server.connect(database=db)
    with conn.cursor() as cur:
        cur.execute("SELECT * FROM JSON_TABLE('[{\"a\": 1, \"b\": {\"c\": 2}}]', '$[*]' COLUMNS "
                    "(n FOR ORDINALITY, a INT PATH '$.a', b JSON PATH '$.b', "
                    "s VARCHAR(8) PATH '$.a')) AS jt")
        assert [d[1] for d in cur.description] == [3, 3, 245, 253]  # LONG, LONG, JSON, VARCHAR
        assert cur.fetchall() == ((1, 1, '{"c": 2}', "1"),)
    conn.close()
