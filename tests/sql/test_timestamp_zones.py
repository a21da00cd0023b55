"""TIMESTAMP columns and the session time_zone through the executor (rewrites/timestamps.py):
stored as UTC, read in each session's zone, translations of UTC and other sessions kept apart,
and the forms not converted refused with 1235. MySQL's answers themselves are fixture cases
(tests/fixtures/translate/time_zones.sql, also run on MariaDB)."""

from __future__ import annotations

import pytest

from marmotdb.sql.functions.context import zone_is_utc
from marmotdb.sql.translate import translate
from tests.sql.sessions import error_code, rows, session


@pytest.fixture
def shop(server):
    s = session(server)
    s.execute("CREATE DATABASE shop")
    s.use("shop")
    s.execute("CREATE TABLE t (id INT PRIMARY KEY, ts TIMESTAMP NULL, dt DATETIME NULL)")
    return s


def test_two_sessions_read_one_instant_each_in_its_zone(server, shop):
    east = session(server, database="shop")
    east.execute("SET time_zone = '+05:00'")
    east.execute("INSERT INTO t VALUES (1, '2020-01-01 10:00:00', '2020-01-01 10:00:00')")
    shop.execute("INSERT INTO t VALUES (2, '2020-01-01 10:00:00', '2020-01-01 10:00:00')")
    query = "SELECT id, ts, dt FROM t ORDER BY id"  # one shape, two translations
    assert rows(east.execute(query)) == [(1, "2020-01-01 10:00:00", "2020-01-01 10:00:00"),
                                         (2, "2020-01-01 15:00:00", "2020-01-01 10:00:00")]
    assert rows(shop.execute(query)) == [(1, "2020-01-01 05:00:00", "2020-01-01 10:00:00"),
                                         (2, "2020-01-01 10:00:00", "2020-01-01 10:00:00")]
    assert rows(east.execute("SELECT id FROM t WHERE ts = '2020-01-01 15:00:00'")) == [(2,)]
    assert rows(shop.execute("SELECT id FROM t WHERE ts = '2020-01-01 05:00:00'")) == [(1,)]


def test_prepared_statements_convert_too(server, shop):
    east = session(server, database="shop")
    east.execute("SET time_zone = '-03:00'")
    plan = east.prepare("INSERT INTO t (id, ts) VALUES (?, ?)")
    east.execute_prepared(plan, [1, "2020-01-01 10:00:00"])
    assert rows(shop.execute("SELECT ts FROM t")) == [("2020-01-01 13:00:00",)]
    read = east.prepare("SELECT ts FROM t WHERE ts < ?")
    assert rows(east.execute_prepared(read, ["2020-01-01 10:00:01"])) == [
        ("2020-01-01 10:00:00",)]
    utc = shop.prepare("SELECT ts FROM t WHERE ts < ?")
    shop.execute("SET time_zone = '+01:00'")  # between PREPARE and EXECUTE: translated again
    assert rows(shop.execute_prepared(utc, ["2020-01-01 14:00:01"])) == [
        ("2020-01-01 14:00:00",)]


def test_a_utc_session_translates_as_before():
    # The fast path: no conversion call, no extra MYSQL_STORE argument, the same cache key.
    view = _StubView()
    select, _ = translate("SELECT ts FROM t WHERE ts > '2020-01-01'", view)
    insert, _ = translate("INSERT INTO t (id, ts) VALUES (1, '2020-01-01')", view)
    assert "MYSQL_TIMESTAMP_LOCAL" not in " ".join(select.statements)
    assert "'ts', 1)" in insert.statements[0]
    view.timestamps_local = True
    local, _ = translate("SELECT ts FROM t WHERE ts > '2020-01-01'", view)
    assert "MYSQL_TIMESTAMP_LOCAL" in " ".join(local.statements)
    # compared with a constant, the column stays bare (an index on it serves): the constant
    # is converted to UTC, as MySQL does
    assert 'WHERE "ts" > MYSQL_TIMESTAMP_UTC(' in local.statements[0]


def test_utc_zones_need_no_conversion():
    assert all(zone_is_utc(name) for name in ("+00:00", "UTC", "SYSTEM", "Etc/UTC"))
    assert not any(zone_is_utc(name) for name in ("+05:00", "-00:30", "Europe/London"))


def test_views_and_triggers_over_timestamps_are_refused_outside_utc(server, shop):
    shop.execute("CREATE VIEW v AS SELECT id, ts FROM t")
    shop.execute("CREATE TABLE u (id INT PRIMARY KEY, n INT)")
    shop.execute("CREATE VIEW w AS SELECT id FROM u")
    shop.execute("CREATE TABLE log (at TIMESTAMP NULL)")
    shop.execute("CREATE TRIGGER u_log AFTER INSERT ON u FOR EACH ROW "
                 "INSERT INTO log VALUES (NOW())")
    east = session(server, database="shop")
    east.execute("SET time_zone = '+05:00'")
    assert error_code(lambda: east.execute("SELECT ts FROM v")) == 1235
    assert error_code(lambda: east.execute("INSERT INTO u VALUES (1, 1)")) == 1235
    assert rows(east.execute("SELECT id FROM w")) == []
    shop.execute("CREATE TABLE c (id INT PRIMARY KEY)")  # reads t's TIMESTAMP into a DATETIME
    shop.execute("CREATE TABLE copied (at DATETIME NULL)")
    shop.execute("CREATE TRIGGER c_copy AFTER INSERT ON c FOR EACH ROW "
                 "INSERT INTO copied VALUES ((SELECT ts FROM t WHERE id = NEW.id))")
    shop.execute("CREATE TABLE d (id INT PRIMARY KEY)")
    shop.execute("CREATE TRIGGER d_count AFTER INSERT ON d FOR EACH ROW "
                 "INSERT INTO u VALUES (NEW.id + 100, 0)")
    assert error_code(lambda: east.execute("INSERT INTO c VALUES (1)")) == 1235
    east.execute("INSERT INTO d VALUES (1)")  # no TIMESTAMP in sight: runs
    shop.execute("INSERT INTO u VALUES (1, 1)")  # a UTC session runs both as before
    assert rows(shop.execute("SELECT COUNT(*) FROM v")) == [(0,)]


def test_on_update_current_timestamp_stores_utc(server, shop):
    shop.execute("CREATE TABLE s (id INT PRIMARY KEY, n INT, "
                 "at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)")
    east = session(server, database="shop")
    east.execute("SET time_zone = '+05:00'")
    east.execute("INSERT INTO s (id, n) VALUES (1, 0)")
    east.execute("UPDATE s SET n = 1")
    # the test server's clock is 1_700_000_000 (2023-11-14 22:13:20 UTC)
    assert rows(shop.execute("SELECT at FROM s")) == [("2023-11-14 22:13:20",)]
    assert rows(east.execute("SELECT at FROM s")) == [("2023-11-15 03:13:20",)]


class _StubView:
    """A schema view with one table, for the translations alone."""

    database = "shop"
    timestamps_local = False

    def table_sql(self, table: str) -> str | None:
        return 'CREATE TABLE "t" ("id" INT, "ts" TIMESTAMP)' if table == "t" else None

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        return [("id", "INT"), ("ts", "TIMESTAMP")] if table == "t" else None

    def mysql_ddl(self, table: str) -> str | None:
        return "CREATE TABLE t (id INT, ts TIMESTAMP NULL)" if table == "t" else None

    def schema_key(self) -> tuple[str]:
        return ("stub-timestamps",)


def test_another_databases_table_is_read_only_without_timestamps(server, shop):
    shop.execute("CREATE DATABASE other")
    shop.execute("CREATE TABLE other.plain (id INT PRIMARY KEY, n INT)")
    shop.execute("CREATE TABLE other.stamped (id INT PRIMARY KEY, at TIMESTAMP NULL)")
    shop.execute("INSERT INTO t (id, ts) VALUES (1, '2020-01-01 10:00:00')")
    shop.execute("INSERT INTO other.plain VALUES (1, 7)")
    east = session(server, database="shop")
    east.execute("SET time_zone = '+01:00'")
    assert rows(east.execute("SELECT t.ts, p.n FROM t JOIN other.plain p ON p.id = t.id")) == [
        ("2020-01-01 11:00:00", 7)]
    assert error_code(lambda: east.execute(
        "SELECT t.id FROM t JOIN other.stamped s ON s.id = t.id")) == 1235


def test_subqueries_in_values_and_expressions_over_timestamps(server, shop):
    shop.execute("INSERT INTO t (id, ts) VALUES (1, '2020-01-01 10:00:00')")
    shop.execute("CREATE TABLE g (id INT PRIMARY KEY, ts TIMESTAMP NULL, "
                 "hour_of INT AS (HOUR(ts)))")
    shop.execute("CREATE TABLE k (id INT PRIMARY KEY, ts TIMESTAMP NULL, "
                 "CHECK (ts > '2000-01-01'))")
    east = session(server, database="shop")
    east.execute("SET time_zone = '+05:00'")
    east.execute("INSERT INTO t (id, ts) VALUES (2, (SELECT MAX(ts) FROM t AS o))")
    assert rows(shop.execute("SELECT ts FROM t WHERE id = 2")) == [("2020-01-01 10:00:00",)]
    # SQLite computes these from the stored UTC text, MySQL from the session's value
    assert error_code(lambda: east.execute("INSERT INTO g (id, ts) VALUES (1, NOW())")) == 1235
    assert error_code(lambda: east.execute("INSERT INTO k VALUES (1, NOW())")) == 1235
    east.execute("DELETE FROM k")  # deleting computes nothing


def test_multi_table_update_and_delete_convert(server, shop):
    shop.execute("CREATE TABLE u (id INT PRIMARY KEY, at TIMESTAMP NULL)")
    shop.execute("INSERT INTO t (id, ts) VALUES (1, '2020-01-01 10:00:00')")
    shop.execute("INSERT INTO u VALUES (1, '2020-01-01 11:00:00')")
    east = session(server, database="shop")
    east.execute("SET time_zone = '+05:00'")
    east.execute("UPDATE t JOIN u ON u.id = t.id SET t.ts = '2020-01-01 20:00:00', "
                 "u.at = '2020-01-01 21:00:00' WHERE u.at = '2020-01-01 16:00:00'")
    assert rows(shop.execute("SELECT t.ts, u.at FROM t JOIN u ON u.id = t.id")) == [
        ("2020-01-01 15:00:00", "2020-01-01 16:00:00")]
    east.execute("DELETE t, u FROM t JOIN u ON u.id = t.id WHERE t.ts > '2020-01-01 19:59'")
    assert rows(shop.execute("SELECT COUNT(*) FROM t")) == [(0,)]
