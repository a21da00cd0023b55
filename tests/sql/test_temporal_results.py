"""Computed DATE / DATETIME / TIME result columns carry MySQL's types (drivers decode them as
dates: Django's Trunc reads ``CAST(DATE_FORMAT(…) AS DATETIME)``), and temporal columns
compare with strings as dates (the fixture case in functions_date.sql checks the values
against MariaDB; here the rewrite is checked on its own)."""

from __future__ import annotations

import pytest

from marmotdb.mysql.types import FieldType
from marmotdb.sql.rewrites.temporal import temporal_key
from tests.sql.sessions import rows, session


@pytest.fixture
def events(server):
    s = session(server)
    s.execute("CREATE DATABASE shop")
    s.use("shop")
    s.execute("CREATE TABLE ev (id INT PRIMARY KEY, m DATETIME(6), d DATE)")
    s.execute("INSERT INTO ev VALUES (1, '2015-06-15 14:30:50.000321', '2015-06-15')")
    return s


def test_computed_temporal_columns_are_typed(events):
    result = events.execute(
        "SELECT CAST(DATE_FORMAT(m, '%Y-%m-01 00:00:00') AS DATETIME), CAST(m AS DATE), "
        "CAST(m AS TIME), DATE(m), MAX(m), MIN(d), NOW(), CURDATE(), TIMESTAMP(d), "
        "DATE_FORMAT(m, '%Y') FROM ev")
    assert [c.type for c in result.columns] == [
        FieldType.DATETIME, FieldType.DATE, FieldType.TIME, FieldType.DATE, FieldType.DATETIME,
        FieldType.DATE, FieldType.DATETIME, FieldType.DATE, FieldType.DATETIME,
        FieldType.VAR_STRING]
    assert rows(result)[0][:6] == ("2015-06-01 00:00:00", "2015-06-15", "14:30:50",
                                   "2015-06-15", "2015-06-15 14:30:50.000321", "2015-06-15")


@pytest.mark.parametrize("value, kind, fsp, key", [
    ("2007-12-19 22:25:00", "datetime", 6, "2007-12-19 22:25:00.000000"),
    ("2007-12-19", "datetime", 0, "2007-12-19 00:00:00"),
    ("2007-12-19 22:25:00.5", "datetime", 0, "2007-12-19 22:25:00.500000"),  # kept: not equal
    ("2007-12-19 22:25:00.5", "datetime", 1, "2007-12-19 22:25:00.5"),
    ("2007-12-19 00:00:00", "date", 0, "2007-12-19"),
    ("2007-12-19 10:00:00", "date", 0, "2007-12-19 10:00:00"),  # orders after the day, as MySQL
    ("not a date", "datetime", 6, "not a date"),
    (None, "date", 0, None),
])
def test_temporal_key_is_the_columns_stored_form(value, kind, fsp, key):
    assert temporal_key(value, kind, fsp) == key


def test_updates_and_deletes_compare_as_dates(events):
    events.execute("UPDATE ev SET d = '2001-01-01' WHERE m = '2015-06-15 14:30:50.000321'")
    events.execute("UPDATE ev SET id = 2 WHERE d = '2001-01-01 00:00:00'")
    assert rows(events.execute("SELECT id, d FROM ev")) == [(2, "2001-01-01")]
    events.execute("DELETE FROM ev WHERE d <= '2001-01-01 00:00:00'")
    assert rows(events.execute("SELECT COUNT(*) FROM ev")) == [(0,)]


def test_date_arithmetic_keeps_the_operands_type(events):
    """Django's TruncQuarter/TruncWeek: a DATE ± a day-or-longer interval is a DATE, with an
    hour a DATETIME; a DATETIME stays one; a string stays a string (as in MySQL)."""
    result = events.execute(
        "SELECT MAKEDATE(YEAR(d), 1) + INTERVAL QUARTER(d) QUARTER - INTERVAL 1 QUARTER, "
        "DATE_SUB(d, INTERVAL WEEKDAY(d) DAY), d + INTERVAL 1 HOUR, "
        "DATE_ADD(m, INTERVAL 1 DAY), DATE_ADD('2020-01-01', INTERVAL 1 DAY), TIME(m), "
        "(m + INTERVAL id MICROSECOND) FROM ev")
    assert [c.type for c in result.columns] == [
        FieldType.DATE, FieldType.DATE, FieldType.DATETIME, FieldType.DATETIME,
        FieldType.VAR_STRING, FieldType.TIME, FieldType.DATETIME]
    assert rows(result) == [("2015-04-01", "2015-06-15", "2015-06-15 01:00:00",
                             "2015-06-16 14:30:50.000321", "2020-01-02", "14:30:50.000321",
                             "2015-06-15 14:30:50.000322")]


def test_greatest_least_coalesce_of_dates_are_dates(events):
    result = events.execute("SELECT GREATEST(m, d), LEAST(d, d), COALESCE(NULL, m), "
                            "GREATEST(d, '2020-01-01') FROM ev")
    assert [c.type for c in result.columns] == [
        FieldType.DATETIME, FieldType.DATE, FieldType.DATETIME, FieldType.VAR_STRING]
