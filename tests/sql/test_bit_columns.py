"""BIT(64) values from 2^63 through a session: stored as sql/types/uint64.py's BLOB, so they sort as
unsigned, and their DEFAULT is shown as MySQL shows it (the values themselves: types.sql's
fixture cases, also run on MariaDB)."""

from __future__ import annotations

import pytest

from tests.sql.sessions import rows, session

HIGH_BITS = "1" + "0" * 62 + "1"  # 2^63 + 1


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE b")
    s.use("b")
    s.execute(f"CREATE TABLE t (id INT PRIMARY KEY, c BIT(64) DEFAULT b'{HIGH_BITS}')")
    return s


def test_default_from_2_63_is_shown_as_written(db):
    db.execute("INSERT INTO t (id) VALUES (1)")
    assert rows(db.execute("SELECT c + 0 FROM t")) == [("9223372036854775809",)]
    create = rows(db.execute("SHOW CREATE TABLE t"))[0][1]
    assert f"`c` bit(64) DEFAULT b'{HIGH_BITS}'" in create
    assert rows(db.execute("SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE "
                           "TABLE_SCHEMA = 'b' AND TABLE_NAME = 't' AND COLUMN_NAME = 'c'")) \
        == [(f"b'{HIGH_BITS}'",)]


def test_values_sort_as_unsigned_and_come_back_as_their_bytes(db):
    db.execute("INSERT INTO t VALUES (1, ~0), (2, 5), (3, 1 << 63)")
    assert rows(db.execute("SELECT id FROM t ORDER BY c")) == [(2,), (3,), (1,)]
    assert rows(db.execute("SELECT c FROM t WHERE id = 3")) == [(b"\x80" + b"\0" * 7,)]
    plan = db.prepare("SELECT id FROM t WHERE c >= ? ORDER BY id")
    assert rows(db.execute_prepared(plan, [1 << 63])) == [(1,), (3,)]
