"""foreign_key_checks through the executor: the write path's connection mode and the DDL rules
of sql/rewrites/foreign_keys.py (the translation-level cases are in
tests/fixtures/translate/migrations.sql)."""

from __future__ import annotations

import pytest

from marmotdb.errors import MarmotError
from tests.sql.session_support import database_session, server_state


@pytest.fixture
def db(tmp_path):
    state = server_state(tmp_path)
    yield database_session(state, "shop", "CREATE TABLE p (id INT PRIMARY KEY)",
                           "CREATE TABLE c (id INT PRIMARY KEY, pid INT, "
                           "CONSTRAINT fk_p FOREIGN KEY (pid) REFERENCES p (id))")
    state.close()


def code(call) -> int:
    with pytest.raises(MarmotError) as info:
        call()
    return info.value.code


def test_checks_off_before_the_transaction_writes(db):
    db.execute("BEGIN")
    db.execute("SET foreign_key_checks = 0")
    db.execute("INSERT INTO c VALUES (1, 99)")
    db.execute("SET foreign_key_checks = 1")
    db.execute("COMMIT")
    assert db.execute("SELECT pid FROM c").rows == [(99,)]


def test_checks_off_after_the_first_write_apply_to_the_next_statement(db):
    """MySQL reads foreign_key_checks per statement, also inside a transaction that has
    written (Django's constraint_checks_disabled() does exactly this)."""
    db.execute("BEGIN")
    db.execute("INSERT INTO p VALUES (1)")
    db.execute("INSERT INTO c VALUES (1, 1)")
    db.execute("SET foreign_key_checks = 0")
    db.execute("INSERT INTO c VALUES (2, 99)")
    db.execute("UPDATE c SET pid = 98 WHERE id = 1")
    db.execute("SET foreign_key_checks = 1")
    assert code(lambda: db.execute("INSERT INTO c VALUES (3, 97)")) == 1452
    # Django's check_constraints(): the orphans are found by a query
    assert db.execute("SELECT c.id FROM c LEFT JOIN p ON c.pid = p.id WHERE p.id IS NULL "
                      "ORDER BY c.id").rows == [(1,), (2,)]
    db.execute("UPDATE p SET id = 1 WHERE id = 1")  # rows written meanwhile are not re-checked
    db.execute("COMMIT")
    assert db.execute("SELECT id, pid FROM c ORDER BY id").rows == [(1, 98), (2, 99)]


def test_checks_on_after_a_transaction_began_with_them_off(db):
    db.execute("SET foreign_key_checks = 0")
    db.execute("BEGIN")
    db.execute("INSERT INTO c VALUES (1, 99)")
    db.execute("SET foreign_key_checks = 1")
    assert code(lambda: db.execute("INSERT INTO c VALUES (2, 98)")) == 1452
    db.execute("INSERT INTO p VALUES (5)")
    db.execute("INSERT INTO c VALUES (2, 5)")
    assert code(lambda: db.execute("DELETE FROM p WHERE id = 5")) == 1451
    db.execute("COMMIT")
    assert db.execute("SELECT id, pid FROM c ORDER BY id").rows == [(1, 99), (2, 5)]


def test_checks_off_mid_transaction_skip_cascades_too(tmp_path):
    """With the checks off MySQL runs no ON DELETE action either; on again, it does."""
    state = server_state(tmp_path)
    try:
        db = database_session(state, "shop", "CREATE TABLE p (id INT PRIMARY KEY)",
                              "CREATE TABLE c (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) "
                              "REFERENCES p (id) ON DELETE CASCADE)")
        db.execute("INSERT INTO p VALUES (1), (2)")
        db.execute("INSERT INTO c VALUES (1, 1), (2, 2)")
        db.execute("BEGIN")
        db.execute("DELETE FROM p WHERE id = 1")
        db.execute("SET foreign_key_checks = 0")
        db.execute("DELETE FROM p WHERE id = 2")
        db.execute("SET foreign_key_checks = 1")
        db.execute("COMMIT")
        assert db.execute("SELECT id, pid FROM c").rows == [(2, 2)]
    finally:
        state.close()


def test_orphans_from_checks_off_do_not_fail_a_later_rebuild(db):
    db.execute("SET foreign_key_checks = 0")
    db.execute("INSERT INTO c VALUES (1, 99)")
    db.execute("SET foreign_key_checks = 1")
    db.execute("ALTER TABLE c ADD COLUMN note VARCHAR(5), ADD UNIQUE KEY u_note (note)")
    db.execute("ALTER TABLE c MODIFY note VARCHAR(9)")
    assert db.execute("SELECT id, pid, note FROM c").rows == [(1, 99, None)]


def test_parent_tables_are_protected_while_checks_are_on(db):
    assert code(lambda: db.execute("DROP TABLE p")) == 3730
    assert code(lambda: db.execute("TRUNCATE TABLE p")) == 1701
    assert code(lambda: db.execute("ALTER TABLE p DROP PRIMARY KEY")) == 1553
    db.execute("SET foreign_key_checks = 0")
    db.execute("DROP TABLE p")
    db.execute("SET foreign_key_checks = 1")
    db.execute("CREATE TABLE p (id INT PRIMARY KEY)")
    db.execute("INSERT INTO p VALUES (1)")
    db.execute("INSERT INTO c VALUES (1, 1)")
    assert code(lambda: db.execute("INSERT INTO c VALUES (2, 2)")) == 1452
