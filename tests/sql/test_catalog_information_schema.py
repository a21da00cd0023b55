"""INFORMATION_SCHEMA queried with arbitrary SQL over real databases, and its caching."""

from __future__ import annotations

import pytest

from marmotdb.errors import MarmotError
from marmotdb.mysql.types import FieldType
from marmotdb.sql.catalog.workspace import workspace

try:
    from tests.sql.test_catalog_context import CatalogTestContext, shop_context
except ImportError:  # tests/sql is not a package: pytest puts this directory on sys.path
    from test_catalog_context import CatalogTestContext, shop_context  # type: ignore[no-redef]

PRIV = "select,insert,update,references"


@pytest.fixture
def ctx() -> CatalogTestContext:
    return shop_context()


def test_tables_for_django_introspection(ctx: CatalogTestContext) -> None:
    sql = ("SELECT table_name, table_type, table_comment FROM information_schema.tables "
           "WHERE table_schema = DATABASE() ORDER BY table_name")
    assert ctx.names(sql) == ["TABLE_NAME", "TABLE_TYPE", "TABLE_COMMENT"]
    assert ctx.rows(sql) == [("big_orders", "VIEW", "VIEW"), ("orders", "BASE TABLE", ""),
                             ("users", "BASE TABLE", "people")]


def test_database_function_follows_the_session(ctx: CatalogTestContext) -> None:
    sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
    assert ("users",) in ctx.rows(sql)
    ctx.current_database = "crm"
    assert ctx.rows(sql) == [("leads",)]
    other = shop_context()
    other.current_database = "crm"
    assert other.rows(sql) == [("leads",)]
    ctx.current_database = "shop"
    assert ("users",) in ctx.rows(sql)


def test_tables_row_values(ctx: CatalogTestContext) -> None:
    rows = ctx.rows("SELECT * FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop' "
                    "AND TABLE_NAME = 'users'")
    assert len(rows) == 1 and len(rows[0]) == 21
    row = rows[0]
    assert row[:8] == ("def", "shop", "users", "BASE TABLE", "InnoDB", 10, "Dynamic", 2)
    assert row[13] == 3 and row[17] == "utf8mb4_0900_ai_ci" and row[20] == "people"


def test_columns(ctx: CatalogTestContext) -> None:
    rows = ctx.rows("SELECT * FROM information_schema.columns WHERE table_schema = 'shop' "
                    "AND table_name = 'users' ORDER BY ordinal_position")
    assert rows == [
        ("def", "shop", "users", "id", 1, None, "NO", "int", None, None, 10, 0, None, None,
         None, "int unsigned", "PRI", "auto_increment", PRIV, "", "", None),
        ("def", "shop", "users", "email", 2, None, "NO", "varchar", 255, 1020, None, None, None,
         "utf8mb4", "utf8mb4_0900_ai_ci", "varchar(255)", "UNI", "", PRIV, "", "", None),
        ("def", "shop", "users", "name", 3, None, "YES", "varchar", 64, 256, None, None, None,
         "utf8mb4", "utf8mb4_0900_ai_ci", "varchar(64)", "", "", PRIV, "display name", "", None),
        ("def", "shop", "users", "created", 4, "CURRENT_TIMESTAMP", "NO", "datetime", None, None,
         None, None, 0, None, None, "datetime", "", "DEFAULT_GENERATED", PRIV, "", "", None),
    ]
    decimal = ctx.rows("SELECT numeric_precision, numeric_scale, column_default FROM "
                       "information_schema.columns WHERE column_name = 'total' "
                       "ORDER BY table_name DESC")
    assert decimal == [(10, 2, "0.00"), (10, 2, None)]  # the table's and the view's


def test_mysqldump_column_query(ctx: CatalogTestContext) -> None:
    sql = ("select column_name, extra, generation_expression, data_type from "
           "information_schema.columns where table_schema=database() and table_name='orders' "
           "order by ordinal_position")
    assert ctx.rows(sql) == [("id", "auto_increment", "", "bigint"), ("user_id", "", "", "int"),
                             ("total", "", "", "decimal"), ("status", "", "", "enum"),
                             ("note", "", "", "text")]


def test_constraints_join_as_django_sends_it(ctx: CatalogTestContext) -> None:
    sql = ("SELECT kc.`constraint_name`, kc.`column_name`, kc.`referenced_table_name`, "
           "kc.`referenced_column_name`, c.`constraint_type` FROM "
           "information_schema.key_column_usage AS kc, information_schema.table_constraints AS c "
           "WHERE kc.table_schema = DATABASE() AND c.table_schema = kc.table_schema AND "
           "c.constraint_name = kc.constraint_name AND c.constraint_type != 'CHECK' AND "
           "c.table_name = kc.table_name AND kc.table_name = 'orders' "
           "ORDER BY kc.`ordinal_position`, kc.constraint_name")
    assert ctx.rows(sql) == [("fk_user", "user_id", "users", "id", "FOREIGN KEY"),
                             ("PRIMARY", "id", None, None, "PRIMARY KEY")]


def test_referential_and_check_constraints(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SELECT * FROM information_schema.referential_constraints") == [
        ("def", "shop", "fk_user", "def", "shop", "PRIMARY", "NONE", "NO ACTION", "CASCADE",
         "orders", "users")]
    assert ctx.rows("SELECT c.constraint_name, c.check_clause FROM "
                    "information_schema.check_constraints AS c WHERE c.constraint_schema = "
                    "DATABASE()") == [("orders_chk_1", "(`total` >= 0)")]
    assert ("def", "shop", "orders_chk_1", "shop", "orders", "CHECK", "YES") in ctx.rows(
        "SELECT * FROM information_schema.table_constraints")


def test_statistics(ctx: CatalogTestContext) -> None:
    rows = ctx.rows("SELECT table_name, non_unique, index_name, seq_in_index, column_name, "
                    "nullable, index_type FROM information_schema.statistics "
                    "WHERE table_schema = 'shop' ORDER BY table_name, index_name, seq_in_index")
    assert rows == [("orders", 1, "idx_user_status", 1, "user_id", "", "BTREE"),
                    ("orders", 1, "idx_user_status", 2, "status", "", "BTREE"),
                    ("orders", 0, "PRIMARY", 1, "id", "", "BTREE"),
                    ("users", 0, "PRIMARY", 1, "id", "", "BTREE"),
                    ("users", 0, "uq_email", 1, "email", "", "BTREE")]


def test_views_triggers_schemata(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SELECT table_name, view_definition, is_updatable FROM "
                    "information_schema.views") == [
        ("big_orders", ("select `orders`.`id` AS `id`,`orders`.`total` AS `total` from `orders` "
                       "where (`orders`.`total` > 100)"), "NO")]
    assert ctx.rows("SELECT trigger_name, event_manipulation, event_object_table, "
                    "action_timing, action_statement FROM information_schema.triggers "
                    "WHERE trigger_schema = 'shop'") == [
        ("orders_bi", "INSERT", "orders", "BEFORE", "SET NEW.note = 'x'")]
    assert ctx.rows("SELECT schema_name, default_character_set_name FROM "
                    "information_schema.schemata ORDER BY 1") == [
        ("crm", "utf8mb4"), ("information_schema", "utf8mb3"), ("shop", "utf8mb4")]


def test_dbeaver_probes(ctx: CatalogTestContext) -> None:
    rows = ctx.rows("SELECT * FROM information_schema.TABLES t WHERE "
                    "t.TABLE_SCHEMA='information_schema' AND t.TABLE_NAME='CHECK_CONSTRAINTS'")
    assert [r[:4] for r in rows] == [("def", "information_schema", "CHECK_CONSTRAINTS",
                                      "SYSTEM VIEW")]
    words = [r[0] for r in ctx.rows("SELECT WORD FROM INFORMATION_SCHEMA.KEYWORDS "
                                    "WHERE RESERVED=1")]
    assert len(words) == 262 and "SELECT" in words and "ACTION" not in words


def test_arbitrary_sql_works(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SELECT table_schema, COUNT(*) AS n FROM information_schema.columns "
                    "WHERE table_schema IN ('shop', 'crm') GROUP BY table_schema "
                    "HAVING n > 2 ORDER BY n DESC") == [("shop", 11), ("crm", 3)]
    assert ctx.rows("SELECT t.table_name, (SELECT COUNT(*) FROM information_schema.columns c "
                    "WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name) "
                    "FROM information_schema.tables t WHERE t.table_schema = 'shop' "
                    "AND t.table_name LIKE 'U%' ") == [("users", 4)]
    assert ctx.rows("SELECT CONCAT(table_name, '.', column_name) FROM "
                    "information_schema.columns WHERE table_schema = 'crm' AND "
                    "IFNULL(column_default, '') = 'anon'") == [("leads.who",)]
    assert ctx.rows("SELECT DISTINCT character_set_name FROM information_schema.collations "
                    "WHERE collation_name LIKE 'utf8mb4\\_0900%' LIMIT 1") == [("utf8mb4",)]


def test_names_compare_case_insensitively(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SELECT table_name FROM INFORMATION_SCHEMA.TABLES WHERE "
                    "TABLE_SCHEMA = 'SHOP' AND table_name = 'USERS'") == [("users",)]


def test_column_names_and_types(ctx: CatalogTestContext) -> None:
    result = ctx.q("SELECT table_name, t.table_rows AS n, 1 + 1 FROM "
                   "information_schema.tables t WHERE table_schema = 'shop' "
                   "AND table_name = 'users'")
    assert [c.name for c in result.columns] == ["TABLE_NAME", "n", "1 + 1"]
    assert result.columns[0].type == FieldType.VAR_STRING
    assert result.columns[1].type == FieldType.LONGLONG
    assert result.columns[2].type == FieldType.LONGLONG
    assert result.rows == [("users", 2, 2)]


def test_empty_tables_keep_their_columns(ctx: CatalogTestContext) -> None:
    sql = ("SELECT LOGFILE_GROUP_NAME, FILE_NAME, TOTAL_EXTENTS, INITIAL_SIZE, ENGINE, EXTRA "
           "FROM INFORMATION_SCHEMA.FILES WHERE FILE_TYPE = 'UNDO LOG' AND FILE_NAME IS NOT NULL "
           "AND LOGFILE_GROUP_NAME IS NOT NULL GROUP BY LOGFILE_GROUP_NAME, FILE_NAME, ENGINE, "
           "TOTAL_EXTENTS, INITIAL_SIZE ORDER BY LOGFILE_GROUP_NAME")
    assert ctx.names(sql) == ["LOGFILE_GROUP_NAME", "FILE_NAME", "TOTAL_EXTENTS",
                              "INITIAL_SIZE", "ENGINE", "EXTRA"]
    assert ctx.rows(sql) == []
    assert ctx.rows("SELECT COUNT(*) FROM information_schema.routines") == [(0,)]


def test_partitions_have_one_row_per_table(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SELECT table_name, partition_name, table_rows FROM "
                    "information_schema.partitions WHERE table_schema = 'shop' ORDER BY 1") == [
        ("orders", None, 0), ("users", None, 2)]


def test_use_information_schema(ctx: CatalogTestContext) -> None:
    ctx.current_database = "information_schema"
    assert ctx.rows("SELECT table_name FROM TABLES WHERE table_schema = 'crm'") == [("leads",)]
    assert ctx.rows("SELECT DATABASE()") == [("information_schema",)]


def test_performance_schema_variables(ctx: CatalogTestContext) -> None:
    ctx.q("SET autocommit = 0")
    assert ctx.rows("SELECT VARIABLE_VALUE FROM performance_schema.session_variables "
                    "WHERE VARIABLE_NAME = 'autocommit'") == [("OFF",)]
    assert ctx.rows("SELECT variable_value FROM performance_schema.global_variables "
                    "WHERE variable_name = 'autocommit'") == [("ON",)]


def test_processlist(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SELECT id, user, command FROM information_schema.processlist "
                    "ORDER BY id") == [(7, "etl", "Sleep"), (42, "app", "Query")]


def test_errors(ctx: CatalogTestContext) -> None:
    with pytest.raises(MarmotError) as caught:
        ctx.q("SELECT * FROM information_schema.no_such_table")
    assert caught.value.code == 1146
    with pytest.raises(MarmotError) as caught:
        ctx.q("SELECT * FROM information_schema.tables t JOIN shop.users u ON 1")
    assert caught.value.code == 1235
    with pytest.raises(MarmotError) as caught:
        ctx.q("SELECT FROM information_schema.tables WHERE")
    assert caught.value.code == 1064
    with pytest.raises(MarmotError) as caught:
        ctx.q("SELECT no_such_column FROM information_schema.tables")
    assert caught.value.code == 1054


def test_schema_changes_are_seen(ctx: CatalogTestContext) -> None:
    sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm'"
    assert ctx.rows(sql) == [("leads",)]
    ctx.run("crm", "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    assert sorted(ctx.rows(sql)) == [("leads",), ("notes",)]
    assert [r[0] for r in ctx.rows("SHOW TABLES FROM crm")] == ["leads", "notes"]
    ctx.run("crm", "ALTER TABLE notes ADD COLUMN stars INT")
    assert ctx.rows("SELECT column_name FROM information_schema.columns WHERE "
                    "table_name = 'notes' ORDER BY ordinal_position") == [
        ("id",), ("body",), ("stars",)]


def test_comment_only_ddl_is_seen(ctx: CatalogTestContext) -> None:
    sql = "SELECT table_comment FROM information_schema.tables WHERE table_name = 'orders'"
    assert ctx.rows(sql) == [("",)]
    ctx.run("shop", "SELECT 1", "orders", ORDERS_WITH_COMMENT)  # stored DDL only changes
    assert ctx.rows(sql) == [("big ones",)]


ORDERS_WITH_COMMENT = """CREATE TABLE `orders` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `user_id` int unsigned NOT NULL,
  `total` decimal(10,2) NOT NULL DEFAULT '0.00',
  `status` enum('new','paid') NOT NULL DEFAULT 'new',
  `note` text,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT='big ones'"""


def test_statistics_are_cached_unless_expiry_is_zero(ctx: CatalogTestContext) -> None:
    sql = "SELECT table_rows FROM information_schema.tables WHERE table_name = 'users'"
    assert ctx.rows(sql) == [(2,)]
    ctx.run("shop", "INSERT INTO users(email) VALUES ('c@x.io')")
    assert ctx.rows(sql) == [(2,)]  # MySQL caches these too (information_schema_stats_expiry)
    ctx.q("SET information_schema_stats_expiry = 0")
    assert ctx.rows(sql) == [(3,)]


def test_rows_are_materialised_only_when_their_source_changed(ctx: CatalogTestContext) -> None:
    space = workspace()
    sql = "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = 'shop'"
    assert ctx.rows(sql) == [(11,)]
    space.conn.execute('DELETE FROM information_schema."COLUMNS"')  # would be noticed if reused
    assert ctx.rows(sql) == [(0,)]  # same snapshot: rows were not rebuilt
    ctx.run("shop", "CREATE TABLE extra(id INTEGER PRIMARY KEY)")
    assert ctx.rows(sql) == [(12,)]  # new schema version: rebuilt


def test_sessions_only_see_their_databases(ctx: CatalogTestContext) -> None:
    other = CatalogTestContext()
    other.dbs["crm"] = ctx.dbs["crm"]
    assert other.rows("SELECT DISTINCT table_schema FROM information_schema.tables "
                      "WHERE table_schema <> 'information_schema'") == [("crm",)]
    assert ctx.rows("SELECT DISTINCT table_schema FROM information_schema.tables WHERE "
                    "table_schema <> 'information_schema' ORDER BY 1") == [("crm",), ("shop",)]


@pytest.mark.parametrize("table", ["columns", "statistics", "key_column_usage",
                                   "table_constraints", "referential_constraints", "tables",
                                   "partitions", "views"])
def test_filters_on_one_table_give_the_same_rows(ctx: CatalogTestContext, table: str) -> None:
    everything = ctx.rows(f"SELECT * FROM information_schema.{table}")
    name_column = {"key_column_usage": 5, "table_constraints": 4,
                   "referential_constraints": 9}.get(table, 2)
    expected = sorted(r for r in everything if r[1] == "shop" and str(r[name_column]).lower()
                      in ("orders", "big_orders"))
    for where in ("table_schema = 'shop' AND table_name IN ('ORDERS', 'big_orders')",
                  "table_name IN ('orders', 'Big_Orders') AND table_schema = DATABASE()"):
        if table in ("referential_constraints", "key_column_usage", "table_constraints"):
            where = where.replace("table_schema", "constraint_schema")
        assert sorted(ctx.rows(f"SELECT * FROM information_schema.{table} WHERE {where}")) == \
            expected, where


def test_one_table_filter_builds_one_model(ctx: CatalogTestContext) -> None:
    from marmotdb.sql.catalog.snapshot import snapshot

    snap = snapshot(ctx.connection_for("shop"), "shop")
    assert set(snap._pending) == {"orders", "users"}
    assert ctx.rows("SELECT unique_constraint_name FROM information_schema.referential_"
                    "constraints WHERE constraint_schema = 'shop' AND table_name = 'orders'") \
        == [("PRIMARY",)]  # the referenced table is looked up although not listed
    assert ctx.rows("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "'shop' AND table_name = 'orders' AND column_key = 'PRI'") == [("id",)]
    assert "orders" not in snap._pending


def test_information_schema_text_is_read_through_the_lexer() -> None:
    from marmotdb.sql.catalog.workspace import _without_modifiers
    cleaned = _without_modifiers("SELECT /*!40001 SQL_NO_CACHE */ STRAIGHT_JOIN a /* c */ FROM "
                                 "t1 STRAIGHT_JOIN t2 WHERE b = '*/ SQL_CACHE' /*!99999 AND 0 */;")
    assert " ".join(cleaned.split()) == "SELECT a FROM t1 STRAIGHT_JOIN t2 WHERE b = '*/ SQL_CACHE'"
