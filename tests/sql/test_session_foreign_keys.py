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


def test_checks_off_after_the_first_write_is_a_named_limitation(db):
    db.execute("BEGIN")
    db.execute("INSERT INTO p VALUES (1)")
    db.execute("SET foreign_key_checks = 0")
    assert code(lambda: db.execute("INSERT INTO c VALUES (1, 99)")) == 1235
    db.execute("INSERT INTO c VALUES (1, 1)")  # the transaction goes on
    db.execute("COMMIT")
    db.execute("SET foreign_key_checks = 1")
    assert db.execute("SELECT id, pid FROM c").rows == [(1, 1)]
    assert code(lambda: db.execute("INSERT INTO c VALUES (2, 99)")) == 1452


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
