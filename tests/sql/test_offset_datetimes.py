"""Datetime literals with a time zone offset (MySQL 8.0.19): stored as that moment in the
session's time zone. Values written by INSERT are fixture cases (types.sql); a column DEFAULT
is converted by the session before the DDL is read (rewrites/ddl/offset_defaults.py), so the
stored definition holds the converted value, as MySQL's SHOW CREATE TABLE shows it."""

from __future__ import annotations

import datetime as dt

import pytest

from marmotdb.sql.rewrites.ddl.offset_defaults import with_session_defaults
from tests.sql.sessions import error_code, rows, session


@pytest.fixture
def shop(server):
    s = session(server)
    s.execute("CREATE DATABASE shop")
    s.use("shop")
    s.execute("SET time_zone = '+02:00'")
    return s


def test_default_with_offset_is_kept_in_the_session_time_zone(shop):
    # Tortoise ORM's DDL for DatetimeField(db_default=datetime(2020, 5, 20, tzinfo=UTC)).
    shop.execute("CREATE TABLE t (id INT PRIMARY KEY, "
                 "a DATETIME(6) NOT NULL DEFAULT '2020-05-20T00:00:00+00:00')")
    shop.execute("INSERT INTO t (id) VALUES (1)")
    assert rows(shop.execute("SELECT a FROM t")) == [("2020-05-20 02:00:00.000000",)]
    shown = rows(shop.execute("SHOW CREATE TABLE t"))[0][1]
    assert "DEFAULT '2020-05-20 02:00:00.000000'" in shown


def test_timestamp_default_with_offset_in_a_utc_session(shop):
    # A TIMESTAMP stores UTC (rewrites/timestamps.py): read under +02:00, the same moment.
    shop.execute("SET time_zone = '+00:00'")
    shop.execute("CREATE TABLE t (id INT PRIMARY KEY, "
                 "b TIMESTAMP NULL DEFAULT '2020-05-20 23:30:00-01:00')")
    assert "DEFAULT '2020-05-21 00:30:00'" in rows(shop.execute("SHOW CREATE TABLE t"))[0][1]
    shop.execute("SET time_zone = '+02:00'")
    shop.execute("INSERT INTO t (id) VALUES (1)")
    assert rows(shop.execute("SELECT b FROM t")) == [("2020-05-21 02:30:00",)]


@pytest.mark.parametrize("ddl", [
    "CREATE TABLE t (id INT, b TIMESTAMP NULL DEFAULT '2020-05-20 23:30:00-01:00')",
    "CREATE TABLE t (id INT, b TIMESTAMP(3) NOT NULL DEFAULT '2020-05-20 10:00:00')",
    "CREATE TABLE t (id INT, b TIMESTAMP DEFAULT 20200520100000)",
    "ALTER TABLE u ALTER COLUMN b SET DEFAULT '2020-05-20 10:00:00'"])
def test_timestamp_literal_default_outside_utc_is_refused(shop, ddl):
    # MySQL keeps it as a UTC moment; the stored text here would be read as UTC.
    shop.execute("CREATE TABLE u (b TIMESTAMP NULL)")
    assert error_code(lambda: shop.execute(ddl)) == 1235


def test_timestamp_zero_or_clock_default_outside_utc_is_accepted(shop):
    shop.execute("CREATE TABLE t (a TIMESTAMP NULL DEFAULT NULL, "
                 "b TIMESTAMP(3) NULL DEFAULT CURRENT_TIMESTAMP(3), c DATETIME DEFAULT "
                 "'2020-01-01 00:00:00')")


def test_default_added_by_alter_table_is_converted_too(shop):
    shop.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    shop.execute("ALTER TABLE t ADD COLUMN a DATETIME DEFAULT '2020-05-20 10:00:00+05:30'")
    shop.execute("INSERT INTO t (id) VALUES (1)")
    assert rows(shop.execute("SELECT a FROM t")) == [("2020-05-20 06:30:00",)]


@pytest.mark.parametrize("literal", ["2020-05-20 00:00:00-00:00", "2020-05-20 00:00:00+14:01",
                                     "2020-05-20 00:00:00-14:00", "2020-00-20 00:00:00+01:00"])
def test_default_with_an_offset_mysql_refuses_is_invalid(shop, literal):
    assert error_code(lambda: shop.execute(
        f"CREATE TABLE t (a DATETIME DEFAULT '{literal}')")) == 1067


def test_only_default_literals_are_rewritten():
    zone = dt.timezone(dt.timedelta(hours=2))
    comment = "CREATE TABLE t (a DATETIME COMMENT '2020-05-20 00:00:00+00:00')"
    assert with_session_defaults(comment, zone, backslash_escapes=True) == comment
