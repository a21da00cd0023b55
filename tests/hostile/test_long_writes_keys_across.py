"""Long writes to a database with FOREIGN KEYs to or from another database's tables, against a
real ``marmotdb serve`` process (txn/DESIGN.md §2.1, §10.1): the statement and its checks run
on a writer thread, so other clients keep being served; KILL QUERY stops it, and a check that
fails inside it gives 1452 / 1451 with nothing of it kept."""

from __future__ import annotations

import time

import pymysql
import pytest

from tests.hostile.test_long_writes import Background, connect

pytestmark = pytest.mark.integration
ROWS = 200_000
# every row of it needs its parent in the other database: 200 000 checks
LONG_INSERT = "INSERT INTO c SELECT id, id FROM src"


@pytest.fixture(scope="module")
def keyed(marmot):
    with connect(marmot) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE kp")
        cur.execute("CREATE DATABASE kc")
        cur.execute("CREATE TABLE kp.p (id INT PRIMARY KEY, k INT)")
        cur.execute("CREATE TABLE kc.src (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE kc.c (id INT PRIMARY KEY, pid INT, CONSTRAINT c_p "
                    "FOREIGN KEY (pid) REFERENCES kp.p (id))")
        series = f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {ROWS})"
        cur.execute(f"INSERT INTO kp.p {series} SELECT i, 0 FROM s")
        cur.execute(f"INSERT INTO kc.src {series} SELECT i FROM s")
    return "kc"


def count(marmot, sql: str) -> int:
    with connect(marmot) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return int(cur.fetchall()[0][0])


def children(marmot) -> int:
    return count(marmot, "SELECT COUNT(*) FROM kc.c")


def empty_children(marmot) -> None:
    with connect(marmot) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM kc.c")


def test_a_long_insert_with_keys_across_does_not_freeze_other_clients(marmot, keyed):
    with connect(marmot, database="kp") as watch, watch.cursor() as cur:
        insert = Background(marmot, LONG_INSERT, database="kc")
        worst_s, probes = 0.0, 0
        while insert.thread.is_alive():
            started = time.monotonic()
            cur.execute("SELECT 1")
            cur.fetchall()
            worst_s = max(worst_s, time.monotonic() - started)
            probes += 1
            time.sleep(0.005)
        insert.join()
    print(f"\nlong INSERT … SELECT of {ROWS} checked rows: {insert.elapsed_s * 1000:.0f} ms; "
          f"{probes} SELECT 1 meanwhile, the slowest {worst_s * 1000:.1f} ms")
    assert insert.error is None and insert.elapsed_s > 0.3, "the INSERT must be long to prove it"
    # On the loop (its keys kept it there) every client waited for the whole statement and
    # its 200 000 checks: seconds.
    assert worst_s < 1.0, f"SELECT 1 waited {worst_s * 1000:.0f} ms behind the INSERT"
    assert probes > 5
    assert children(marmot) == ROWS
    empty_children(marmot)
    insert.conn.close()


@pytest.mark.parametrize("after_s", [0.2, 0.8, 1.5, 3.0])
def test_kill_query_stops_a_long_insert_with_keys_across(marmot, keyed, after_s):
    """Killed while the statement runs or while its checks do (later): 1317, nothing kept,
    the turn free at once."""
    insert = Background(marmot, LONG_INSERT, database="kc")
    time.sleep(after_s)
    with connect(marmot) as admin, admin.cursor() as cur:
        cur.execute(f"KILL QUERY {insert.id}")
    insert.join()
    if insert.error is None:  # it was done before the KILL came: nothing to prove here
        empty_children(marmot)
        pytest.skip(f"the INSERT ended within {after_s} s")
    assert insert.error == 1317
    assert children(marmot) == 0
    with connect(marmot, database="kc") as other, other.cursor() as cur:
        cur.execute("SET innodb_lock_wait_timeout = 5")
        started = time.monotonic()
        cur.execute("INSERT INTO c VALUES (-1, 1)")
        assert time.monotonic() - started < 1
        cur.execute("DELETE FROM c WHERE id = -1")
    insert.conn.close()


def test_a_check_failing_inside_a_long_insert_gives_1452_and_keeps_nothing(marmot, keyed):
    insert = Background(marmot, "INSERT INTO c SELECT id, CASE WHEN id = 150000 THEN -7 "
                        "ELSE id END FROM src", database="kc")
    insert.join()
    assert insert.error == 1452
    assert children(marmot) == 0
    insert.conn.close()


def test_a_long_delete_of_parents_still_used_gives_1451_and_keeps_nothing(marmot, keyed):
    with connect(marmot, database="kc") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO c VALUES (1, 190000)")
    delete = Background(marmot, "DELETE FROM p WHERE id > 100", database="kp")
    delete.join()
    assert delete.error == 1451
    assert count(marmot, "SELECT COUNT(*) FROM kp.p") == ROWS
    empty_children(marmot)
    delete.conn.close()


def test_a_parent_deleted_beside_a_long_insert_never_leaves_an_orphan(marmot, keyed):
    """The long INSERT's checks run on its thread while the DELETE's run on the loop: one of
    them is refused (1452 or 1451), whichever order they meet in."""
    with connect(marmot, database="kp") as conn, conn.cursor() as cur:
        insert = Background(marmot, LONG_INSERT, database="kc")
        deleted, refused = 0, 0
        for victim in range(ROWS, ROWS - 400, -1):  # the INSERT checks these last
            if not insert.thread.is_alive():
                break
            try:
                cur.execute(f"DELETE FROM p WHERE id = {victim}")
                deleted += 1
            except pymysql.MySQLError as exc:
                assert exc.args[0] == 1451
                refused += 1
            time.sleep(0.002)
        insert.join()
        orphans = count(marmot, "SELECT COUNT(*) FROM kc.c LEFT JOIN kp.p ON p.id = c.pid "
                        "WHERE p.id IS NULL")
        assert orphans == 0
        assert insert.error == 1452 if deleted else insert.error is None, \
            (insert.error, deleted, refused)
        empty_children(marmot)
        cur.execute(f"INSERT INTO p SELECT id, 0 FROM kc.src WHERE id > {ROWS - 400} "
                    "AND id NOT IN (SELECT id FROM p)")
    insert.conn.close()
