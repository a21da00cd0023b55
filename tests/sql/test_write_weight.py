"""Which writes leave the event loop: weighed from SQLite's plan before they run."""

from __future__ import annotations

import apsw
import pytest

from marmotdb.sql.write_weight import WriteWeights


@pytest.fixture
def conn():
    conn = apsw.Connection(":memory:")
    conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, k INT, n INT)")
    conn.execute("CREATE INDEX big_k ON big (k)")
    conn.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, n INT)")
    conn.execute("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 500)"
                 " INSERT INTO big SELECT i, i, 0 FROM c")
    conn.execute("INSERT INTO small VALUES (1, 0)")
    return conn


@pytest.mark.parametrize(("statement", "long"), [
    ("UPDATE big SET n = 1", True),                          # a full scan of a big table
    ("DELETE FROM big WHERE n = 3", True),
    ("UPDATE big SET n = 1 WHERE id > :p", True),            # a key range
    ("INSERT INTO small SELECT id, n FROM big", True),       # reads the big table
    ("INSERT INTO small WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
     "WHERE i < 9) SELECT i, 0 FROM c", True),               # a CTE: size unknown
    ("UPDATE big SET n = 1 WHERE id = :p", False),           # point writes
    ("UPDATE big SET n = 1 WHERE k = :p", False),
    ("DELETE FROM big WHERE id IN (1, 2, 3)", False),
    ("INSERT INTO big VALUES (1000, 1, 1), (1001, 2, 2)", False),
    ("UPDATE small SET n = 2", False),                       # a scan, of a small table
])
def test_a_write_is_long_when_its_plan_scans_a_big_table(conn, statement, long):
    weights = WriteWeights(rows_min=100)
    lend = lambda: (conn, lambda: None)  # noqa: E731
    assert weights.is_long(("db", 0), [statement], {"p": 5}, lend) is long
    assert weights.is_long(("db", 0), [statement], {"p": 5}, lend) is long  # cached plan


def test_a_table_that_grows_past_the_bound_makes_its_scans_long(conn):
    weights = WriteWeights(rows_min=100)
    lend = lambda: (conn, lambda: None)  # noqa: E731
    assert not weights.is_long(("db", 0), ["UPDATE small SET n = 2"], {}, lend)
    conn.execute("INSERT INTO small VALUES (5000, 0)")
    assert weights.is_long(("db", 0), ["UPDATE small SET n = 2"], {}, lend)
