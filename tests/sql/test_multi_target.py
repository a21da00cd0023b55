"""Multi-table UPDATE / DELETE changing several tables, of one database or two
(sql/multi_target.py; across databases a transaction with two branches, txn/DESIGN.md §10.2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from marmotdb.sql.server_state import ServerState
from marmotdb.users import User
from tests.sql.sessions import error_code, log_length, new_server, session, table_rows


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerState]:
    state = new_server(tmp_path, [User("root", "x", {"*": "admin"})])
    s = session(state)
    for statement in ("CREATE DATABASE a", "CREATE DATABASE b",
                      "CREATE TABLE a.t1 (id INT PRIMARY KEY, x INT, note VARCHAR(10))",
                      "CREATE TABLE a.t3 (id INT PRIMARY KEY, z INT UNIQUE)",
                      "CREATE TABLE b.t2 (id INT PRIMARY KEY, y INT UNIQUE)",
                      "INSERT INTO a.t1 VALUES (1, 0, 'one'), (2, 0, 'two'), (3, 0, 'three')",
                      "INSERT INTO a.t3 VALUES (1, 1), (2, 2)",
                      "INSERT INTO b.t2 VALUES (1, 1), (2, 2), (4, 4)"):
        s.execute(statement)
    yield state
    state.close()




def test_an_update_changes_tables_of_two_databases_in_one_commit(server):
    before = log_length(server, "a"), log_length(server, "b")
    s = session(server)
    result = s.execute("UPDATE a.t1 JOIN b.t2 ON t1.id = t2.id "
                       "SET t1.x = t2.y + 10, t2.y = t1.id + 20, t1.note = 'joined'")
    assert result.affected_rows == 4
    assert table_rows(server, "a.t1") == [(1, 11, "joined"), (2, 12, "joined"), (3, 0, "three")]
    assert table_rows(server, "b.t2") == [(1, 21), (2, 22), (4, 4)]
    assert (log_length(server, "a"), log_length(server, "b")) == (before[0] + 1,
                                                                    before[1] + 1)


def test_a_delete_from_two_tables_of_one_database_and_of_two(server):
    s = session(server, database="a")
    assert s.execute("DELETE t1, t3 FROM t1 JOIN t3 ON t1.id = t3.id WHERE t1.id = 1"
                     ).affected_rows == 2
    assert table_rows(server, "a.t1") == [(2, 0, "two"), (3, 0, "three")]
    assert table_rows(server, "a.t3") == [(2, 2)]
    assert s.execute("DELETE t1, t2 FROM t1 JOIN b.t2 USING (id)").affected_rows == 2
    assert table_rows(server, "a.t1") == [(3, 0, "three")]
    assert table_rows(server, "b.t2") == [(1, 1), (4, 4)]


def test_a_row_joined_several_times_changes_once_and_a_missing_side_is_skipped(server):
    s = session(server)
    s.execute("INSERT INTO b.t2 VALUES (5, 5)")
    result = s.execute("UPDATE a.t1 JOIN b.t2 ON t2.id >= t1.id AND t1.id = 1 "
                       "SET t1.x = t1.x + 1, t2.y = t2.y + 100")
    assert table_rows(server, "a.t1")[0] == (1, 1, "one")  # once, not once per joined row
    assert [y for _, y in table_rows(server, "b.t2")] == [101, 102, 104, 105]
    assert result.affected_rows == 5
    s.execute("UPDATE a.t1 LEFT JOIN b.t2 ON t1.id = t2.id SET t1.x = 7, t2.y = 7 "
              "WHERE t1.id = 3")  # no t2 row joined: only t1 changes
    assert table_rows(server, "a.t1")[2] == (3, 7, "three")


def test_a_failing_statement_in_autocommit_leaves_nothing(server):
    s = session(server)
    assert error_code(lambda: s.execute(  # t2.y = 4 collides with row 4 (UNIQUE)
        "UPDATE a.t1 JOIN b.t2 ON t1.id = t2.id SET t1.x = 9, t2.y = 4")) == 1062
    assert [x for _, x, _ in table_rows(server, "a.t1")] == [0, 0, 0]
    assert table_rows(server, "b.t2") == [(1, 1), (2, 2), (4, 4)]
    assert s.txn is None
    s.execute("INSERT INTO b.t2 VALUES (6, 6)")  # both turns were given back
    s.execute("INSERT INTO a.t1 VALUES (6, 6, 'six')")


def test_in_a_transaction_a_failing_statement_undoes_only_itself(server):
    s = session(server)
    s.execute("BEGIN")
    s.execute("INSERT INTO a.t1 VALUES (8, 8, 'eight')")
    s.execute("SAVEPOINT mine")
    assert error_code(lambda: s.execute(
        "UPDATE a.t1 JOIN b.t2 ON t1.id = t2.id SET t1.x = 9, t2.y = 4")) == 1062
    s.execute("UPDATE a.t1 JOIN b.t2 ON t1.id = t2.id SET t1.x = 5, t2.y = t2.y + 50 "
              "WHERE t1.id = 1")
    s.execute("ROLLBACK TO mine")  # the user's savepoint still works around it
    s.execute("DELETE t1, t2 FROM a.t1 JOIN b.t2 USING (id) WHERE t1.id = 2")
    s.execute("COMMIT")
    assert table_rows(server, "a.t1") == [(1, 0, "one"), (3, 0, "three"), (8, 8, "eight")]
    assert table_rows(server, "b.t2") == [(1, 1), (4, 4)]


def test_what_stays_refused(server):
    s = session(server, database="a")
    s.execute("CREATE TABLE nokey (id INT, v INT)")
    s.execute("INSERT INTO nokey VALUES (1, 1)")
    assert error_code(lambda: s.execute(
        "UPDATE t1 JOIN nokey USING (id) SET t1.x = 1, nokey.v = 2")) == 1235
    assert error_code(lambda: s.execute(
        "UPDATE t1 JOIN t3 USING (id) SET t1.x = 1, t3.z = 9 ORDER BY t1.id LIMIT 1")) == 1221
    assert error_code(lambda: s.execute("DELETE t1, zz FROM t1 JOIN t3 USING (id)")) == 1109
    assert [x for _, x, _ in table_rows(server, "a.t1")] == [0, 0, 0]


def test_a_prepared_statement_runs_it_too(server):
    s = session(server)
    plan = s.prepare("UPDATE a.t1 JOIN b.t2 ON t1.id = t2.id SET t1.x = ?, t2.y = t2.y + ? "
                     "WHERE t1.id = ?")
    assert plan.param_count == 3
    assert s.execute_prepared(plan, [5, 10, 2]).affected_rows == 2
    assert table_rows(server, "a.t1")[1] == (2, 5, "two") and table_rows(server, "b.t2")[1] == (2, 12)
