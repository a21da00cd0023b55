"""The executor without sockets: sessions over a real data directory and real SQLite."""

from __future__ import annotations

import threading
import time

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql import session as session_module
from marmotdb.sql.results import LongRead, LongWrite, Ok
from marmotdb.sql.session import Session
from marmotdb.txn.pending import Pending
from tests.sql.sessions import error_code, rows, session


@pytest.fixture
def shop(server):
    s = session(server)
    s.execute("CREATE DATABASE shop")
    s.use("shop")
    s.execute("CREATE TABLE item (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), n INT)")
    return s


def test_affected_rows_and_insert_ids(shop):
    result = shop.execute("INSERT INTO item (name, n) VALUES ('a', 1), ('b', 2), ('c', 3)")
    assert isinstance(result, Ok)
    assert (result.affected_rows, result.last_insert_id) == (3, 1)
    assert shop.execute("UPDATE item SET n = 2 WHERE id <= 2").affected_rows == 1  # one changed
    shop.found_rows_flag = True  # a client with CLIENT_FOUND_ROWS counts matched rows
    assert shop.execute("UPDATE item SET n = 2 WHERE id <= 2").affected_rows == 2
    shop.found_rows_flag = False
    assert shop.execute("DELETE FROM item WHERE id = 3").affected_rows == 1
    assert rows(shop.execute("SELECT LAST_INSERT_ID()")) == [(1,)]
    assert rows(shop.execute("SELECT name FROM item ORDER BY id")) == [("a",), ("b",)]


def test_transaction_isolation_between_sessions(server, shop):
    other = session(server, database="shop")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item (name, n) VALUES ('x', 1)")
    assert shop.status_flags() & 1  # in transaction
    assert rows(other.execute("SELECT COUNT(*) FROM item")) == [(0,)]
    waiting = other.execute("INSERT INTO item (name, n) VALUES ('y', 1)")
    assert isinstance(waiting, Pending) and not waiting.done()  # waits for the write turn
    shop.execute("COMMIT")
    assert not shop.status_flags() & 1
    assert waiting.done() and waiting.result().affected_rows == 1  # ran once, after the commit
    assert rows(other.execute("SELECT name FROM item ORDER BY id")) == [("x",), ("y",)]


def test_lock_wait_timeout_answers_1205_and_the_statement_never_runs(server, shop):
    other = session(server, database="shop")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item (name, n) VALUES ('x', 1)")
    waiting = other.execute("UPDATE item SET n = 5")
    assert not waiting.done()
    [timer] = server.host.timers
    assert timer.delay_s == 50.0  # innodb_lock_wait_timeout
    server.host.fire_timers()
    assert error_code(waiting.result) == 1205
    shop.execute("COMMIT")
    assert rows(other.execute("SELECT n FROM item")) == [(1,)]


def test_rollback_savepoints_and_statement_atomicity(shop):
    shop.execute("START TRANSACTION")
    shop.execute("INSERT INTO item (id, name, n) VALUES (1, 'a', 1)")
    shop.execute("SAVEPOINT one")
    shop.execute("INSERT INTO item (id, name, n) VALUES (2, 'b', 1)")
    shop.execute("ROLLBACK TO SAVEPOINT one")
    assert error_code(lambda: shop.execute("INSERT INTO item (id, name, n) VALUES (1, 'c', 1)")) \
        == 1062
    shop.execute("COMMIT")
    assert rows(shop.execute("SELECT id, name FROM item")) == [(1, "a")]
    assert error_code(lambda: shop.execute("ROLLBACK TO SAVEPOINT nope")) == 1305


def test_autocommit_off_opens_implicit_transactions(server, shop):
    other = session(server, database="shop")
    shop.execute("SET autocommit = 0")
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")
    assert rows(other.execute("SELECT COUNT(*) FROM item")) == [(0,)]
    shop.execute("SET autocommit = 1")  # commits the open transaction, as in MySQL
    assert rows(other.execute("SELECT COUNT(*) FROM item")) == [(1,)]


def test_read_only_transaction_refuses_writes(shop):
    shop.execute("START TRANSACTION READ ONLY")
    assert error_code(lambda: shop.execute("INSERT INTO item (name) VALUES ('a')")) == 1792
    shop.execute("ROLLBACK")


def test_ddl_commits_the_open_transaction(server, shop):
    other = session(server, database="shop")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")
    shop.execute("CREATE TABLE other (id INT PRIMARY KEY)")
    assert not shop.in_transaction
    assert rows(other.execute("SELECT COUNT(*) FROM item")) == [(1,)]


def test_grants_are_enforced(server, shop):
    reader = session(server, "reader", "shop")
    assert rows(reader.execute("SELECT COUNT(*) FROM item")) == [(0,)]
    assert error_code(lambda: reader.execute("INSERT INTO item (name) VALUES ('a')")) == 1142
    writer = session(server, "writer", "shop")
    assert writer.execute("INSERT INTO item (name) VALUES ('a')").affected_rows == 1
    assert error_code(lambda: writer.execute("DROP TABLE item")) == 1142
    assert error_code(lambda: writer.execute("CREATE DATABASE x")) == 1044
    assert error_code(lambda: session(server, "reader").use("mysql_other")) == 1044
    assert session(server, "reader").databases() == ["shop"]


@pytest.mark.parametrize("sql", ["ATTACH DATABASE '/tmp/x.db' AS x",
                                 "SELECT load_extension('/tmp/x')",
                                 "SELECT * FROM __marmot_schema",
                                 "SELECT name FROM sqlite_master",
                                 "PRAGMA journal_mode = DELETE"])
def test_file_system_and_internal_tables_are_closed(shop, sql):
    error_code(lambda: shop.execute(sql))


def test_database_lifecycle(server):
    s = session(server)
    assert s.execute("CREATE DATABASE IF NOT EXISTS a").affected_rows == 1
    assert s.execute("CREATE DATABASE IF NOT EXISTS a").affected_rows == 0
    assert s.warnings and s.warnings[0][1] == 1007
    assert error_code(lambda: s.execute("CREATE DATABASE a")) == 1007
    s.execute("USE a")
    s.execute("DROP DATABASE a")
    assert s.current_database is None
    assert error_code(lambda: s.execute("DROP DATABASE a")) == 1008
    assert error_code(lambda: s.execute("USE a")) == 1049
    assert error_code(lambda: s.execute("CREATE DATABASE `bad/name`")) == 1102
    assert error_code(lambda: s.execute("CREATE TABLE t (id INT)")) == 1046


def test_mysql_schema_can_be_selected(server):
    """Clients log in to the mysql schema (aiomysql's tests, administration scripts): it is
    selectable, like information_schema, and holds nothing of ours."""
    s = session(server)
    s.execute("USE mysql")
    assert rows(s.execute("SELECT DATABASE(), 1 + 1")) == [("mysql", 2)]
    assert error_code(lambda: s.execute("CREATE DATABASE mysql")) == 1007
    assert error_code(lambda: s.execute("DROP DATABASE mysql")) == 1044
    assert error_code(lambda: s.execute("SELECT * FROM user")) == 1235  # not ours
    assert error_code(lambda: s.execute("CREATE TABLE t (id INT)")) == 1235
    s.use("MySQL")
    assert s.current_database == "mysql"
    assert error_code(lambda: s.execute("USE performance_schema")) == 1049
    s.execute("CREATE DATABASE shop")
    s.execute("CREATE USER clerk IDENTIFIED BY 'pw'")
    s.execute("GRANT SELECT ON shop.* TO clerk")
    clerk = Session(server, server.users.get("clerk", "%"), 950, host="%")
    assert rows(clerk.execute("SHOW DATABASES")) == [("information_schema",), ("shop",)]
    assert error_code(lambda: clerk.execute("USE mysql")) == 1044  # no privilege there


def test_long_read_moves_off_the_loop(shop):
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")
    heavy = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
             "SELECT COUNT(*) FROM c")
    with pytest.raises(LongRead) as info:
        shop.execute(heavy)
    job = info.value.job
    try:
        assert [tuple(r) for r in job.run().rows] == [(3000000,)]
    finally:
        job.finish()
    assert rows(shop.execute("SELECT COUNT(*) FROM item")) == [(1,)]  # connection given back


def test_kill_query_interrupts_a_running_read(server, shop):
    heavy = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) "
             "SELECT COUNT(*) FROM c")
    with pytest.raises(LongRead) as info:
        shop.execute(heavy)
    job = info.value.job
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(error_code(job.run)))
    worker.start()
    time.sleep(0.2)
    server.kill(shop.connection_id, query_only=True)  # KILL QUERY interrupts the statement
    worker.join(10)
    job.finish()
    assert outcome == [1317]  # MySQL's "Query execution was interrupted" (3024 is the timeout)


def test_close_rolls_back_and_releases_the_lock(server, shop):
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")
    shop.close()
    other = session(server, database="shop")
    assert other.execute("INSERT INTO item (name, n) VALUES ('b', 1)").affected_rows == 1
    assert rows(other.execute("SELECT name FROM item")) == [("b",)]


def test_prepared_statements_run_without_reparsing(shop):
    plan = shop.prepare("INSERT INTO item (name, n) VALUES (?, ?)")
    assert plan.param_count == 2
    for i in range(3):
        assert shop.execute_prepared(plan, [f"n{i}", i]).affected_rows == 1
    select = shop.prepare("SELECT name, n FROM item WHERE n >= ? ORDER BY n")
    assert [c.name for c in select.columns] == ["name", "n"]
    assert rows(shop.execute_prepared(select, [1])) == [("n1", 1), ("n2", 2)]
    assert error_code(lambda: shop.execute_prepared(select, [])) == 1210
    begin = shop.prepare("BEGIN")
    assert isinstance(shop.execute_prepared(begin, []), Ok) and shop.in_transaction
    shop.execute("ROLLBACK")


def test_first_write_after_reads_sees_latest_commits(server, shop):
    """InnoDB's rule: a transaction's reads use its snapshot, its writes the latest rows.
    SQLite would refuse to upgrade the stale snapshot; the executor refreshes it instead."""
    shop.execute("INSERT INTO item (id, name, n) VALUES (1, 'a', 1)")
    other = session(server, database="shop")
    shop.execute("BEGIN")
    assert rows(shop.execute("SELECT n FROM item WHERE id = 1")) == [(1,)]
    other.execute("UPDATE item SET n = 10 WHERE id = 1")
    assert rows(shop.execute("SELECT n FROM item WHERE id = 1")) == [(1,)]  # still the snapshot
    assert shop.execute("UPDATE item SET n = n + 1 WHERE id = 1").affected_rows == 1
    shop.execute("COMMIT")
    assert rows(other.execute("SELECT n FROM item WHERE id = 1")) == [(11,)]  # no lost update


def test_drop_database_with_tables_and_dump_style_begin(server, shop):
    shop.execute("START TRANSACTION /*!40100 WITH CONSISTENT SNAPSHOT */")
    assert shop.in_transaction
    shop.execute("ROLLBACK")
    other = session(server, database="shop")
    assert rows(other.execute("SELECT COUNT(*) FROM item")) == [(0,)]
    other.close()
    shop.execute("DROP DATABASE shop")
    assert server.databases.names() == []
    shop.execute("CREATE DATABASE shop")  # the name is free again, with no old tables
    shop.execute("USE shop")
    assert rows(shop.execute("SHOW TABLES")) == []


def test_result_columns_carry_table_not_null_and_follow_renames(server, shop):
    shop.execute("CREATE TABLE p (id INT PRIMARY KEY, country VARCHAR(5) NOT NULL, note TEXT)")
    shop.execute("INSERT INTO p VALUES (1, 'se', NULL)")
    result = shop.execute("SELECT * FROM p LIMIT 1")
    flags = {c.name: c.flags for c in result.columns}
    assert flags["id"] & 1 and flags["id"] & 2            # NOT NULL, PRI_KEY
    assert flags["country"] & 1 and not flags["note"] & 1
    assert {c.table for c in result.columns} == {"p"}
    shop.execute("ALTER TABLE p RENAME COLUMN country TO country_code")
    assert [c.name for c in shop.execute("SELECT * FROM p LIMIT 1").columns] == \
        ["id", "country_code", "note"]


def test_a_variable_item_is_named_after_the_variable_as_in_mysql(shop):
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")
    shop.execute("SET @x = 5")
    result = shop.execute("SELECT @@autocommit, @x, @x AS y, n FROM item WHERE n < @x")
    assert [c.name for c in result.columns] == ["@@autocommit", "@x", "y", "n"]
    assert rows(result) == [(1, 5, 5, 1)]
    big = "z" * 20_000  # a FROM-less SELECT too long for the catalog's own evaluator
    result = shop.execute(f"SELECT @@autocommit, LENGTH('{big}'), @x")
    assert [c.name for c in result.columns] == ["@@autocommit", f"LENGTH('{big}"[:256], "@x"]
    assert rows(result) == [(1, 20_000, 5)]


def test_marmot_cluster_nodes_is_queryable_with_any_sql(server, shop):
    server.cluster_nodes = lambda: [(1, "127.0.0.1:3306", "127.0.0.1:7946", "", "ALIVE", 3),
                                    (2, "127.0.0.1:3307", "127.0.0.1:7947", "", "SUSPECT", 1)]
    result = shop.execute("SELECT node_id, state FROM MARMOT_CLUSTER_NODES "
                          "WHERE state <> 'ALIVE' ORDER BY node_id")
    assert rows(result) == [(2, "SUSPECT")]
    assert error_code(lambda: shop.execute("DELETE FROM MARMOT_CLUSTER_NODES")) == 1142


def test_non_utf8_bytes_in_a_quoted_literal_store_as_bytes(shop):
    shop.execute("CREATE TABLE b (id INT PRIMARY KEY, data BLOB)")
    # The protocol layer decodes query text with surrogateescape (mysqldump's blob literals).
    sql = b"INSERT INTO b VALUES (1, '\x00\xff\xfebin')".decode("utf-8", "surrogateescape")
    assert shop.execute(sql).affected_rows == 1
    assert rows(shop.execute("SELECT data FROM b")) == [(b"\x00\xff\xfebin",)]


def test_numbers_beyond_every_range_clamp_with_mysql_warnings(shop):
    shop.execute("SET sql_mode = ''")
    result = shop.execute("INSERT INTO item (id, name, n) VALUES (1, 'x', 1e308 * 10)")
    assert result.affected_rows == 1 and shop.warnings[0][1] == 1264
    assert rows(shop.execute("SELECT n FROM item")) == [(2147483647,)]
    shop.execute("SET sql_mode = 'STRICT_TRANS_TABLES'")
    assert error_code(lambda: shop.execute("INSERT INTO item VALUES (2, 'y', 1e308 * 10)")) \
        == 1264
    assert rows(shop.execute("SELECT CAST('1e999999' AS SIGNED), CAST('-1e30' AS SIGNED)")) \
        == [(2**63 - 1, -2**63)]
    assert shop.warnings[0][1] == 1292


def test_kill_query_stops_a_statement_waiting_for_the_write_turn(server, shop):
    other = session(server, database="shop")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item (name, n) VALUES ('x', 1)")
    waiting = other.execute("UPDATE item SET n = 5")
    assert not waiting.done()
    server.kill(other.connection_id, query_only=True)
    assert error_code(waiting.result) == 1317  # it never ran
    shop.execute("COMMIT")
    assert rows(other.execute("SELECT n FROM item")) == [(1,)]
    other.execute("BEGIN")  # an explicit transaction waiting: the statement fails, the
    other.execute("INSERT INTO item (name, n) VALUES ('y', 2)")  # transaction goes on
    third = session(server, database="shop")
    third.execute("BEGIN")
    blocked = third.execute("INSERT INTO item (name, n) VALUES ('z', 3)")
    server.kill(third.connection_id, query_only=True)
    assert error_code(blocked.result) == 1317 and third.in_transaction
    other.execute("COMMIT")
    assert third.execute("INSERT INTO item (name, n) VALUES ('z', 3)").affected_rows == 1
    third.execute("COMMIT")
    assert rows(shop.execute("SELECT name FROM item ORDER BY id")) == [("x",), ("y",), ("z",)]


def test_if_exists_guards_leave_notes_and_the_next_statement_clears_them(shop):
    """DROP TABLE IF EXISTS of a missing table is Note 1051, CREATE TABLE IF NOT EXISTS of an
    existing one Note 1050 (mysqlclient's warning_count tests); SHOW WARNINGS and
    @@warning_count read them, any other statement starts without them."""
    shop.execute("DROP TABLE IF EXISTS nope, shop.gone")
    assert shop.warnings == [("Note", 1051, "Unknown table 'shop.nope'"),
                             ("Note", 1051, "Unknown table 'shop.gone'")]
    assert rows(shop.execute("SELECT @@warning_count")) == [(2,)]
    assert len(rows(shop.execute("SHOW WARNINGS"))) == 2
    shop.execute("SELECT 1")
    assert shop.warnings == []
    shop.execute("CREATE TABLE IF NOT EXISTS item (a INT)")
    assert shop.warnings == [("Note", 1050, "Table 'item' already exists")]
    shop.execute("DROP TABLE IF EXISTS item")
    assert shop.warnings == []


def test_update_order_by_changes_one_row_at_a_time_in_that_order(shop):
    """MySQL's UPDATE … ORDER BY checks each row against the unique keys as it changes it
    (Django's ``order_by('-number').update(number=F('number') + 1)``); a failure part way
    undoes the whole statement, also inside a transaction; affected rows count changed rows."""
    shop.execute("CREATE TABLE ranked (id INT PRIMARY KEY, n INT UNIQUE, note VARCHAR(5))")
    shop.execute("INSERT INTO ranked VALUES (1, 1, 'x'), (2, 2, 'x'), (3, 3, 'y')")
    assert shop.execute("UPDATE ranked SET n = n + 1 ORDER BY n DESC").affected_rows == 3
    assert shop.execute("UPDATE ranked SET note = 'x' ORDER BY id").affected_rows == 1
    shop.execute("BEGIN")
    shop.execute("UPDATE ranked SET note = 'z' WHERE id = 3")
    with pytest.raises(MarmotError) as failed:
        shop.execute("UPDATE ranked SET n = n + 1, note = 'w' ORDER BY n")
    assert (failed.value.code, str(failed.value)) == (
        1062, "Duplicate entry '3' for key 'ranked.n'")
    shop.execute("COMMIT")
    assert rows(shop.execute("SELECT id, n, note FROM ranked ORDER BY id")) == [
        (1, 2, "x"), (2, 3, "x"), (3, 4, "z")]


def test_update_order_by_is_weighed_by_its_read_of_the_rows(server, shop, monkeypatch):
    """On a host with writer threads (the server's), an UPDATE … ORDER BY scanning a big
    table is handed to one, and a small one runs here: both in MySQL's order."""
    shop.execute("CREATE TABLE small (id INT PRIMARY KEY, n INT UNIQUE)")
    shop.execute("INSERT INTO small VALUES (1, 1), (2, 2)")
    shop.execute("CREATE TABLE big (id INT PRIMARY KEY, n INT UNIQUE)")
    shop.execute("INSERT INTO big WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                 "FROM c WHERE i < 30) SELECT i, i FROM c")
    monkeypatch.setattr(session_module._WEIGHTS, "rows_min", 10)
    server.host_runs_writes = True
    assert shop.execute("UPDATE small SET n = n + 1 ORDER BY n DESC").affected_rows == 2
    with pytest.raises(LongWrite) as handed:
        shop.execute("UPDATE big SET n = n + 1 ORDER BY n DESC")
    job = handed.value.job
    outcome = job.run(None)
    job.finish()
    assert job.resume(outcome).affected_rows == 30
    assert rows(shop.execute("SELECT MIN(n), MAX(n) FROM big")) == [(2, 31)]


def test_views_and_triggers_with_a_definer_as_a_dump_writes_them(shop):
    shop.execute("/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`%` SQL "
                 "SECURITY DEFINER */ /*!50001 VIEW `v` AS select `item`.`n` AS `n` from "
                 "`item` */")
    shop.execute("/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER "
                 "`tr` BEFORE INSERT ON `item` FOR EACH ROW SET NEW.n = NEW.n * 10 */")
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 4)")
    assert rows(shop.execute("SELECT n FROM v")) == [(40,)]
