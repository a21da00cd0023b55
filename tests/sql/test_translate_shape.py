"""Statement shapes, the splitter, the LRU, and the translation cache's safety rules."""

from __future__ import annotations

import pytest

from marmotdb import errors
from marmotdb.sql.text.shape import (
    ShapeCache,
    normalise,
    number_value,
    split_statements,
    strip_comments,
)
from marmotdb.sql.translate import Kind, cache, translate, translate_prepared
from tests.sql.test_translate_support import MiniExecutor

# ---------------------------------------------------------------- normalise

def test_literals_become_named_placeholders_in_order() -> None:
    shape = normalise("SELECT a FROM t WHERE b = 'x' AND c > 1.5 LIMIT 10")
    assert shape.text == "SELECT a FROM t WHERE b = :p0 AND c > :p1 LIMIT :p2"
    assert shape.params == ("x", 1.5, 10)


def test_literal_types_match_sqlite_inline_typing() -> None:
    shape = normalise("SELECT 1, 2.0, 1e3, 99999999999999999999, 'a', _binary'b', N'c'")
    assert shape.params == (1, 2.0, 1000.0, 1e20, "a", b"b", "c")


def test_string_escapes_follow_mysql() -> None:
    shape = normalise(r"""SELECT 'it\'s', 'a''b', "q""x", 'tab\there', 'x\%y', 'p' 'q'""")
    assert shape.params == ("it's", "a'b", 'q"x', "tab\there", "x\\%y", "pq")


def test_identifiers_and_words_with_digits_are_not_literals() -> None:
    shape = normalise("SELECT t1.c2, `weird 3`, @v1, 0x1F, x'41' FROM tab9")
    assert shape.params == ()
    assert "t1.c2" in shape.text and "`weird 3`" in shape.text and "0x1F" in shape.text


def test_comments_are_dropped_and_versioned_comments_unwrapped() -> None:
    shape = normalise("SELECT /* trace=42 */ a -- tail\n FROM t /*!40001 SQL_NO_CACHE */ "
                      "/*!99999 NEWER */ /*M!100100 MARIADB */ # hash\n")
    assert "trace" not in shape.text and "tail" not in shape.text and "hash" not in shape.text
    assert "SQL_NO_CACHE" in shape.text
    assert "NEWER" not in shape.text and "MARIADB" not in shape.text


def test_equal_statements_with_different_literals_share_a_shape() -> None:
    assert normalise("SELECT c FROM t WHERE id=5").text == \
        normalise("SELECT c FROM t WHERE id=  /* x */ 5".replace("  /* x */ ", "")).text
    assert normalise("SELECT c FROM t WHERE id=5").text == normalise(
        "SELECT c FROM t WHERE id=6").text


def test_prepared_mode_converts_markers_and_keeps_literals() -> None:
    shape = normalise("SELECT '?', ? FROM t WHERE a = ? AND b = 3", prepared=True)
    assert shape.text == "SELECT '?', :p0 FROM t WHERE a = :p1 AND b = 3"
    assert shape.markers == 2 and shape.params == ()


def test_strip_comments_keeps_literals() -> None:
    assert strip_comments("SELECT 'a' /* c */ -- d\n;") == "SELECT 'a'"


# ---------------------------------------------------------------- split_statements

def test_split_on_top_level_semicolons() -> None:
    assert split_statements("SELECT 1; SELECT ';' ; SELECT `a;b`;; -- x;\n") == \
        ["SELECT 1", "SELECT ';'", "SELECT `a;b`"]


def test_split_keeps_trigger_bodies_whole() -> None:
    sql = ("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN IF NEW.a < 0 THEN "
           "SET NEW.a = 0; END IF; SET NEW.b = 1; END; SELECT 2")
    parts = split_statements(sql)
    assert len(parts) == 2 and parts[0].endswith("END") and parts[1] == "SELECT 2"


def test_split_comment_only_input_is_empty() -> None:
    assert split_statements("/* nothing */ ; -- more\n") == []


# ---------------------------------------------------------------- ShapeCache

def test_lru_is_bounded_and_keeps_recent_entries() -> None:
    lru: ShapeCache[str, int] = ShapeCache(entries_max=2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3)
    assert len(lru) == 2 and lru.get("b") is None and lru.get("a") == 1
    assert lru.hits == 2 and lru.misses == 1


def test_lru_rejects_zero_size() -> None:
    with pytest.raises(ValueError):
        ShapeCache(entries_max=0)


# ---------------------------------------------------------------- the translation cache

@pytest.fixture
def db() -> MiniExecutor:
    executor = MiniExecutor()
    executor.run("CREATE TABLE t (id INT PRIMARY KEY, c VARCHAR(10), n INT)")
    return executor


def test_cache_hit_returns_the_same_translation_with_new_params(db: MiniExecutor) -> None:
    first, p1 = translate("SELECT c FROM t WHERE id = 1", db.view)
    second, p2 = translate("SELECT c FROM t WHERE id = 2", db.view)
    assert first is second
    assert (p1, p2) == ({"p0": 1}, {"p0": 2})


def test_limit_offset_binds_by_name(db: MiniExecutor) -> None:
    db.run("INSERT INTO t VALUES (1,'a',0),(2,'b',0),(3,'c',0),(4,'d',0)")
    translation, params = translate("SELECT id FROM t ORDER BY id LIMIT 1, 2", db.view)
    statement = translation.statements[0]
    assert statement.index(":p1") < statement.index("OFFSET") < statement.index(":p0")
    assert params == {"p0": 1, "p1": 2}
    assert db.rows("SELECT id FROM t ORDER BY id LIMIT 1, 2") == [(2,), (3,)]


def test_order_by_ordinal_is_not_parametrised(db: MiniExecutor) -> None:
    translation, params = translate("SELECT id, c FROM t ORDER BY 2", db.view)
    assert params == {} and translation.statements[0].endswith("ORDER BY 2")


def test_literal_named_projection_is_translated_with_its_literal(db: MiniExecutor) -> None:
    one, params = translate("SELECT 1", db.view)
    two, _ = translate("SELECT 2", db.view)
    assert params == {} and one is not two
    assert db.run("SELECT 'hello'").columns == ["hello"]


def test_schema_change_invalidates_dml_translations(db: MiniExecutor) -> None:
    before, _ = translate("INSERT INTO t (id, n) VALUES (1, 2)", db.view)
    db.run("ALTER TABLE t MODIFY n BIGINT")
    after, _ = translate("INSERT INTO t (id, n) VALUES (1, 2)", db.view)
    assert before is not after and "'bigint'" in after.statements[0]


def test_view_without_schema_key_rechecks_dependencies(db: MiniExecutor) -> None:
    class Plain:
        database = "test"

        def table_sql(self, table: str) -> str | None:
            return db.view.table_sql(table)

        def columns(self, table: str) -> list[tuple[str, str]] | None:
            return db.view.columns(table)

        def mysql_ddl(self, table: str) -> str | None:
            return db.view.mysql_ddl(table)

    plain = Plain()
    cache().clear()
    first, _ = translate("INSERT INTO t (id, n) VALUES (1, 2)", plain)
    assert translate("INSERT INTO t (id, n) VALUES (3, 4)", plain)[0] is first
    db.run("ALTER TABLE t MODIFY n BIGINT")
    assert translate("INSERT INTO t (id, n) VALUES (3, 4)", plain)[0] is not first


def test_prepared_statement_translation(db: MiniExecutor) -> None:
    translation, count = translate_prepared("SELECT c FROM t WHERE id = ? AND n > ?", db.view)
    assert count == 2 and translation.kind is Kind.SELECT
    assert ":p0" in translation.statements[0] and ":p1" in translation.statements[0]
    db.run("INSERT INTO t VALUES (5, 'x', 9)")
    assert db.run("SELECT c FROM t WHERE id = ? AND n > ?", [5, 1]).rows == [("x",)]


def test_prepared_insert_coerces_bound_values(db: MiniExecutor) -> None:
    db.run("INSERT INTO t (id, c, n) VALUES (?, ?, ?)", [7, "y", "12"])
    assert db.rows("SELECT n FROM t WHERE id = 7") == [(12,)]
    with pytest.raises(errors.MarmotError) as caught:
        db.run("INSERT INTO t (id, c, n) VALUES (?, ?, ?)", [8, "toolongvalue!", 1])
    assert caught.value.code == errors.ER_DATA_TOO_LONG


def test_prepared_marker_in_order_by_is_refused(db: MiniExecutor) -> None:
    with pytest.raises(errors.MarmotError) as caught:
        translate_prepared("SELECT id FROM t ORDER BY ?", db.view)
    assert caught.value.code == errors.ER_PARSE_ERROR


def test_translation_flags(db: MiniExecutor) -> None:
    db.run("CREATE TABLE a (id INT AUTO_INCREMENT PRIMARY KEY, u INT, UNIQUE KEY k (u))")
    upsert, _ = translate("INSERT INTO a (u) VALUES (1) ON DUPLICATE KEY UPDATE u = u", db.view)
    assert upsert.kind is Kind.INSERT and upsert.upsert and upsert.auto_increment
    assert upsert.tables == ("a",)
    ignore, _ = translate("INSERT IGNORE INTO a (u) VALUES (1)", db.view)
    assert ignore.insert_ignore
    replace, _ = translate("REPLACE INTO a (u) VALUES (1)", db.view)
    assert replace.kind is Kind.REPLACE
    found, _ = translate("SELECT SQL_CALC_FOUND_ROWS id FROM a LIMIT 1", db.view)
    assert found.calc_found_rows and "COUNT(*)" in (found.found_rows_sql or "")
    ddl, _ = translate("ALTER TABLE a MODIFY u BIGINT", db.view)
    assert ddl.kind is Kind.DDL and ddl.foreign_keys_off and ddl.schema_changed


@pytest.mark.parametrize(("token", "expected"), [
    ("42", 42), ("1.5", 1.5), ("1e3", 1000.0), ("9223372036854775808", "9223372036854775808"),
    ("18446744073709551616", 1.8446744073709552e19),
    ("123456789012345.6", "123456789012345.6"), ("0.000000000000000001", 1e-18),
    ("12345678901234567890.5", "12345678901234567890.5"),
])
def test_number_literals_keep_what_a_double_cannot(token: str, expected: object) -> None:
    value = number_value(token)
    assert value == expected and type(value) is type(expected)


def test_no_backslash_escapes_changes_the_lifted_values(db: MiniExecutor) -> None:
    db.run("INSERT INTO t VALUES (1, 'x', 0)")
    _, params = translate(r"SELECT c FROM t WHERE c = 'a\'", db.view, backslash_escapes=False)
    assert params == {"p0": "a\\"}
    _, params = translate(r"SELECT c FROM t WHERE c = 'a\\'", db.view)
    assert params == {"p0": "a\\"}


# ---------------------------------------------------------------- big statements

def test_a_big_statement_names_its_columns_from_the_shape_as_mysql_does(db: MiniExecutor) -> None:
    big = "z" * 10_000  # past BIG_LITERAL_CHARS: named without walking the text again
    ids = ", ".join(str(i) for i in range(100))  # a long IN list: one placeholder
    result = db.run(f"SELECT LENGTH('{big}'), '{big}', 5 IN ({ids}), CONCAT('a', 'b')")
    assert result.columns == [f"LENGTH('{big}"[:256], big[:256], f"5 IN ({ids})"[:256],
                              "CONCAT('a', 'b')"]
    assert result.rows == [(10_000, big, 1, "ab")]


def test_a_locking_read_is_told_from_its_shape(db: MiniExecutor) -> None:
    big = "z" * 10_000
    locking, _ = translate(f"SELECT id FROM t WHERE c = '{big}' FOR UPDATE NOWAIT", db.view)
    assert locking.locking_read and locking.lock_wait == "NOWAIT"
    skip, _ = translate("SELECT id FROM t LOCK IN SHARE MODE", db.view)
    assert skip.locking_read and skip.lock_wait is None
    plain, _ = translate(f"SELECT id FROM t WHERE c = 'FOR UPDATE {big}'", db.view)
    assert not plain.locking_read  # the words inside a literal do not count
