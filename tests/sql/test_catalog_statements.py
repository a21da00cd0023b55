"""SET statements, SELECTs of variables and constants, and what the catalog leaves alone."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marmotdb.errors import MarmotError
from marmotdb.mysql.types import FieldType
from marmotdb.sql.catalog import dispatch as catalog

try:
    from tests.sql.test_catalog_context import CatalogTestContext, shop_context
except ImportError:  # tests/sql is not a package: pytest puts this directory on sys.path
    from test_catalog_context import CatalogTestContext, shop_context  # type: ignore[no-redef]


@pytest.fixture
def ctx() -> CatalogTestContext:
    return shop_context()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM users", "select id from orders where id = 1", "INSERT INTO t VALUES (1)",
    "UPDATE t SET a = 1", "DELETE FROM t", "CREATE TABLE t (a int)", "BEGIN", "COMMIT",
    "SELECT NOW()", "SELECT 1 + 1", "SELECT @@version, id FROM users", ("WITH x AS (SELECT 1) "
    "SELECT * FROM x"), "EXPLAIN SELECT * FROM users", "DESCRIBE SELECT 1", "", "  ",
    "SELECT LAST_INSERT_ID()", "(SELECT 1)",
])
def test_not_the_catalogs(ctx: CatalogTestContext, sql: str) -> None:
    assert catalog.answer(sql, ctx) is catalog.UNHANDLED


def test_select_of_variables_names_columns_as_written(ctx: CatalogTestContext) -> None:
    result = ctx.q("SELECT @@version_comment LIMIT 1")
    assert [c.name for c in result.columns] == ["@@version_comment"]
    assert result.rows == [("marmotdb - leaderless distributed SQLite",)]
    result = ctx.q("select @@SESSION.autocommit AS ac, @@global.max_connections, 'x' y")
    assert [c.name for c in result.columns] == ["ac", "@@global.max_connections", "y"]
    assert result.rows == [(1, 151, "x")]
    assert result.columns[0].type == FieldType.LONGLONG
    assert result.columns[2].type == FieldType.VAR_STRING


def test_select_constants(ctx: CatalogTestContext) -> None:
    result = ctx.q("SELECT 1, 'abc', 2.50, -3, NULL, TRUE, X'4142', b'101'")
    assert [c.name for c in result.columns] == ["1", "abc", "2.50", "-3", "NULL", "TRUE",
                                                "X'4142'", "b'101'"]
    assert result.rows == [(1, "abc", Decimal("2.50"), -3, None, 1, b"AB", 5)]
    assert ctx.rows("SELECT 1 FROM DUAL") == [(1,)]
    assert ctx.rows("SELECT 1 LIMIT 0") == []
    assert ctx.rows("SELECT 1 LIMIT 1 OFFSET 1") == []


def test_connection_functions(ctx: CatalogTestContext) -> None:
    row = ctx.rows("SELECT VERSION(), DATABASE(), SCHEMA(), USER(), CURRENT_USER(), "
                   "CURRENT_USER, CONNECTION_ID()")[0]
    assert row == ("8.0.36-marmotdb-test", "shop", "shop", "app@10.0.0.7", "app@%", "app@%", 42)
    ctx.current_database = None
    assert ctx.rows("SELECT DATABASE()") == [(None,)]


def test_convert_tz(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SELECT CONVERT_TZ('2001-01-01 01:00:00', 'UTC', 'UTC') IS NOT NULL") \
        == [(1,)]
    assert ctx.rows("SELECT CONVERT_TZ('2024-01-01 12:00:00', '+00:00', '+05:30')") == \
        [("2024-01-01 17:30:00",)]
    assert ctx.rows("SELECT CONVERT_TZ('2024-07-01 12:00:00', 'UTC', 'Europe/Paris')") == \
        [("2024-07-01 14:00:00",)]
    assert ctx.rows("SELECT CONVERT_TZ('2024-07-01 12:00:00', 'UTC', 'Nowhere/X')") == [(None,)]


def test_live_variables(ctx: CatalogTestContext) -> None:
    ctx.warnings = [("Warning", 1265, "Data truncated"), ("Error", 1146, "no table")]
    ctx.last_insert_id = 9
    assert ctx.rows("SELECT @@warning_count, @@session.error_count, @@last_insert_id, "
                    "@@pseudo_thread_id") == [(2, 1, 9, 42)]


def test_unknown_variable_in_select(ctx: CatalogTestContext) -> None:
    with pytest.raises(MarmotError) as caught:
        ctx.q("SELECT @@no_such_variable")
    assert caught.value.code == 1193


def test_set_forms(ctx: CatalogTestContext) -> None:
    for sql in ("SET autocommit=0", "SET @@session.wait_timeout = 100",
                "SET SESSION sql_mode = 'TRADITIONAL', net_write_timeout = 99",
                "SET @@GLOBAL.max_connections = 300", "SET LOCAL interactive_timeout=7",
                "set time_zone = '+01:00'", "SET sql_quote_show_create = OFF",
                "SET transaction_isolation = 'SERIALIZABLE'"):
        assert ctx.q(sql) is None, sql
    v = ctx.variables
    assert not v.autocommit and v.get("wait_timeout") == 100
    assert v.get("net_write_timeout") == 99 and "TRADITIONAL" in v.sql_modes
    assert v.get("max_connections") == 300 and v.get("interactive_timeout") == 7
    assert v.get("time_zone") == "+01:00" and v.get("sql_quote_show_create") == 0
    assert v.transaction_isolation == "SERIALIZABLE"


def test_set_scope_is_sticky_within_one_statement(ctx: CatalogTestContext) -> None:
    ctx.q("SET GLOBAL wait_timeout = 11, interactive_timeout = 12")
    assert ctx.variables.get("interactive_timeout", "global") == 12
    assert ctx.variables.get("interactive_timeout") == 28800


def test_set_user_variables(ctx: CatalogTestContext) -> None:
    ctx.q("SET @a = 1, @B := 'two', @c = @a, @d = -2.5, @e = NULL, @`odd name` = 0x41")
    assert ctx.rows("SELECT @a, @b, @c, @d, @e, @`odd name`, @never") == \
        [(1, "two", 1, Decimal("-2.5"), None, b"A", None)]


def test_set_values_computed_by_the_executor(ctx: CatalogTestContext) -> None:
    ctx.q("SET @n = 2 + 3 * 4")
    assert ctx.variables.user("n") == 14
    ctx.q("SET sql_mode = (SELECT REPLACE(@@sql_mode, 'ONLY_FULL_GROUP_BY,', ''))")
    assert "ONLY_FULL_GROUP_BY" not in ctx.variables.sql_modes
    assert "STRICT_TRANS_TABLES" in ctx.variables.sql_modes
    ctx.q("SET @s = CONCAT(@@sql_mode, ',ANSI_QUOTES'), @t = 1")
    assert str(ctx.variables.user("s")).endswith(",ANSI_QUOTES")
    assert ctx.variables.user("t") == 1


def test_set_bare_words_are_values(ctx: CatalogTestContext) -> None:
    ctx.q("SET sql_mode = TRADITIONAL, character_set_client = utf8, autocommit = ON")
    assert "STRICT_ALL_TABLES" in ctx.variables.sql_modes
    assert ctx.variables.get("character_set_client") == "utf8mb3"
    ctx.q("SET wait_timeout = DEFAULT")
    assert ctx.variables.get("wait_timeout") == 28800


def test_set_names_and_character_set(ctx: CatalogTestContext) -> None:
    ctx.q("SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'")
    assert ctx.variables.get("collation_connection") == "utf8mb4_general_ci"
    ctx.q("SET NAMES latin1, @x = 1")
    assert ctx.variables.get("character_set_results") == "latin1"
    assert ctx.variables.user("x") == 1
    ctx.q("SET CHARACTER SET utf8mb4")
    assert ctx.variables.get("character_set_client") == "utf8mb4"
    ctx.q("SET CHARSET DEFAULT")
    ctx.q("SET NAMES DEFAULT")


def test_set_transaction(ctx: CatalogTestContext) -> None:
    ctx.q("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED, READ ONLY")
    assert ctx.variables.transaction_isolation == "REPEATABLE-READ"  # only the next one
    assert ctx.variables.take_next_transaction() == ("READ-UNCOMMITTED", True)
    ctx.q("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    assert ctx.variables.transaction_isolation == "READ-COMMITTED"
    ctx.q("SET GLOBAL TRANSACTION READ WRITE, ISOLATION LEVEL SERIALIZABLE")
    assert ctx.variables.get("transaction_isolation", "global") == "SERIALIZABLE"
    ctx.in_transaction = True
    with pytest.raises(MarmotError) as caught:
        ctx.q("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
    assert caught.value.code == 1568


def test_versioned_comments_of_newer_servers_and_mariadb_are_skipped(
        ctx: CatalogTestContext) -> None:
    ctx.q("/*M!999999\\- enable the sandbox mode */ \n\n/*!40101 SET @a = 1 */")
    ctx.q("/*!80037 SET @b = 1 */ SET @c = 2")
    ctx.q("/*!80036 SET @d = 3 */")
    assert ctx.variables.user_variables == {"a": 1, "c": 2, "d": 3}
    assert ctx.rows("/*!99999 SET autocommit = 0 */ SELECT 1") == [(1,)]
    assert ctx.variables.autocommit


def test_versioned_comments_execute(ctx: CatalogTestContext) -> None:
    ctx.q("/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */")
    assert ctx.variables.sql_mode == "NO_AUTO_VALUE_ON_ZERO"
    ctx.q("/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;")
    assert "STRICT_TRANS_TABLES" in ctx.variables.sql_modes


@pytest.mark.parametrize("sql, code", [
    ("SET autocommit = 5", 1231), ("SET version = 'x'", 1238), ("SET max_connections = 1", 1229),
    ("SET = 1", 1064), ("SET x", 1064), ("SET PASSWORD = 'secret'", 1235),
    ("SET TRANSACTION ISOLATION LEVEL SOMETIMES", 1064), ("SET time_zone = 'Atlantis'", 1298),
])
def test_set_errors(ctx: CatalogTestContext, sql: str, code: int) -> None:
    with pytest.raises(MarmotError) as caught:
        ctx.q(sql)
    assert caught.value.code == code


def test_inline_session_variables(ctx: CatalogTestContext) -> None:
    ctx.q("SET @id = 7, @name = 'O''Brien'")
    assert catalog.inline_session_variables(
        "SELECT * FROM t WHERE id = @id AND name = @name AND m = @@sql_mode", ctx) == (
        "SELECT * FROM t WHERE id = 7 AND name = 'O''Brien' AND m = "
        f"'{ctx.variables.sql_mode}'")
    with pytest.raises(MarmotError):
        catalog.inline_session_variables("SELECT @r := @r + 1 FROM t", ctx)


def test_a_definer_host_is_not_a_user_variable(ctx: CatalogTestContext) -> None:
    """What every dump writes (``DEFINER=`root`@`%```): the host is no user variable, which
    would read as NULL; ``@`%``` elsewhere still is one."""
    ctx.q("SET @`%` = 5")
    for text in ("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW v "
                 "AS SELECT 1", "CREATE DEFINER='app'@'localhost' TRIGGER t BEFORE INSERT ON "
                 "t FOR EACH ROW SET NEW.a = @`%`", "CREATE DEFINER=root@localhost VIEW v AS "
                 "SELECT 1"):
        inlined = catalog.inline_session_variables(text, ctx)
        assert inlined == text.replace("= @`%`", "= 5"), inlined
    assert catalog.inline_session_variables("SELECT `a`@`%`", ctx) == "SELECT `a`5"


def test_field_list(ctx: CatalogTestContext) -> None:
    columns = catalog.field_list("orders", ctx)
    assert [c.name for c in columns] == ["id", "user_id", "total", "status", "note"]
    assert columns[0].type == FieldType.LONGLONG and columns[0].table == "orders"
    assert columns[2].type == FieldType.NEWDECIMAL and columns[2].decimals == 2
    assert [c.name for c in catalog.field_list("orders", ctx, "%t%")] == ["total", "status",
                                                                           "note"]
    with pytest.raises(MarmotError) as caught:
        catalog.field_list("nope", ctx)
    assert caught.value.code == 1146


@pytest.mark.parametrize("sql, expected", [
    ("SET autocommit = 1", True), ("SHOW TABLES", True), ("DESCRIBE users", True),
    ("EXPLAIN SELECT 1", False), ("SELECT @@version", True), ("SELECT NOW()", False),
    ("SELECT * FROM information_schema.tables", True), ("SELECT * FROM users", False),
    ("SELECT a FROM t WHERE b = @x", False), ("INSERT INTO t VALUES (1)", False),
])
def test_handles(ctx: CatalogTestContext, sql: str, expected: bool) -> None:
    assert catalog.handles(sql, ctx) is expected


def test_set_global_needs_admin(ctx: CatalogTestContext) -> None:
    ctx.is_admin = False
    for sql in ("SET GLOBAL wait_timeout = 5", "SET @@global.sql_mode = ''",
                "SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE"):
        with pytest.raises(MarmotError) as caught:
            ctx.q(sql)
        assert caught.value.code == 1227
    assert ctx.variables.get("wait_timeout", "global") == 28800
    ctx.q("SET SESSION wait_timeout = 5")
    ctx.is_admin = True
    ctx.q("SET GLOBAL wait_timeout = 5")
    assert ctx.variables.get("wait_timeout", "global") == 5


def test_a_select_of_number_literals_is_answered_whole_from_its_plan(
        ctx: CatalogTestContext) -> None:
    first = ctx.q("SELECT 1, 2.5 AS half LIMIT 1")
    first.rows.append(("mutated by a caller",))  # the kept answer is not the one handed out
    again = ctx.q("SELECT 1, 2.5 AS half LIMIT 1")
    assert again.rows == [(1, Decimal("2.5"))]
    assert again.columns is first.columns  # the same column list: encoded once, by identity
    assert [c.name for c in again.columns] == ["1", "half"] and again.columns[0].length == 1
    variable = "SELECT 1, @@autocommit"  # not all literals: its values are computed each time
    assert ctx.q(variable).columns is not ctx.q(variable).columns
