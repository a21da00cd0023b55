"""Session variables the executor honours (timestamp, sql_notes, transaction access mode and
isolation) and the PROCESS / CONNECTION_ADMIN rules of PROCESSLIST and KILL."""

from __future__ import annotations

from marmotdb.sql.catalog.expr import system_variable
from tests.sql.sessions import error_code, rows, session
from tests.sql.test_session import shop  # noqa: F401


def test_set_timestamp_fixes_now_until_default(shop):
    shop.execute("SET timestamp = 86400")
    assert rows(shop.execute("SELECT UNIX_TIMESTAMP(NOW())")) == [(86400,)]
    assert system_variable(shop, "timestamp", None) == 86400.0
    shop.execute("SET timestamp = DEFAULT")
    assert rows(shop.execute("SELECT UNIX_TIMESTAMP()")) == [(1_700_000_000,)]


def test_sql_notes_off_records_no_notes(shop):
    shop.execute("CREATE DATABASE IF NOT EXISTS shop")
    assert [w[:2] for w in shop.warnings] == [("Note", 1007)]
    shop.execute("SET sql_notes = 0")
    result = shop.execute("CREATE DATABASE IF NOT EXISTS shop")
    assert shop.warnings == [] and result.warnings == 0


def test_session_transaction_read_only_refuses_writes(shop):
    shop.execute("SET SESSION TRANSACTION READ ONLY")
    assert error_code(lambda: shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")) == 1792
    shop.execute("BEGIN")
    assert error_code(lambda: shop.execute("UPDATE item SET n = 2")) == 1792
    shop.execute("ROLLBACK")
    shop.execute("START TRANSACTION READ WRITE")  # named access mode wins
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")
    shop.execute("COMMIT")
    assert rows(shop.execute("SELECT name FROM item")) == [("a",)]


def test_set_transaction_applies_to_the_next_transaction_only(shop):
    shop.execute("SET TRANSACTION READ ONLY")
    shop.execute("BEGIN")
    assert error_code(lambda: shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")) == 1792
    shop.execute("COMMIT")
    shop.execute("BEGIN")
    shop.execute("INSERT INTO item (name, n) VALUES ('a', 1)")
    shop.execute("COMMIT")


def test_read_committed_sees_commits_made_during_the_transaction(server, shop):
    other = session(server, database="shop")
    for level, seen in (("REPEATABLE READ", [(0,)]), ("READ COMMITTED", [(1,)])):
        shop.execute("DELETE FROM item")
        shop.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {level}")
        shop.execute("BEGIN")
        assert rows(shop.execute("SELECT COUNT(*) FROM item")) == [(0,)]
        other.execute("INSERT INTO item (name, n) VALUES ('x', 1)")
        assert rows(shop.execute("SELECT COUNT(*) FROM item")) == seen, level
        shop.execute("COMMIT")


def test_serializable_reads_hold_writers_back(server, shop):
    other = session(server, database="shop")
    shop.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    shop.execute("BEGIN")
    assert rows(shop.execute("SELECT COUNT(*) FROM item")) == [(0,)]
    waiting = other.execute("INSERT INTO item (name, n) VALUES ('x', 1)")
    assert not waiting.done()  # what the transaction read cannot change under it
    shop.execute("COMMIT")
    assert waiting.done() and waiting.result().affected_rows == 1


def test_processlist_shows_other_users_threads_only_with_process(server, shop):
    writer = session(server, "writer", database="shop")
    writer.execute("SELECT 1")
    reader = session(server, "reader")
    assert {r[1] for r in rows(reader.execute("SHOW FULL PROCESSLIST"))} == {"reader"}
    assert {r[0] for r in rows(reader.execute(
        "SELECT USER FROM information_schema.PROCESSLIST"))} == {"reader"}
    assert {r[1] for r in rows(shop.execute("SHOW PROCESSLIST"))} == {"root", "writer", "reader"}


def test_kill_of_another_users_thread_needs_connection_admin(server, shop):
    writer = session(server, "writer", database="shop")
    other_writer = session(server, "writer")
    reader = session(server, "reader")
    assert error_code(lambda: reader.execute(f"KILL {writer.connection_id}")) == 1095
    assert error_code(lambda: reader.execute("KILL QUERY 999999")) == 1094
    assert not writer.killed
    writer.execute(f"KILL {other_writer.connection_id}")  # its own user's thread
    assert other_writer.killed
    shop.execute(f"KILL {writer.connection_id}")  # an administrator
    assert writer.killed
