"""Database-qualified names (``otherdb.t``): reads and joins across databases, DDL and DML in
another database than the current one (each through its own commit pipeline), and a
transaction writing two databases (one branch per database, txn/DESIGN.md §10.2)."""

from __future__ import annotations

import pytest

from marmotdb.sql.attachments import ATTACHED_MAX
from marmotdb.users import User
from tests.sql.sessions import error_code, log_length, new_server, rows, session

@pytest.fixture
def server(tmp_path):
    state = new_server(tmp_path, [User("root", "x", {"*": "admin"}),
                                  User("shopper", "x", {"shop": "rw"})])
    root = session(state)
    for statement in ("CREATE DATABASE shop", "CREATE DATABASE stock",
                      "CREATE TABLE shop.item (id INT PRIMARY KEY, price DECIMAL(6,2))",
                      "CREATE TABLE stock.level (id INT PRIMARY KEY, n INT, note VARCHAR(8))",
                      "INSERT INTO shop.item VALUES (1, 1.50), (2, 2.25)",
                      "INSERT INTO stock.level VALUES (1, 10, 'a'), (3, 30, 'c')"):
        root.execute(statement)
    yield state
    state.close()



def test_reads_without_use_are_typed_as_in_their_own_database(server):
    s = session(server)
    result = s.execute("SELECT SUM(price), MAX(price) FROM shop.item")
    assert rows(result) == [("3.75", "2.25")]  # DECIMAL sums exactly: the table is known
    assert rows(s.execute("SELECT * FROM shop.item JOIN stock.level USING (id)")) == [
        (1, "1.50", 10, "a")]
    assert error_code(lambda: s.execute("SELECT * FROM nowhere.t")) == 1146
    assert error_code(lambda: s.execute("SELECT * FROM shop.nope")) == 1146
    assert error_code(lambda: s.execute("SELECT * FROM item")) == 1046


def test_joins_across_databases_from_a_current_one(server):
    s = session(server, database="shop")
    for _ in range(2):  # again from the translation cache and the attached connection
        assert rows(s.execute("SELECT item.id, level.n FROM item LEFT JOIN stock.level "
                              "ON level.id = item.id ORDER BY item.id")) == [(1, 10), (2, None)]
    assert rows(s.execute("SELECT id FROM item WHERE id IN (SELECT id FROM stock.level)")) == \
        [(1,)]
    assert rows(s.execute("SELECT COUNT(*) FROM stock.level")) == [(2,)]


def test_autocommit_writes_go_through_the_other_databases_pipeline(server):
    s = session(server, database="shop")
    before = log_length(server, "stock"), log_length(server, "shop")
    assert s.execute("INSERT INTO stock.level SELECT id + 10, 1, 'copy' FROM item"
                     ).affected_rows == 2
    assert s.execute("UPDATE stock.level JOIN item ON item.id = level.id "
                     "SET level.note = 'priced'").affected_rows == 1
    assert s.execute("DELETE FROM stock.level WHERE id > 10").affected_rows == 2
    assert s.execute("UPDATE item JOIN stock.level l ON l.id = item.id "
                     "SET item.price = l.n").affected_rows == 1
    assert (log_length(server, "stock"), log_length(server, "shop")) == (
        before[0] + 3, before[1] + 1)
    assert rows(session(server).execute("SELECT note FROM stock.level WHERE id = 1")) == [
        ("priced",)]
    assert rows(session(server).execute("SELECT price FROM shop.item WHERE id = 1")) == [
        ("10.00",)]
    assert error_code(lambda: session(server).execute(
        "INSERT INTO stock.level SELECT * FROM item")) == 1046  # no current database


def test_ddl_on_another_database_without_use(server):
    s = session(server)
    s.execute("CREATE TABLE stock.box (id INT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(5))")
    s.execute("ALTER TABLE stock.box ADD COLUMN size INT NOT NULL DEFAULT 1")
    s.execute("CREATE INDEX by_label ON stock.box (label)")
    s.execute("INSERT INTO stock.box (label) VALUES ('x')")
    assert rows(s.execute("SELECT id, label, size FROM stock.box")) == [(1, "x", 1)]
    s.execute("TRUNCATE TABLE stock.box")
    s.execute("RENAME TABLE stock.box TO stock.crate")
    assert rows(session(server, database="stock").execute("SHOW TABLES")) == [
        ("crate",), ("level",)]
    s.execute("DROP TABLE stock.crate")
    assert error_code(lambda: s.execute("CREATE TABLE nowhere.t (a INT)")) == 1049
    assert error_code(lambda: s.execute("CREATE TABLE t (a INT)")) == 1046
    assert error_code(lambda: session(server, database="shop").execute(
        "DROP TABLE item, stock.level")) == 1235  # one database per DDL


def test_create_table_select_in_another_database_reads_the_current_one(server):
    """MySQL: the SELECT's unqualified names are the current database's (SQLAlchemy's
    TableViaSelectTest.test_without_metadata[use_schema]). The rows go through the new
    table's database's own commit log, as row images."""
    s = session(server, database="shop")
    before = log_length(server, "stock")
    result = s.execute("CREATE TABLE stock.dear AS SELECT id, price FROM item WHERE price > 2")
    assert result.affected_rows == 1
    assert log_length(server, "stock") == before + 2  # the table, then its rows
    assert rows(s.execute("SELECT * FROM stock.dear")) == [(2, "2.25")]
    shown = rows(s.execute("SHOW CREATE TABLE stock.dear"))[0][1]
    assert "`id` int NOT NULL" in shown and "`price` decimal(6,2)" in shown  # item's types
    s.execute("CREATE TABLE stock.named AS SELECT id FROM shop.item")  # explicitly, too
    assert rows(s.execute("SELECT COUNT(*) FROM stock.named")) == [(2,)]
    # atomic, as MySQL 8's: rows that fail leave no table behind
    assert error_code(lambda: s.execute(
        "CREATE TABLE stock.twice (one INT, UNIQUE KEY (one)) "
        "AS SELECT id, 1 AS one FROM item")) == 1062
    assert error_code(lambda: s.execute("SELECT * FROM stock.twice")) == 1146
    no_database = session(server)
    assert error_code(lambda: no_database.execute(
        "CREATE TABLE stock.lost AS SELECT id FROM item")) == 1046
    assert error_code(lambda: s.execute("SELECT * FROM stock.lost")) == 1146


@pytest.mark.parametrize("checks", [1, 0])
def test_a_foreign_key_to_another_database_is_kept_not_pointed_at_this_one(server, checks):
    """Each database is its own SQLite file: a key to another database's table is kept in
    our catalog (tests/sql/test_foreign_keys_across.py checks it); the qualifier must not be
    dropped (with the checks off that once made a key to a same-named local table)."""
    s = session(server, database="shop")
    s.execute(f"SET foreign_key_checks = {checks}")
    s.execute("CREATE TABLE level (id INT PRIMARY KEY)")  # same name as stock.level, empty
    s.execute("CREATE TABLE line (id INT, lvl INT, FOREIGN KEY (lvl) REFERENCES stock.level (id))")
    s.execute("CREATE TABLE stock.line (id INT, item INT, FOREIGN KEY (item) "
              "REFERENCES shop.item (id))")
    s.execute("SET foreign_key_checks = 1")
    s.execute("INSERT INTO line VALUES (1, 3)")  # stock.level has 3, shop.level has nothing
    assert "REFERENCES `stock`.`level` (`id`)" in rows(s.execute("SHOW CREATE TABLE line"))[0][1]
    s.execute("CREATE TABLE stock.box (id INT, lvl INT, FOREIGN KEY (lvl) "
              "REFERENCES stock.level (id))")  # the table's own database, qualified
    assert "REFERENCES `level` (`id`)" in rows(s.execute("SHOW CREATE TABLE stock.box"))[0][1]
    s.execute("CREATE TABLE line2 (id INT, item INT, FOREIGN KEY (item) REFERENCES shop.item (id))")
    assert "REFERENCES `item` (`id`)" in rows(s.execute("SHOW CREATE TABLE line2"))[0][1]


def test_a_transaction_writes_two_databases_and_reads_its_own_writes(server):
    s = session(server, database="shop")
    s.execute("BEGIN")
    s.execute("INSERT INTO stock.level VALUES (5, 50, 'new')")
    assert rows(s.execute("SELECT COUNT(*) FROM stock.level JOIN item ON item.id < 9")) == [
        (6,)]  # a join through the other database sees the uncommitted row too
    s.execute("INSERT INTO item VALUES (5, 5)")  # a second branch (txn/DESIGN.md §10.2)
    assert rows(s.execute("SELECT id FROM item ORDER BY id")) == [(1,), (2,), (5,)]
    assert rows(s.execute("SELECT n FROM stock.level WHERE id = 5")) == [(50,)]
    # written in both: a join reads the current database's branch, the other as committed
    assert rows(s.execute("SELECT item.id FROM item JOIN stock.level USING (id)")) == [(1,)]
    assert rows(session(server).execute("SELECT COUNT(*) FROM stock.level")) == [(2,)]
    s.execute("ROLLBACK")
    assert rows(s.execute("SELECT COUNT(*) FROM stock.level")) == [(2,)]
    assert rows(s.execute("SELECT COUNT(*) FROM item")) == [(2,)]


def test_privileges_apply_to_every_database_named(server):
    s = session(server, "shopper", "shop")
    for statement in ("SELECT * FROM stock.level", "INSERT INTO stock.level VALUES (9, 9, 'x')",
                      "SELECT * FROM item JOIN stock.level USING (id)"):
        assert error_code(lambda: s.execute(statement)) == 1044
    assert rows(s.execute("SELECT COUNT(*) FROM shop.item")) == [(2,)]


def test_prepared_statements_in_another_database(server):
    s = session(server, database="shop")
    insert = s.prepare("INSERT INTO stock.level (id, n) SELECT id + ?, ? FROM item")
    assert s.execute_prepared(insert, [100, 7]).affected_rows == 2
    select = s.prepare("SELECT n FROM stock.level WHERE id > ? ORDER BY id")
    assert rows(s.execute_prepared(select, [100])) == [(7,), (7,)]
    s.execute("ALTER TABLE stock.level ADD COLUMN extra INT DEFAULT 0")
    assert rows(s.execute_prepared(select, [101])) == [(7,)]


def test_a_dropped_and_recreated_database_is_attached_afresh(server):
    s = session(server, database="shop")
    assert rows(s.execute("SELECT COUNT(*) FROM item JOIN stock.level USING (id)")) == [(1,)]
    s.execute("DROP DATABASE stock")
    assert error_code(lambda: s.execute("SELECT * FROM item JOIN stock.level USING (id)")) \
        == 1146
    s.execute("CREATE DATABASE stock")
    s.execute("CREATE TABLE stock.level (id INT PRIMARY KEY)")
    s.execute("INSERT INTO stock.level VALUES (2)")
    assert rows(s.execute("SELECT item.id FROM item JOIN stock.level USING (id)")) == [(2,)]


def test_attachments_per_connection_are_bounded(server):
    s = session(server, database="shop")
    for i in range(ATTACHED_MAX + 3):
        s.execute(f"CREATE DATABASE d{i}")
        s.execute(f"CREATE TABLE d{i}.t (id INT)")
        s.execute(f"INSERT INTO d{i}.t VALUES ({i})")
        assert rows(s.execute(f"SELECT COUNT(*) FROM item JOIN d{i}.t ON t.id = item.id")) \
            == [(1 if i in (1, 2) else 0,)]
    conn = server.databases.get("shop").checkout()
    try:
        assert len(server.binding(conn).attached) <= ATTACHED_MAX
    finally:
        server.databases.get("shop").checkin(conn)


def test_a_shared_connection_with_attachments_never_resolves_a_missing_name_elsewhere(server):
    root = session(server, database="shop")
    root.execute("SELECT COUNT(*) FROM item JOIN stock.level USING (id)")  # a pooled one
    root.execute("INSERT INTO item SELECT id + 100, n FROM stock.level")  # the write one
    shopper = session(server, "shopper", "shop")
    assert error_code(lambda: shopper.execute("SELECT * FROM level")) == 1146
    assert error_code(lambda: shopper.execute("INSERT INTO item SELECT id, n FROM level")) \
        == 1146
    assert error_code(lambda: root.execute("SELECT * FROM level")) == 1146
    assert rows(shopper.execute("SELECT COUNT(*) FROM item")) == [(4,)]


def test_a_transaction_writes_a_database_another_ones_connection_has_attached(tmp_path):
    """SQLAlchemy's TableViaSelectTest teardown, reduced: a failed CREATE … SELECT in ``db``
    left ``da`` ATTACHed to db's write connection outside any transaction; the next batch of
    ``db`` (BEGIN IMMEDIATE) then took da's write lock too, and the same transaction's branch
    of ``da`` got SQLITE_BUSY (1105). A batch now locks its own file only."""
    state = new_server(tmp_path, [User("root", "x", {"*": "admin"})])
    s = session(state)
    for statement in ("CREATE DATABASE da", "CREATE DATABASE db", "USE da",
                      "CREATE TABLE lone (id INT)", "INSERT INTO lone VALUES (1)",
                      "CREATE TABLE db.kept (id INT PRIMARY KEY)",
                      "INSERT INTO db.kept VALUES (1)"):
        s.execute(statement)
    assert error_code(lambda: s.execute(
        "CREATE TABLE db.copied AS SELECT missing.id FROM missing")) == 1146
    for statement in ("BEGIN", "DELETE FROM db.kept", "DELETE FROM lone", "COMMIT"):
        s.execute(statement)
    assert rows(session(state).execute("SELECT COUNT(*) FROM da.lone")) == [(0,)]
    assert rows(session(state).execute("SELECT COUNT(*) FROM db.kept")) == [(0,)]
    state.close()
