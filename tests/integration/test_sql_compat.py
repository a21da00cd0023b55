"""Issue 15's translation features through real drivers against ``marmotdb serve``: BIT values
decoded by PyMySQL (text protocol) and mysql-connector-python (binary protocol), EXPLAIN and
set operations as a client reads them, NOWAIT between two connections, Django's UPDATE … ORDER
BY and foreign_key_checks inside a transaction."""

from __future__ import annotations

import json

import pymysql
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(marmot_server):
    return marmot_server.create_database(
        "compat", "CREATE TABLE bits (id INT PRIMARY KEY, b BIT(3), w BIT(16), c BIT(64))",
        "INSERT INTO bits VALUES (1, b'101', 258, x'FFFFFFFFFFFFFFFF'), (2, 0, 1, b'1')")


def test_bit_values_decode_in_pymysql_and_the_connection_stays_usable(marmot_server, db):
    conn = marmot_server.connect(database=db)
    with conn.cursor() as cur:
        cur.execute("SELECT b, w, c FROM bits ORDER BY id")
        assert cur.fetchall() == ((b"\x05", b"\x01\x02", b"\xff" * 8),
                                  (b"\x00", b"\x00\x01", b"\x00" * 7 + b"\x01"))
        cur.execute("SELECT HEX(c) FROM bits WHERE id = 1")
        assert cur.fetchone() == ("FFFFFFFFFFFFFFFF",)
    conn.close()


def test_bit_values_decode_in_connector_python_text_and_prepared(marmot_server, db):
    """What the driver gives against MariaDB too: ints from text rows, bytes from binary."""
    import mysql.connector as mysql_connector
    conn = mysql_connector.connect(**marmot_server.login(database=db))
    cur = conn.cursor()
    cur.execute("SELECT b, w, c FROM bits WHERE id = 1")
    assert tuple(cur.fetchone()) == (5, 258, 2**64 - 1)
    prepared = conn.cursor(prepared=True)
    prepared.execute("SELECT b, w, c FROM bits WHERE id = ?", (1,))
    assert tuple(prepared.fetchone()) == (b"\x05", b"\x01\x02", b"\xff" * 8)
    conn.close()


def test_explain_and_set_operations_through_a_driver(marmot_server, db):
    conn = marmot_server.connect(database=db)
    with conn.cursor() as cur:
        cur.execute("EXPLAIN SELECT * FROM bits WHERE id = 1")
        assert [d[0] for d in cur.description][:3] == ["id", "select_type", "table"]
        assert cur.fetchone()[4] == "const"
        cur.execute("EXPLAIN FORMAT=JSON SELECT id FROM bits")
        assert json.loads(cur.fetchone()[0])["query_block"]["table"]["table_name"] == "bits"
        cur.execute("(SELECT id FROM bits ORDER BY id DESC LIMIT 1) UNION ALL "
                    "(SELECT 7) ORDER BY 1")
        assert cur.fetchall() == ((2,), (7,))
    conn.close()


def test_nowait_between_two_connections(marmot_server, db):
    holder = marmot_server.connect(database=db)
    worker = marmot_server.connect(database=db)
    with holder.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("UPDATE bits SET b = 1 WHERE id = 2")
    with worker.cursor() as cur:
        with pytest.raises(pymysql.err.OperationalError) as info:
            cur.execute("SELECT id FROM bits FOR UPDATE NOWAIT")
        assert info.value.args[0] == 3572
        cur.execute("SELECT id FROM bits FOR UPDATE SKIP LOCKED")
        assert cur.fetchall() == ()
    holder.rollback()
    holder.close()
    worker.close()


def test_update_order_by_and_foreign_key_checks_as_django_uses_them(marmot_server):
    """Django's ``order_by('-number').update(number=F('number') + 1)`` on a UNIQUE column
    (rows changed one at a time in that order, on the server's write path, which weighs each
    write before it runs) and its ``constraint_checks_disabled()`` inside a transaction that
    has written."""
    db = marmot_server.create_database(
        "compat_django", "CREATE TABLE num (id INT AUTO_INCREMENT PRIMARY KEY, n INT UNIQUE)",
        "CREATE TABLE ref (id INT PRIMARY KEY, num_id INT, FOREIGN KEY (num_id) "
        "REFERENCES num (id))", "INSERT INTO num (n) VALUES (1), (2)")
    conn = marmot_server.connect(database=db)
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        assert cur.execute("UPDATE num SET n = (num.n + 1) ORDER BY num.n DESC, num.id") == 2
        cur.execute("INSERT INTO ref VALUES (1, 1)")
        cur.execute("SET foreign_key_checks = 0")
        cur.execute("UPDATE ref SET num_id = 30 WHERE id = 1")
        cur.execute("SET foreign_key_checks = 1")
        with pytest.raises(pymysql.err.IntegrityError) as info:
            cur.execute("INSERT INTO ref VALUES (2, 31)")
        assert info.value.args[0] == 1452
        cur.execute("COMMIT")
        cur.execute("SELECT n FROM num ORDER BY id")
        assert cur.fetchall() == ((2,), (3,))
        cur.execute("SELECT id, num_id FROM ref")
        assert cur.fetchall() == ((1, 30),)
    conn.close()
