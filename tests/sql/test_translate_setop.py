"""Set operations in SQLite's compound-SELECT grammar (sql/rewrites/setop.py): prepared statements,
the shape cache, and what the SQLite text looks like. Results against MySQL are in
tests/fixtures/translate/setops.sql."""

from __future__ import annotations

import pytest

from marmotdb import errors
from marmotdb.sql.translate import translate
from tests.sql.test_translate_support import MiniExecutor


@pytest.fixture
def db() -> MiniExecutor:
    db = MiniExecutor()
    db.script("CREATE TABLE t (a INT); INSERT INTO t VALUES (1), (2), (2);"
              "CREATE TABLE u (a INT); INSERT INTO u VALUES (2), (3)")
    return db


def test_prepared_parenthesised_operands(db: MiniExecutor) -> None:
    sql = "(SELECT a FROM t WHERE a > ?) UNION ALL (SELECT ?) ORDER BY 1 DESC LIMIT 2"
    assert db.run(sql, [0, 7]).rows == [(7,), (2,)]
    assert db.run(sql, [5, 1]).rows == [(1,)]


def test_prepared_intersect_all(db: MiniExecutor) -> None:
    sql = "SELECT a FROM t INTERSECT ALL SELECT ? UNION ALL SELECT ?"
    assert db.run(sql, [2, 9]).rows == [(2,), (9,)]


def test_shape_cache_keeps_ordinals_of_a_compound_order_by(db: MiniExecutor) -> None:
    assert db.run("SELECT a FROM t UNION SELECT 5 ORDER BY 1 DESC").rows == [(5,), (2,), (1,)]
    assert db.run("SELECT a FROM t UNION SELECT 6 ORDER BY 1 ASC").rows == [(1,), (2,), (6,)]


def test_operands_are_bare_selects_in_sqlite(db: MiniExecutor) -> None:
    translation, _ = translate("((SELECT a FROM t)) UNION (SELECT a FROM u)", db.view)
    assert translation.statements == ('SELECT "a" FROM "t" UNION SELECT "a" FROM "u"',)


def test_an_operand_with_a_limit_is_read_from_a_subquery(db: MiniExecutor) -> None:
    translation, _ = translate("SELECT a FROM t UNION (SELECT a FROM u LIMIT 1)", db.view)
    assert translation.statements[0].startswith('SELECT "a" FROM "t" UNION SELECT * FROM (')


def test_intersect_all_without_known_column_names_is_refused(db: MiniExecutor) -> None:
    with pytest.raises(errors.NotSupportedError, match="INTERSECT ALL"):
        db.run("SELECT * FROM t NATURAL JOIN u INTERSECT ALL SELECT 1")


def test_sql_calc_found_rows_over_a_union(db: MiniExecutor) -> None:
    translation, _ = translate("(SELECT SQL_CALC_FOUND_ROWS a FROM t) UNION ALL (SELECT a FROM u) "
                               "LIMIT 1", db.view)
    assert translation.found_rows_sql is not None
    assert db.conn.execute(translation.found_rows_sql).fetchall() == [(5,)]
