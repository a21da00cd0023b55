"""``x op ANY|SOME|ALL (subquery)`` through a session: shapes with their literals as
parameters, prepared statements, DML (the fixture cases in select.sql cover the values and run
on MariaDB too)."""

from __future__ import annotations

import pytest

from tests.sql.sessions import rows, session


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE q")
    s.use("q")
    s.execute("CREATE TABLE t (a INT)")
    s.execute("INSERT INTO t VALUES (1), (2), (NULL)")
    s.execute("CREATE TABLE o (id INT PRIMARY KEY, x INT)")
    s.execute("INSERT INTO o VALUES (1, 1), (2, 3), (3, 5)")
    return s


def test_literals_of_one_shape_and_the_column_name(db):
    first = db.execute("SELECT 2 = ANY (SELECT a FROM t)")
    assert [c.name for c in first.columns] == ["2 = ANY (SELECT a FROM t)"]
    assert rows(first) == [(1,)]
    assert rows(db.execute("SELECT 3 = ANY (SELECT a FROM t)")) == [(None,)]
    assert rows(db.execute("SELECT 3 > ALL (SELECT a FROM t WHERE a > 0)")) == [(1,)]


def test_prepared_with_the_compared_value_as_a_parameter(db):
    plan = db.prepare("SELECT ? > ALL (SELECT a FROM t WHERE a IS NOT NULL)")
    assert rows(db.execute_prepared(plan, [3])) == [(1,)]
    assert rows(db.execute_prepared(plan, [2])) == [(0,)]
    assert rows(db.execute_prepared(plan, [None])) == [(None,)]


def test_in_update_and_delete(db):
    db.execute("UPDATE o SET x = 0 WHERE x > ALL (SELECT a FROM t WHERE a IS NOT NULL) "
               "AND x < 4")
    assert rows(db.execute("SELECT id, x FROM o ORDER BY id")) == [(1, 1), (2, 0), (3, 5)]
    assert db.execute("DELETE FROM o WHERE x = ANY (SELECT a FROM t)").affected_rows == 1
    assert rows(db.execute("SELECT id FROM o ORDER BY id")) == [(2,), (3,)]
