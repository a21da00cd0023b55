"""The session gives errors.from_sqlite the row being written (sql/written_row.py): duplicate
entries name the failing row's value, foreign key failures the refusing constraint; where the
last row written is not known to be the failing one, the key is named without a value."""

from __future__ import annotations

import itertools

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.txn.pending import Pending
from marmotdb.users import User, Users

_ids = itertools.count(1)
CHILD = "Cannot add or update a child row: a foreign key constraint fails"


@pytest.fixture
def session(tmp_path):
    users = Users([User("root", "x", {"*": "admin"})])
    state = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                        users=users)
    s = Session(state, state.users.get("root"), next(_ids))
    for sql in ["CREATE DATABASE d", "USE d",
                "CREATE TABLE t (id INT PRIMARY KEY, u INT, v INT, name VARCHAR(8), "
                "UNIQUE KEY uk (u, v))",
                "CREATE TABLE p (id INT PRIMARY KEY, k INT UNIQUE)",
                "CREATE TABLE two (id INT PRIMARY KEY, a INT, b INT, CONSTRAINT two_a "
                "FOREIGN KEY (a) REFERENCES p (id), CONSTRAINT two_b FOREIGN KEY (b) "
                "REFERENCES p (k))",
                "INSERT INTO p VALUES (1, 10)",
                "INSERT INTO t VALUES (5, 1, 2, 'ann'), (6, 3, 2, 'bob')"]:
        run(s, sql)
    yield s
    s.close()
    state.close()


def run(session: Session, sql: str) -> object:
    result = session.execute(sql)
    return result.result() if isinstance(result, Pending) else result


def failure(session: Session, sql: str) -> tuple[int, str]:
    with pytest.raises(MarmotError) as info:
        run(session, sql)
    return info.value.code, info.value.message


@pytest.mark.parametrize("sql, message", [
    ("INSERT INTO t (id) VALUES ('05')", "Duplicate entry '5' for key 't.PRIMARY'"),
    # The second row fails: its value, not the first row's nor the last's.
    ("INSERT INTO t VALUES (7, 7, 7, 'x'), (8, 1, 2, 'y'), (9, 9, 9, 'z')",
     "Duplicate entry '1-2' for key 't.uk'"),
    # VALUES reading the target table: SQLite computes every row first (a temp table), so
    # the last row computed is not the failing one.
    ("INSERT INTO t VALUES (7, 7, 7, 'x'), (8, 1, 2, 'y'), (9, 9, 9, (SELECT max(name) FROM t))",
     "Duplicate entry for key 't.uk'"),
    ("INSERT INTO t (id, u, v) SELECT 7, 1, 2", "Duplicate entry '1-2' for key 't.uk'"),
    # Rows of a SELECT may all be computed before the first is written: which one failed is
    # not known unless they agree on the key.
    ("INSERT INTO t (id, u, v) SELECT id + 100, u, v FROM t ORDER BY id",
     "Duplicate entry for key 't.uk'"),
    ("UPDATE t SET u = 1, v = 2", "Duplicate entry '1-2' for key 't.uk'"),
    ("UPDATE t SET u = 1, v = 2 WHERE id = 6", "Duplicate entry '1-2' for key 't.uk'"),
    ("UPDATE t SET id = 5 WHERE id = 6", "Duplicate entry '5' for key 't.PRIMARY'"),
    # The UPDATE did not set v: its value is not known, so none is shown.
    ("UPDATE t SET u = 1 WHERE id = 6", "Duplicate entry for key 't.uk'"),
    # ON DUPLICATE KEY UPDATE mixes the inserted and the updated row: no value.
    ("INSERT INTO t VALUES (7, 3, 2, 'q') ON DUPLICATE KEY UPDATE id = 5",
     "Duplicate entry for key 't.PRIMARY'"),
])
def test_duplicate_entry_names_the_failing_rows_value(session: Session, sql: str,
                                                      message: str) -> None:
    assert failure(session, sql) == (1062, message)


def test_a_table_with_triggers_names_no_value(session: Session) -> None:
    run(session, "CREATE TABLE log (id INT PRIMARY KEY, what VARCHAR(8))")
    run(session, "CREATE TRIGGER t_log AFTER INSERT ON t FOR EACH ROW "
                 "INSERT INTO log VALUES (NEW.id + 1000, 'x')")
    assert failure(session, "INSERT INTO t (id) VALUES (5)") == (
        1062, "Duplicate entry for key 't.PRIMARY'")


def test_the_refusing_foreign_key_of_one_row_is_named(session: Session) -> None:
    assert failure(session, "INSERT INTO two VALUES (1, 1, 99)") == (
        1452, f"{CHILD} (`d`.`two`, CONSTRAINT `two_b` FOREIGN KEY (`b`) REFERENCES `p` "
              "(`k`))")
    # Several rows: foreign keys are checked when the statement ends, so the last row stored
    # is not known to be the refused one.
    assert failure(session, "INSERT INTO two VALUES (1, 99, 10), (2, 1, 10)") == (1452, CHILD)


@pytest.mark.parametrize("sql, clause", [
    ("SELECT nope FROM t", "field list"),
    ("SELECT id FROM t WHERE nope = 1", "where clause"),
    ("SELECT id FROM t ORDER BY nope", "order clause"),
    ("SELECT id FROM t GROUP BY nope", "group statement"),
    ("SELECT id FROM t GROUP BY id HAVING nope > 1", "having clause"),
    ("DELETE FROM t WHERE nope = 1", "where clause"),
    ("SELECT id FROM t WHERE id IN (SELECT nope FROM p)", "field list"),
    ("SELECT nope FROM t WHERE nope = 1", "field list"),  # MySQL resolves the select list first
])
def test_unknown_column_names_its_clause(session: Session, sql: str, clause: str) -> None:
    assert failure(session, sql) == (1054, f"Unknown column 'nope' in '{clause}'")


@pytest.fixture
def elsewhere(session: Session) -> Session:
    """The session in ``d`` with a temporary table there and a table of database ``o``."""
    for sql in ["CREATE DATABASE o", "CREATE TABLE o.t (id INT PRIMARY KEY, v INT)",
                "INSERT INTO o.t VALUES (5, 1)",
                "CREATE TEMPORARY TABLE tt (id INT PRIMARY KEY, v INT)",
                "INSERT INTO tt VALUES (7, 1)"]:
        run(session, sql)
    return session


@pytest.mark.parametrize("sql, message", [
    ("INSERT INTO o.t VALUES (5, 2)", "Duplicate entry '5' for key 't.PRIMARY'"),  # as MySQL 8.0
    ("INSERT INTO o.t VALUES (9, 1), (5, 2)", "Duplicate entry '5' for key 't.PRIMARY'"),
    ("INSERT INTO tt VALUES (7, 2)", "Duplicate entry '7' for key 'tt.PRIMARY'"),
    ("INSERT INTO tt VALUES (8, 1), (7, 2)", "Duplicate entry '7' for key 'tt.PRIMARY'"),
    ("INSERT INTO t (id) SELECT 5 FROM tt", "Duplicate entry '5' for key 't.PRIMARY'"),
])
def test_duplicate_entry_of_another_database_or_a_temporary_table(
        elsewhere: Session, sql: str, message: str) -> None:
    assert failure(elsewhere, sql) == (1062, message)


def test_prepared_writes_name_the_duplicate_entry_elsewhere_too(elsewhere: Session) -> None:
    for sql, values, message in [
            ("INSERT INTO o.t VALUES (?, ?)", [5, 9], "Duplicate entry '5' for key 't.PRIMARY'"),
            ("INSERT INTO tt VALUES (?, ?)", [7, 9], "Duplicate entry '7' for key 'tt.PRIMARY'")]:
        plan = elsewhere.prepare(sql)
        with pytest.raises(MarmotError) as info:
            result = elsewhere.execute_prepared(plan, values)
            if isinstance(result, Pending):
                result.result()
        assert (info.value.code, info.value.message) == (1062, message)


@pytest.mark.parametrize("sql, clause", [
    ("SELECT id FROM o.t WHERE nope = 1", "where clause"),  # home database o
    ("SELECT id FROM o.t ORDER BY nope", "order clause"),
    ("DELETE FROM o.t WHERE nope = 1", "where clause"),
    ("SELECT id FROM tt WHERE nope = 1", "where clause"),  # the session's temporary space
    ("UPDATE tt SET v = 1 WHERE nope = 1", "where clause"),
    ("EXPLAIN SELECT id FROM o.t WHERE nope = 1", "where clause"),
])
def test_unknown_column_clause_in_another_home_or_a_temporary_table(
        elsewhere: Session, sql: str, clause: str) -> None:
    assert failure(elsewhere, sql) == (1054, f"Unknown column 'nope' in '{clause}'")
