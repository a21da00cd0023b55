"""Temporary tables and database-qualified names through real clients and a real server."""

from __future__ import annotations

import pymysql
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def databases(marmot_server):
    conn = marmot_server.connect(autocommit=True)
    with conn.cursor() as cur:
        for statement in ("CREATE DATABASE IF NOT EXISTS tt_a",
                          "CREATE DATABASE IF NOT EXISTS tt_b",
                          "CREATE TABLE IF NOT EXISTS tt_a.item (id INT PRIMARY KEY, name TEXT)",
                          "CREATE TABLE IF NOT EXISTS tt_b.stock (id INT PRIMARY KEY, n INT)",
                          "REPLACE INTO tt_a.item VALUES (1, 'base')",
                          "REPLACE INTO tt_b.stock VALUES (1, 10), (2, 20)"):
            cur.execute(statement)
    conn.close()
    return "tt_a", "tt_b"


def scalar(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()[0]


def test_pymysql_temporary_table_is_private_to_its_connection(marmot_server, databases):
    mine = marmot_server.connect(database="tt_a", autocommit=True)
    theirs = marmot_server.connect(database="tt_a", autocommit=True)
    cur, other = mine.cursor(), theirs.cursor()
    cur.execute("CREATE TEMPORARY TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, "
                "price DECIMAL(6,2), at DATETIME)")
    assert cur.execute("INSERT INTO item (price, at) VALUES (%s, NOW()), (%s, NOW())",
                       ("1.25", "2.50")) == 2
    assert cur.lastrowid == 1
    assert scalar(cur, "SELECT SUM(price) FROM item") == pytest.approx(3.75)
    assert scalar(other, "SELECT name FROM item") == "base"  # the base table, unshadowed
    assert cur.execute("UPDATE item SET price = price + 1 WHERE id = 2") == 1
    cur.execute("SHOW TABLES")
    assert cur.fetchall() == (("item",),)
    cur.execute("SHOW CREATE TABLE item")
    assert cur.fetchone()[1].startswith("CREATE TEMPORARY TABLE `item`")
    mine.close()
    again = marmot_server.connect(database="tt_a", autocommit=True)  # a new session
    assert scalar(again.cursor(), "SELECT name FROM item") == "base"
    again.close()
    theirs.close()


def test_connector_reset_connection_drops_temporary_tables(marmot_server, databases):
    import mysql.connector as mysql_connector
    conn = mysql_connector.connect(host=marmot_server.host, port=marmot_server.port,
                                   user=marmot_server.user, password=marmot_server.password,
                                   database="tt_a")
    cur = conn.cursor(prepared=True)
    cur.execute("CREATE TEMPORARY TABLE scratch (n INT, s VARCHAR(4))")
    cur.execute("INSERT INTO scratch VALUES (?, ?)", (1, "one"))
    conn.commit()
    cur.execute("SELECT n, s FROM scratch WHERE n = ?", (1,))
    assert cur.fetchall() == [(1, "one")]
    conn.cmd_reset_connection()  # COM_RESET_CONNECTION
    cur = conn.cursor()
    with pytest.raises(mysql_connector.errors.ProgrammingError) as caught:
        cur.execute("SELECT * FROM tt_a.scratch")
    assert caught.value.errno == 1146 and caught.value.sqlstate == "42S02"
    conn.close()


def test_mysqlclient_temporary_rows_follow_the_transaction(marmot_server, databases):
    import MySQLdb
    conn = MySQLdb.connect(host=marmot_server.host, port=marmot_server.port,
                           user=marmot_server.user, password=marmot_server.password,
                           database="tt_a")
    cur = conn.cursor()
    cur.execute("CREATE TEMPORARY TABLE IF NOT EXISTS staged (id INT PRIMARY KEY, name TEXT)")
    cur.execute("INSERT INTO staged VALUES (2, 'two'), (3, 'three')")
    conn.rollback()  # MySQLdb runs with autocommit off: the rows go, the table stays
    assert scalar(cur, "SELECT COUNT(*) FROM staged") == 0
    cur.execute("INSERT INTO staged VALUES (2, 'two'), (3, 'three')")
    cur.execute("INSERT INTO item SELECT id, name FROM staged")  # a base write from them
    conn.commit()
    check = marmot_server.connect(database="tt_a", autocommit=True)
    assert scalar(check.cursor(), "SELECT COUNT(*) FROM item") == 3
    check.cursor().execute("DELETE FROM item WHERE id > 1")
    check.close()
    with pytest.raises(MySQLdb.OperationalError) as caught:
        cur.execute("CREATE TEMPORARY TABLE staged (x INT)")
    assert caught.value.args[0] == 1050
    conn.close()


def test_qualified_names_without_use(marmot_server, databases):
    conn = marmot_server.connect(autocommit=True)  # no database selected
    cur = conn.cursor()
    cur.execute("SELECT item.name, stock.n FROM tt_a.item JOIN tt_b.stock USING (id)")
    assert cur.fetchall() == (("base", 10),)
    cur.execute("CREATE TABLE tt_b.moved (id INT PRIMARY KEY, n INT)")
    assert cur.execute("INSERT INTO tt_b.moved SELECT id, n * 2 FROM tt_b.stock") == 2
    assert cur.execute("UPDATE tt_b.moved SET n = n + 1 WHERE id = 1") == 1
    assert scalar(cur, "SELECT SUM(n) FROM tt_b.moved") == 61
    cur.execute("DROP TABLE tt_b.moved")
    with pytest.raises(pymysql.err.OperationalError) as caught:
        cur.execute("SELECT * FROM item")
    assert caught.value.args[0] == 1046
    with pytest.raises(pymysql.err.ProgrammingError) as missing:
        cur.execute("SELECT * FROM tt_nowhere.t")
    assert missing.value.args[0] == 1146
    conn.close()


def test_qualified_writes_in_a_transaction_write_two_databases_atomically(marmot_server,
                                                                        databases):
    # one node: a transaction may write several databases (txn/DESIGN.md §10.2)
    conn = marmot_server.connect(database="tt_a")
    cur = conn.cursor()
    items, stock = scalar(cur, "SELECT COUNT(*) FROM item"), \
        scalar(cur, "SELECT COUNT(*) FROM tt_b.stock")
    cur.execute("BEGIN")
    cur.execute("INSERT INTO tt_b.stock VALUES (9, 90)")
    cur.execute("INSERT INTO item VALUES (9, 'nine')")
    # each database read alone shows the transaction's rows (a statement joining both sees
    # them in one only: docs/compatibility.md, "Transactions writing several databases")
    assert scalar(cur, "SELECT n FROM tt_b.stock WHERE id = 9") == 90
    assert scalar(cur, "SELECT name FROM item WHERE id = 9") == "nine"
    conn.rollback()  # undone in both
    assert scalar(cur, "SELECT COUNT(*) FROM item") == items
    assert scalar(cur, "SELECT COUNT(*) FROM tt_b.stock") == stock
    cur.execute("BEGIN")
    cur.execute("INSERT INTO tt_b.stock VALUES (9, 90)")
    cur.execute("INSERT INTO item VALUES (9, 'nine')")
    conn.commit()
    other = marmot_server.connect(database="tt_b")
    assert scalar(other.cursor(), "SELECT COUNT(*) FROM stock JOIN tt_a.item USING (id) "
                                  "WHERE id = 9") == 1
    other.cursor().execute("DELETE FROM stock WHERE id = 9")
    other.close()
    cur.execute("DELETE FROM item WHERE id = 9")
    conn.commit()
    conn.close()
