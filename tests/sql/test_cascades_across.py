"""ON DELETE / ON UPDATE CASCADE and SET NULL of FOREIGN KEYs to another database's table
(sql/cascades_across.py): the child rows change in the parent's transaction, as a branch of
it (txn/DESIGN.md §10.2), atomically with the parent's statement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from marmotdb.sql.server_state import ServerState
from marmotdb.txn.pending import Pending
from marmotdb.users import User
from tests.sql.sessions import error_code, log_length, new_server, rows, session, table_rows


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerState]:
    state = new_server(tmp_path, [User("root", "x", {"*": "admin"})])
    s = session(state)
    for statement in (
            "CREATE DATABASE p", "CREATE DATABASE c", "CREATE DATABASE g",
            "CREATE TABLE p.parent (id INT PRIMARY KEY)",
            "CREATE TABLE c.child (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) "
            "REFERENCES p.parent (id) ON DELETE CASCADE ON UPDATE CASCADE)",
            "CREATE TABLE c.loose (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) "
            "REFERENCES p.parent (id) ON DELETE SET NULL ON UPDATE SET NULL)",
            "CREATE TABLE g.grand (id INT PRIMARY KEY, cid INT, FOREIGN KEY (cid) "
            "REFERENCES c.child (id) ON DELETE CASCADE)",
            "INSERT INTO p.parent VALUES (1), (2), (3)",
            "INSERT INTO c.child VALUES (10, 1), (11, 1), (20, 2)",
            "INSERT INTO c.loose VALUES (10, 1), (30, 3)",
            "INSERT INTO g.grand VALUES (100, 10), (200, 20)"):
        s.execute(statement)
    yield state
    state.close()




def test_the_actions_are_kept_and_shown(server):
    shown = rows(session(server).execute("SHOW CREATE TABLE c.child"))[0][1]
    assert "REFERENCES `p`.`parent` (`id`) ON DELETE CASCADE ON UPDATE CASCADE" in shown


def test_a_deleted_parent_deletes_and_nulls_children_in_other_databases(server):
    logs = [log_length(server, name) for name in ("p", "c", "g")]
    assert session(server).execute("DELETE FROM p.parent WHERE id = 1").affected_rows == 1
    assert table_rows(server, "c.child") == [(20, 2)]
    assert table_rows(server, "c.loose") == [(10, None), (30, 3)]
    assert table_rows(server, "g.grand") == [(200, 20)]  # two levels down, a third database
    assert [log_length(server, name) for name in ("p", "c", "g")] == [n + 1 for n in logs]


def test_an_updated_parent_key_cascades_or_nulls(server):
    session(server).execute("UPDATE p.parent SET id = 33 WHERE id = 3")
    assert table_rows(server, "c.loose") == [(10, 1), (30, None)]
    session(server).execute("UPDATE p.parent SET id = 22 WHERE id = 2")
    assert table_rows(server, "c.child") == [(10, 1), (11, 1), (20, 22)]


def test_a_rolled_back_transaction_undoes_the_cascades(server):
    s = session(server)
    s.execute("BEGIN")
    s.execute("DELETE FROM p.parent WHERE id = 1")
    assert rows(s.execute("SELECT COUNT(*) FROM c.child")) == [(1,)]  # its own branch
    assert table_rows(server, "c.child") == [(10, 1), (11, 1), (20, 2)]  # others: not yet
    s.execute("ROLLBACK")
    assert table_rows(server, "p.parent") == [(1,), (2,), (3,)]
    assert table_rows(server, "c.child") == [(10, 1), (11, 1), (20, 2)]
    assert table_rows(server, "g.grand") == [(100, 10), (200, 20)]


def test_a_failing_parent_statement_undoes_what_it_cascaded(server):
    s = session(server)
    s.execute("CREATE TABLE c.strict (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) "
              "REFERENCES p.parent (id))")  # RESTRICT
    s.execute("INSERT INTO c.strict VALUES (1, 3)")
    s.execute("BEGIN")
    s.execute("INSERT INTO p.parent VALUES (4)")
    assert error_code(lambda: s.execute("DELETE FROM p.parent WHERE id IN (1, 3)")) == 1451
    s.execute("COMMIT")  # the transaction goes on: only that statement was undone
    assert table_rows(server, "p.parent") == [(1,), (2,), (3,), (4,)]
    assert table_rows(server, "c.child") == [(10, 1), (11, 1), (20, 2)]
    assert table_rows(server, "c.loose") == [(10, 1), (30, 3)]
    assert table_rows(server, "g.grand") == [(100, 10), (200, 20)]


def test_with_the_checks_off_nothing_cascades(server):
    s = session(server)
    s.execute("SET foreign_key_checks = 0")
    s.execute("DELETE FROM p.parent WHERE id = 1")
    assert table_rows(server, "c.child") == [(10, 1), (11, 1), (20, 2)]


def test_a_multi_table_delete_of_parents_cascades_too(server):
    s = session(server)
    s.execute("CREATE TABLE p.other (id INT PRIMARY KEY)")
    s.execute("INSERT INTO p.other VALUES (1), (2)")
    holder = session(server)
    holder.execute("BEGIN")
    holder.execute("INSERT INTO g.grand VALUES (300, NULL)")  # holds g's turn
    waiting = s.execute("DELETE parent, other FROM p.parent JOIN p.other USING (id)")
    assert isinstance(waiting, Pending) and not waiting.done()  # before any row is written
    holder.execute("COMMIT")
    assert waiting.done() and waiting.result().affected_rows == 4
    assert table_rows(server, "p.parent") == [(3,)]
    assert table_rows(server, "c.child") == [] and table_rows(server, "g.grand") == [(300, None)]
    assert table_rows(server, "c.loose") == [(10, None), (30, 3)]
