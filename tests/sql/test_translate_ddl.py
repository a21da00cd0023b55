"""DDL translation: the stored MySQL definition (SHOW CREATE TABLE), catalog metadata, the
SQLite declarations, and ALTER plans."""

from __future__ import annotations

import pytest

from marmotdb import errors
from marmotdb.sql import schema
from marmotdb.sql.types import coltypes
from marmotdb.sql.definition.create_table import parse_create_table
from marmotdb.sql.schema import render_create_table
from marmotdb.sql.translate import translate
from tests.sql.test_translate_support import MiniExecutor

USERS = ("CREATE TABLE users (id INT UNSIGNED NOT NULL AUTO_INCREMENT, name VARCHAR(20) "
         "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT 'x' COMMENT 'hi', "
         "price DECIMAL(10,2) DEFAULT 1.5, e ENUM('a','b') DEFAULT 'a', "
         "ts TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), "
         "pid INT, PRIMARY KEY (id), UNIQUE KEY uk (name), KEY k_p (price), "
         "CONSTRAINT fk FOREIGN KEY (pid) REFERENCES users(id) ON DELETE CASCADE, "
         "CHECK (price > 0)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='tbl'")

SHOW_USERS = """CREATE TABLE `users` (
  `id` int unsigned NOT NULL AUTO_INCREMENT,
  `name` varchar(20) COLLATE utf8mb4_bin NOT NULL DEFAULT 'x' COMMENT 'hi',
  `price` decimal(10,2) DEFAULT '1.50',
  `e` enum('a','b') DEFAULT 'a',
  `ts` timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  `pid` int DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk` (`name`),
  KEY `k_p` (`price`),
  KEY `fk` (`pid`),
  CONSTRAINT `fk` FOREIGN KEY (`pid`) REFERENCES `users` (`id`) ON DELETE CASCADE,
  CONSTRAINT `users_chk_1` CHECK ((`price` > 0))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT='tbl'"""


@pytest.fixture
def db() -> MiniExecutor:
    return MiniExecutor()


def show(db: MiniExecutor, table: str) -> str | None:
    return schema.mysql_ddl(db.conn, table)


def test_show_create_table_is_mysql_8_layout(db: MiniExecutor) -> None:
    db.run(USERS)
    assert show(db, "users") == SHOW_USERS


def test_stored_ddl_parses_back_to_the_same_text(db: MiniExecutor) -> None:
    db.run(USERS)
    assert render_create_table(parse_create_table(SHOW_USERS)) == SHOW_USERS


def test_show_create_reflects_auto_increment_counter(db: MiniExecutor) -> None:
    db.run("CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
    db.run("INSERT INTO t (v) VALUES (1), (2)")
    assert ") ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET" in (show(db, "t") or "")


def test_show_create_reflects_alters(db: MiniExecutor) -> None:
    db.run("CREATE TABLE t (a INT, b VARCHAR(5))")
    db.run("ALTER TABLE t ADD COLUMN c DATETIME(6) NULL AFTER a, MODIFY b VARCHAR(50) NOT NULL, "
           "ADD UNIQUE KEY ub (b), RENAME COLUMN a TO z")
    assert show(db, "t") == (
        "CREATE TABLE `t` (\n  `z` int DEFAULT NULL,\n  `c` datetime(6) DEFAULT NULL,\n"
        "  `b` varchar(50) NOT NULL,\n  UNIQUE KEY `ub` (`b`)\n) ENGINE=InnoDB DEFAULT "
        "CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci")


def test_drop_and_rename_update_bookkeeping(db: MiniExecutor) -> None:
    db.run("CREATE TABLE a (x INT)")
    db.run("RENAME TABLE a TO b")
    assert show(db, "a") is None and "CREATE TABLE `b`" in (show(db, "b") or "")
    db.run("DROP TABLE b")
    assert show(db, "b") is None
    assert schema.objects(db.conn) == []


def test_column_meta_for_the_catalog(db: MiniExecutor) -> None:
    db.run(USERS)
    meta = {c["name"]: c for c in schema.column_meta(db.conn, "users") or []}
    assert meta["id"]["column_type"] == "int unsigned"
    assert meta["id"]["key"] == "PRI" and meta["id"]["extra"] == "auto_increment"
    assert meta["name"]["key"] == "UNI" and meta["name"]["collation"] == "utf8mb4_bin"
    assert meta["name"]["char_max_length"] == 20 and meta["name"]["comment"] == "hi"
    assert meta["price"]["numeric_precision"] == 10 and meta["price"]["numeric_scale"] == 2
    assert meta["price"]["default"] == "1.50" and meta["price"]["key"] == "MUL"
    assert meta["e"]["enum_values"] == ["a", "b"] and meta["e"]["data_type"] == "enum"
    assert meta["ts"]["extra"] == "DEFAULT_GENERATED on update CURRENT_TIMESTAMP(3)"
    assert meta["ts"]["default"] == "CURRENT_TIMESTAMP(3)" and not meta["ts"]["nullable"]
    assert [c["ordinal"] for c in meta.values()] == [1, 2, 3, 4, 5, 6]


def test_sqlite_declarations_keep_mysql_types_and_affinity(db: MiniExecutor) -> None:
    db.run("CREATE TABLE t (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, d DECIMAL(8,3), "
           "v VARCHAR(9) COLLATE utf8mb4_bin, c CHAR(2), b VARBINARY(4), e ENUM('x'), "
           "s SET('y'), j JSON, t TIME(2), f FLOAT)")
    columns = dict(db.view.columns("t") or [])
    assert columns == {"id": "INTEGER", "d": "DECIMAL TEXT(8,3)", "v": "VARCHAR(9)",
                       "c": "CHAR(2)", "b": "VARBINARY BLOB(4)", "e": "ENUM TEXT",
                       "s": "SET_TEXT", "j": "JSON TEXT", "t": "TIME(2)", "f": "FLOAT"}
    sql = db.view.table_sql("t") or ""
    assert '"d" DECIMAL TEXT(8,3) COLLATE mysql_decimal' in sql
    assert '"v" VARCHAR(9),' in sql and '"c" CHAR(2) COLLATE NOCASE' in sql
    for name, decltype in columns.items():
        column = coltypes.column_for_decltype(name, decltype)
        assert column.type is not None


def test_secondary_indexes_are_named_per_table(db: MiniExecutor) -> None:
    db.run("CREATE TABLE a (x INT, KEY k (x))")
    db.run("CREATE TABLE b (x INT, KEY k (x))")
    names = [r[0] for r in db.conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite%' "
        "ORDER BY name")]
    assert names == ["a.k", "b.k"]


def test_index_names_survive_rename_for_later_drop(db: MiniExecutor) -> None:
    db.run("CREATE TABLE a (x INT, UNIQUE KEY u (x))")
    db.run("RENAME TABLE a TO b")
    db.run("ALTER TABLE b DROP INDEX u")
    db.run("INSERT INTO b VALUES (1), (1)")
    assert db.value("SELECT COUNT(*) FROM b") == 2


def test_cheap_alters_do_not_rebuild(db: MiniExecutor) -> None:
    db.run("CREATE TABLE t (a INT, b INT)")
    for statement in ("ALTER TABLE t ADD COLUMN c INT", "ALTER TABLE t ADD INDEX ka (a)",
                      "ALTER TABLE t RENAME COLUMN b TO bb", "ALTER TABLE t DROP COLUMN c",
                      "ALTER TABLE t ALTER COLUMN a SET DEFAULT 3", "ALTER TABLE t COMMENT 'x'"):
        translation, _ = translate(statement, db.view)
        assert not translation.foreign_keys_off, statement
        assert not any("RENAME TO" in s for s in translation.statements), statement
        db.run(statement)


def test_type_change_rebuilds_with_foreign_keys_off(db: MiniExecutor) -> None:
    db.run("CREATE TABLE t (a INT)")
    translation, _ = translate("ALTER TABLE t MODIFY a BIGINT", db.view)
    assert translation.foreign_keys_off
    assert translation.statements[0] == "PRAGMA legacy_alter_table = ON"
    assert translation.statements[-2] == "PRAGMA legacy_alter_table = OFF"


def test_a_rebuild_copies_widened_columns_raw_and_coerces_the_others(db: MiniExecutor) -> None:
    """A value the new type holds unchanged is copied without MYSQL_STORE (a Python call per
    row on the copy: a million-row rebuild's cost); a narrowing still checks every value."""
    db.run("CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(20), n INT, u INT UNSIGNED, "
           "x TEXT, v VARBINARY(4))")
    db.run("INSERT INTO t VALUES (1, 'abc', -5, 7, 'long text', 0x0102)")

    def coerced(statement: str) -> set[str]:
        copy = next(s for s in translate(statement, db.view)[0].statements
                    if s.startswith("INSERT INTO"))
        return {c for c in ("s", "n", "u", "x", "v") if f'MYSQL_STORE("{c}"' in copy}
    assert coerced("ALTER TABLE t MODIFY s VARCHAR(40), MODIFY n BIGINT, MODIFY u BIGINT "
                   "UNSIGNED, MODIFY x MEDIUMTEXT, MODIFY v VARBINARY(8)") == set()
    assert coerced("ALTER TABLE t MODIFY s VARCHAR(2), MODIFY n INT UNSIGNED, MODIFY u INT, "
                   "MODIFY x TINYTEXT, MODIFY v VARBINARY(1)") == {"s", "n", "u", "x", "v"}
    assert coerced("ALTER TABLE t MODIFY s VARCHAR(40) NOT NULL") == {"s"}  # NULLs refused
    assert coerced("ALTER TABLE t MODIFY s VARCHAR(40) CHARACTER SET latin1") == {"s"}
    db.run("ALTER TABLE t MODIFY s VARCHAR(40), MODIFY n BIGINT, MODIFY x MEDIUMTEXT")
    assert db.conn.execute("SELECT s, n, x FROM t").fetchall() == [("abc", -5, "long text")]
    with pytest.raises(errors.ConstraintError, match="Data truncated for column 's'"):
        db.run("ALTER TABLE t MODIFY s VARCHAR(2)")  # 1265, as MySQL in strict mode


def test_if_not_exists_on_existing_table_keeps_its_definition(db: MiniExecutor) -> None:
    db.run("CREATE TABLE t (a INT)")
    db.run("CREATE TABLE IF NOT EXISTS t (b VARCHAR(3))")
    assert "`a` int" in (show(db, "t") or "")


def test_views_and_triggers_are_recorded(db: MiniExecutor) -> None:
    db.run("CREATE TABLE t (a INT)")
    db.run("CREATE VIEW v AS SELECT a FROM t")
    db.run("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = NEW.a + 1")
    kinds = {(k, n) for k, n, _ in schema.objects(db.conn)}
    assert kinds == {("table", "t"), ("view", "v"), ("trigger", "tr")}
    assert (schema.mysql_ddl(db.conn, "v", "view") or "").endswith("VIEW `v` AS SELECT a FROM t")
    trigger = schema.table_meta(db.conn, "tr", "trigger") or {}
    assert (trigger["timing"], trigger["event"], trigger["table"]) == ("BEFORE", "INSERT", "t")
    db.run("DROP TABLE t")
    assert {k for k, _, _ in schema.objects(db.conn)} == {"view"}


def test_unsupported_ddl_names_the_construct(db: MiniExecutor) -> None:
    for statement, construct in (("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1",
                                  "CREATE EVENT"),
                                 ("CREATE TEMPORARY TABLE t (a INT)", "CREATE TEMPORARY TABLE"),
                                 ("CREATE TABLE t (a INT) PARTITION BY HASH(a) "
                                  "(PARTITION p DATA DIRECTORY = '/d')", "DATA DIRECTORY")):
        with pytest.raises(errors.NotSupportedError) as caught:
            db.run(statement)
        assert construct in caught.value.message


def test_drop_procedure_deletes_its_bookkeeping_row(db: MiniExecutor) -> None:
    # sql/routines/: the session decides 1305 or a Note before translating
    translation, _ = translate("DROP PROCEDURE IF EXISTS p", db.view)
    assert translation.statements == (
        'DELETE FROM "__marmot_schema" WHERE kind = \'procedure\' AND name = \'p\'',)


def test_rebuild_refuses_to_drop_triggers_it_cannot_recreate(db: MiniExecutor) -> None:
    class WithoutTriggerListing:
        """A schema view that cannot list triggers (sqlite_triggers is optional)."""

        def __init__(self, view: object):
            self.view = view
            self.database = "test"

        def table_sql(self, table: str) -> str | None:
            return self.view.table_sql(table)  # type: ignore[attr-defined]

        def columns(self, table: str) -> list[tuple[str, str]] | None:
            return self.view.columns(table)  # type: ignore[attr-defined]

        def mysql_ddl(self, table: str) -> str | None:
            return self.view.mysql_ddl(table)  # type: ignore[attr-defined]

    db.view = WithoutTriggerListing(db.view)  # type: ignore[assignment]
    db.run("CREATE TABLE t (a INT)")
    db.run("ALTER TABLE t MODIFY a BIGINT")  # no triggers yet: the rebuild runs
    db.run("CREATE TABLE log (a INT)")
    db.run("CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW INSERT INTO log VALUES (NEW.a)")
    with pytest.raises(errors.NotSupportedError):
        db.run("ALTER TABLE t MODIFY a INT")
    db.run("INSERT INTO t VALUES (4)")
    assert db.value("SELECT a FROM log") == 4


def test_children_before_parents_with_foreign_key_checks_off(db: MiniExecutor) -> None:
    """mysqldump's order: tables alphabetically, FOREIGN_KEY_CHECKS=0; the keys hold after."""
    db.view.foreign_key_checks = False  # type: ignore[attr-defined]
    db.conn.execute("PRAGMA foreign_keys = OFF")
    db.run("CREATE TABLE child (id INT PRIMARY KEY, a INT, b INT, "
           "CONSTRAINT fa FOREIGN KEY (a) REFERENCES pa (id), "
           "CONSTRAINT fb FOREIGN KEY (b) REFERENCES pb (id))")
    db.run("INSERT INTO child VALUES (1, 1, 1)")
    db.run("CREATE TABLE pa (id INT PRIMARY KEY)")
    db.run("CREATE TABLE pb (id INT PRIMARY KEY)")
    db.run("INSERT INTO pa VALUES (1)")
    db.run("INSERT INTO pb VALUES (1)")
    db.view.foreign_key_checks = True  # type: ignore[attr-defined]
    db.conn.execute("PRAGMA foreign_keys = ON")
    db.run("INSERT INTO child VALUES (2, 1, 1)")
    with pytest.raises(errors.MarmotError) as caught:
        db.run("INSERT INTO child VALUES (3, 1, 7)")
    assert caught.value.code == errors.ER_NO_REFERENCED_ROW_2
    with pytest.raises(errors.MarmotError) as caught:
        db.run("CREATE TABLE orphan (x INT, FOREIGN KEY (x) REFERENCES nowhere (id))")
    assert caught.value.code == errors.ER_FK_CANNOT_OPEN_PARENT


def test_child_rebuilt_after_parent_rename_references_the_new_name(db: MiniExecutor) -> None:
    db.run("CREATE TABLE p (id INT PRIMARY KEY)")
    db.run("CREATE TABLE ch (id INT, pid INT, CONSTRAINT f FOREIGN KEY (pid) REFERENCES p (id))")
    db.run("RENAME TABLE p TO p2")
    db.run("ALTER TABLE ch MODIFY id BIGINT")  # a rebuild re-creates the FOREIGN KEY clause
    assert 'REFERENCES "p2"' in db.conn.execute(
        "SELECT sql FROM sqlite_schema WHERE name = 'ch'").fetchall()[0][0]
    assert "REFERENCES `p2` (`id`)" in (show(db, "ch") or "")
    db.run("INSERT INTO p2 VALUES (1)")
    db.run("INSERT INTO ch VALUES (1, 1)")
    with pytest.raises(errors.MarmotError) as caught:
        db.run("INSERT INTO ch VALUES (2, 2)")
    assert caught.value.code == errors.ER_NO_REFERENCED_ROW_2
    db.run("ALTER TABLE ch DROP FOREIGN KEY f")
    db.run("INSERT INTO ch VALUES (2, 2)")


def test_ddl_tokens_come_from_the_lexer() -> None:
    from marmotdb.sql.definition.cursor import tokenize
    tokens = tokenize("CREATE /*!50017 DEFINER=`u`@`h`*/ /*!99999 NEWER */ TABLE `a``b` "
                      "(x INT DEFAULT _utf8mb4'q' COMMENT 'c--1') -- tail")
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "CREATE"), ("word", "DEFINER"), ("op", "="), ("ident", "u"), ("op", "@"),
        ("ident", "h"), ("word", "TABLE"), ("ident", "a`b"), ("op", "("), ("word", "x"),
        ("word", "INT"), ("word", "DEFAULT"), ("str", "_utf8mb4'q'"), ("word", "COMMENT"),
        ("str", "'c--1'"), ("op", ")"), ("end", "")]
