"""Temporary tables (sql/temporary.py): private to a session, shadowing base tables, gone with
the session, never in a write set or the commit log."""

from __future__ import annotations

import apsw
import pytest

from marmotdb.sql.results import Ok
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.storage.commitlog import iter_log
from marmotdb.storage.writeset import decode_write_set
from marmotdb.txn.pending import Pending
from tests.sql.sessions import error_code, rows, session

@pytest.fixture
def shop(server):
    s = session(server)
    s.execute("CREATE DATABASE shop")
    s.use("shop")
    s.execute("CREATE TABLE item (id INT PRIMARY KEY, name VARCHAR(10))")
    s.execute("INSERT INTO item VALUES (1, 'base')")
    return s


def peer(server: ServerState) -> Session:
    """Another session of shop."""
    return session(server, database="shop")


def logged_tables(server: ServerState) -> list[list[str]]:
    """The tables of every write set in shop's commit log, in order."""
    conn = apsw.Connection(str(server.databases.get("shop").path))
    try:
        return [sorted({c.table for c in decode_write_set(e.write_set).changes})
                for e in iter_log(conn)]
    finally:
        conn.close()


def test_private_to_the_session_and_shadowing_a_base_table(server, shop):
    other = peer(server)
    shop.execute("CREATE TEMPORARY TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, "
                 "name VARCHAR(3), price DECIMAL(5,2))")
    result = shop.execute("INSERT INTO item (name, price) VALUES ('a', 1.5), ('b', 2.25)")
    assert (result.affected_rows, result.last_insert_id) == (2, 1)
    assert rows(shop.execute("SELECT id, name, price FROM item")) == [(1, "a", "1.50"),
                                                                     (2, "b", "2.25")]
    assert rows(shop.execute("SELECT SUM(price) FROM item")) == [("3.75",)]
    assert rows(other.execute("SELECT * FROM item")) == [(1, "base")]
    assert error_code(lambda: shop.execute("INSERT INTO item (name) VALUES ('long')")) == 1406
    assert shop.execute("UPDATE item SET name = 'c' WHERE id = 1").affected_rows == 1
    assert shop.execute("UPDATE item SET name = 'c' WHERE id = 1").affected_rows == 0
    assert shop.execute("DELETE FROM item WHERE id = 2").affected_rows == 1
    shop.execute("DROP TEMPORARY TABLE item")
    assert rows(shop.execute("SELECT * FROM item")) == [(1, "base")]


def test_same_statement_text_in_two_sessions_reads_their_own_tables(server, shop):
    other = peer(server)
    shop.execute("CREATE TEMPORARY TABLE item (label TEXT)")
    shop.execute("INSERT INTO item VALUES ('mine')")
    for _ in range(2):  # the second round runs from the translation and description caches
        mine, theirs = shop.execute("SELECT * FROM item"), other.execute("SELECT * FROM item")
        assert [c.name for c in mine.columns] == ["label"] and rows(mine) == [("mine",)]
        assert [c.name for c in theirs.columns] == ["id", "name"]
        assert rows(theirs) == [(1, "base")]


def test_never_in_a_write_set_and_never_waits_for_the_write_turn(server, shop):
    before = logged_tables(server)
    holder = peer(server)
    holder.execute("BEGIN")
    holder.execute("INSERT INTO item VALUES (2, 'held')")  # holds shop's write turn
    shop.execute("CREATE TEMPORARY TABLE scratch (n INT)")
    result = shop.execute("INSERT INTO scratch VALUES (1), (2)")
    assert isinstance(result, Ok) and result.affected_rows == 2  # answered, not Pending
    shop.execute("UPDATE scratch SET n = n + 1")
    shop.execute("TRUNCATE TABLE scratch")
    shop.execute("DROP TEMPORARY TABLE scratch")
    holder.execute("COMMIT")
    assert logged_tables(server) == before + [["item"]]


def test_base_writes_from_temporary_rows_are_logged_as_row_images(server, shop):
    shop.execute("CREATE TEMPORARY TABLE staged (id INT PRIMARY KEY, name VARCHAR(10))")
    shop.execute("INSERT INTO staged VALUES (1, 'new'), (5, 'five')")
    before = len(logged_tables(server))
    shop.execute("INSERT INTO item SELECT id, name FROM staged WHERE id > 1")
    shop.execute("UPDATE item JOIN staged ON item.id = staged.id SET item.name = staged.name")
    shop.execute("DELETE FROM item WHERE id NOT IN (SELECT id FROM staged)")
    assert logged_tables(server)[before:] == [["item"], ["item"]]  # DELETE changed no row
    assert rows(peer(server).execute("SELECT * FROM item ORDER BY id")) == [
        (1, "new"), (5, "five")]
    write_conn = server.pipelines["shop"].conn  # the copies are gone from the shared connection
    with server.binding(write_conn).trusted_scope():
        assert write_conn.execute("SELECT name FROM sqlite_temp_schema").fetchall() == []


def test_ddl_does_not_commit_and_rollback_keeps_the_table_but_undoes_its_rows(server, shop):
    other = peer(server)
    shop.execute("CREATE TEMPORARY TABLE t (n INT)")
    shop.execute("INSERT INTO t VALUES (1)")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item VALUES (2, 'txn')")
    shop.execute("INSERT INTO t VALUES (2)")
    shop.execute("SAVEPOINT s")
    shop.execute("INSERT INTO t VALUES (3)")
    shop.execute("ROLLBACK TO SAVEPOINT s")
    assert rows(shop.execute("SELECT n FROM t ORDER BY n")) == [(1,), (2,)]
    assert rows(shop.execute("SELECT COUNT(*) FROM item JOIN t ON item.id = t.n")) == [(2,)]
    shop.execute("CREATE TEMPORARY TABLE u (n INT)")  # no implicit commit
    assert shop.in_transaction
    assert rows(other.execute("SELECT COUNT(*) FROM item")) == [(1,)]
    shop.execute("INSERT INTO u VALUES (1)")
    shop.execute("ROLLBACK")
    assert rows(shop.execute("SELECT COUNT(*) FROM item")) == [(1,)]
    assert rows(shop.execute("SELECT COUNT(*) FROM u")) == [(0,)]  # the table stays
    shop.execute("START TRANSACTION READ ONLY")  # MySQL lets it write temporary tables
    shop.execute("INSERT INTO u VALUES (7)")
    shop.execute("COMMIT")
    assert rows(shop.execute("SELECT n FROM u")) == [(7,)]


def test_a_temporary_write_cannot_read_base_rows_its_transaction_changed(server, shop):
    shop.execute("CREATE TEMPORARY TABLE t (id INT)")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item VALUES (2, 'txn')")
    assert error_code(lambda: shop.execute("INSERT INTO t SELECT id FROM item")) == 1235
    shop.execute("INSERT INTO t VALUES (9)")
    shop.execute("COMMIT")
    assert rows(shop.execute("SELECT id FROM t")) == [(9,)]
    assert error_code(lambda: shop.execute("UPDATE item, t SET item.name = 'x', t.id = 1")) \
        in (1235,)


def test_gone_on_disconnect_and_on_reset(server, shop):
    shop.execute("CREATE TEMPORARY TABLE t (n INT)")
    shop.reset()  # COM_RESET_CONNECTION / COM_CHANGE_USER
    shop.use("shop")
    assert error_code(lambda: shop.execute("SELECT * FROM t")) == 1146
    shop.execute("CREATE TEMPORARY TABLE t (n INT)")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO t VALUES (1)")
    shop.close()
    again = peer(server)
    assert error_code(lambda: again.execute("SELECT * FROM t")) == 1146
    again.execute("CREATE TEMPORARY TABLE t (n INT)")  # the name is free in a new session


def test_catalog_shows_them_as_mysql_8_does(server, shop):
    shop.execute("CREATE TEMPORARY TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, "
                 "v VARCHAR(5) NOT NULL DEFAULT 'x', KEY (v))")
    shop.execute("INSERT INTO t (v) VALUES ('a')")
    assert rows(shop.execute("SHOW TABLES")) == [("item",)]
    assert rows(shop.execute("SELECT TABLE_NAME FROM information_schema.TABLES "
                             "WHERE TABLE_SCHEMA = 'shop'")) == [("item",)]
    [(name, text)] = rows(shop.execute("SHOW CREATE TABLE t"))
    assert text.startswith("CREATE TEMPORARY TABLE `t` (") and "AUTO_INCREMENT=2" in text
    assert rows(shop.execute("DESCRIBE t")) == [
        ("id", "int", "NO", "PRI", None, "auto_increment"),
        ("v", "varchar(5)", "NO", "MUL", "x", "")]
    assert [r[2] for r in rows(shop.execute("SHOW INDEX FROM t"))] == ["PRIMARY", "v"]
    assert rows(shop.execute("SHOW COLUMNS FROM shop.t LIKE 'v'"))[0][0] == "v"
    assert rows(peer(server).execute("SHOW CREATE TABLE item"))[0][1].startswith(
        "CREATE TABLE")


def test_create_like_as_select_alter_index_rename(server, shop):
    shop.execute("CREATE TEMPORARY TABLE copy LIKE item")
    shop.execute("INSERT INTO copy SELECT * FROM item")
    shop.execute("CREATE TEMPORARY TABLE summary AS SELECT id, UPPER(name) AS up FROM copy")
    assert rows(shop.execute("SELECT * FROM summary")) == [(1, "BASE")]
    shop.execute("ALTER TABLE copy ADD COLUMN extra INT NOT NULL DEFAULT 7")
    shop.execute("CREATE UNIQUE INDEX by_name ON copy (name)")
    assert error_code(lambda: shop.execute("INSERT INTO copy VALUES (2, 'base', 1)")) == 1062
    shop.execute("DROP INDEX by_name ON copy")
    shop.execute("ALTER TABLE copy RENAME TO renamed")
    assert rows(shop.execute("SELECT * FROM renamed")) == [(1, "base", 7)]
    assert error_code(lambda: shop.execute("SELECT * FROM copy")) == 1146
    shop.execute("DROP TABLE renamed, summary")  # without TEMPORARY: still theirs
    assert rows(shop.execute("SELECT * FROM item")) == [(1, "base")]


def test_errors_with_mysql_codes(server, shop):
    shop.execute("CREATE TEMPORARY TABLE t (id INT PRIMARY KEY)")
    assert error_code(lambda: shop.execute("CREATE TEMPORARY TABLE t (x INT)")) == 1050
    shop.execute("CREATE TEMPORARY TABLE IF NOT EXISTS t (x INT)")
    assert shop.warnings == [("Note", 1050, "Table 't' already exists")]
    assert error_code(lambda: shop.execute("DROP TEMPORARY TABLE nope")) == 1051
    assert error_code(lambda: shop.execute("DROP TEMPORARY TABLE item")) == 1051
    shop.execute("DROP TEMPORARY TABLE IF EXISTS nope")
    assert shop.warnings == [("Note", 1051, "Unknown table 'shop.nope'")]
    assert error_code(lambda: shop.execute(
        "CREATE TEMPORARY TABLE f (p INT, FOREIGN KEY (p) REFERENCES item (id))")) == 1215
    assert error_code(lambda: shop.execute("CREATE VIEW v AS SELECT * FROM t")) == 1352
    assert error_code(lambda: shop.execute(
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.id = 1")) == 1361
    reader = session(server, "reader", "shop")
    assert error_code(lambda: reader.execute("CREATE TEMPORARY TABLE r (n INT)")) == 1044


def test_a_base_table_of_the_same_name_can_still_be_created_and_dropped(server, shop):
    shop.execute("CREATE TEMPORARY TABLE twin (n INT)")
    shop.execute("CREATE TABLE twin (id INT PRIMARY KEY)")  # a base table, shadowed
    shop.execute("INSERT INTO twin VALUES (5)")
    assert rows(peer(server).execute("SELECT COUNT(*) FROM twin")) == [(0,)]
    shop.execute("DROP TABLE twin")  # the temporary one, as MySQL does
    assert rows(shop.execute("SELECT * FROM twin")) == []
    shop.execute("DROP TABLE twin")
    assert error_code(lambda: shop.execute("SELECT * FROM twin")) == 1146


def test_prepared_statements_see_them_and_re_prepare_after_their_ddl(server, shop):
    shop.execute("CREATE TEMPORARY TABLE t (n INT, s VARCHAR(5))")
    insert = shop.prepare("INSERT INTO t VALUES (?, ?)")
    assert shop.execute_prepared(insert, [1, "a"]).affected_rows == 1
    select = shop.prepare("SELECT * FROM t WHERE n = ?")
    assert [c.name for c in select.columns] == ["n", "s"]
    assert rows(shop.execute_prepared(select, [1])) == [(1, "a")]
    create = shop.prepare("CREATE TEMPORARY TABLE p (x INT)")
    shop.execute_prepared(create, [])
    assert rows(shop.execute("SELECT COUNT(*) FROM p")) == [(0,)]
    assert rows(peer(server).execute("SHOW TABLES")) == [("item",)]
    shop.execute("ALTER TABLE t ADD COLUMN z INT DEFAULT 3")
    assert rows(shop.execute_prepared(select, [1])) == [(1, "a", 3)]


def test_a_reader_in_a_transaction_that_wrote_base_rows_sees_both(server, shop):
    shop.execute("CREATE TEMPORARY TABLE wanted (id INT)")
    shop.execute("INSERT INTO wanted VALUES (1), (2)")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item VALUES (2, 'new')")
    assert rows(shop.execute("SELECT item.name FROM item JOIN wanted ON item.id = wanted.id "
                             "ORDER BY item.id")) == [("base",), ("new",)]
    pending = shop.execute("COMMIT")
    assert not isinstance(pending, Pending) or pending.done()
    assert rows(peer(server).execute("SELECT COUNT(*) FROM item")) == [(2,)]


def test_base_ddl_never_reads_a_temporary_table(server, shop):
    """Its SQL is replayed on every node, where the session's tables do not exist."""
    shop.execute("CREATE TEMPORARY TABLE tmp (id INT, name VARCHAR(10))")
    shop.execute("INSERT INTO tmp VALUES (7, 'seven')")
    assert error_code(lambda: shop.execute("CREATE TABLE copy LIKE tmp")) == 1146
    assert error_code(lambda: shop.execute("CREATE TABLE copy AS SELECT id FROM tmp")) == 1146
    shop.execute("CREATE TABLE copy (id INT)")
    shop.execute("INSERT INTO copy SELECT id FROM tmp")
    assert rows(peer(server).execute("SELECT id FROM copy")) == [(7,)]


def test_temporary_tables_of_another_database(server, shop):
    shop.execute("CREATE DATABASE other")
    shop.execute("CREATE TEMPORARY TABLE other.tmp (n INT)")
    shop.execute("INSERT INTO other.tmp VALUES (1)")
    assert rows(shop.execute("SELECT n FROM other.tmp")) == [(1,)]
    assert rows(shop.execute("SHOW CREATE TABLE other.tmp"))[0][1].startswith(
        "CREATE TEMPORARY TABLE")
    assert error_code(lambda: shop.execute("SELECT * FROM tmp")) == 1146  # not in shop
    shop.execute("DROP TEMPORARY TABLE other.tmp")
    assert error_code(lambda: shop.execute("SELECT n FROM other.tmp")) == 1146


def test_a_locking_read_of_temporary_tables_takes_no_write_turn(server, shop):
    holder = peer(server)
    holder.execute("BEGIN")
    holder.execute("INSERT INTO item VALUES (2, 'held')")  # holds shop's write turn
    shop.execute("CREATE TEMPORARY TABLE t (n INT)")
    shop.execute("INSERT INTO t VALUES (1)")
    shop.execute("BEGIN")
    assert rows(shop.execute("SELECT n FROM t FOR UPDATE")) == [(1,)]  # answered, no wait
    assert shop.execute("UPDATE t SET n = 2").affected_rows == 1
    assert isinstance(shop.execute("SELECT * FROM item FOR UPDATE"), Pending)  # base: waits
    holder.execute("COMMIT")
