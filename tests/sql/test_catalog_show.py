"""SHOW and DESCRIBE: MySQL 8.0 column names, column order and rows over real databases."""

from __future__ import annotations

import pytest

from marmotdb.errors import MarmotError

try:
    from tests.sql.test_catalog_context import CatalogTestContext, shop_context
except ImportError:  # tests/sql is not a package: pytest puts this directory on sys.path
    from test_catalog_context import CatalogTestContext, shop_context  # type: ignore[no-redef]

PRIV = "select,insert,update,references"
MODE = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION")


@pytest.fixture
def ctx() -> CatalogTestContext:
    return shop_context()


def error_code(ctx: CatalogTestContext, sql: str) -> int:
    with pytest.raises(MarmotError) as caught:
        ctx.q(sql)
    return caught.value.code


def test_show_databases(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW DATABASES") == ["Database"]
    assert ctx.rows("SHOW DATABASES") == [("crm",), ("information_schema",), ("mysql",),
                                          ("shop",)]
    assert ctx.names("show schemas like 's%'") == ["Database (s%)"]
    assert ctx.rows("show schemas like 'S%'") == [("shop",)]
    assert ctx.rows("SHOW DATABASES WHERE `Database` NOT IN ('crm', 'mysql')") == \
        [("information_schema",), ("shop",)]


def test_mysql_schema_is_listed_but_its_tables_are_refused(ctx: CatalogTestContext) -> None:
    """Every MySQL server has the mysql schema (clients log in to it); its grant tables are
    not marmotdb's, so what would list them is refused rather than answered empty."""
    assert error_code(ctx, "SHOW TABLES FROM mysql") == 1235
    ctx.current_database = "mysql"
    assert error_code(ctx, "SHOW TABLES") == 1235


def test_show_tables(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW TABLES") == ["Tables_in_shop"]
    assert ctx.rows("SHOW TABLES") == [("big_orders",), ("orders",), ("users",)]
    assert ctx.names("SHOW FULL TABLES FROM shop") == ["Tables_in_shop", "Table_type"]
    assert ctx.rows("SHOW FULL TABLES FROM shop") == [
        ("big_orders", "VIEW"), ("orders", "BASE TABLE"), ("users", "BASE TABLE")]
    assert ctx.names("SHOW TABLES IN crm LIKE 'l%'") == ["Tables_in_crm (l%)"]
    assert ctx.rows("SHOW TABLES IN crm LIKE 'l%'") == [("leads",)]
    assert ctx.rows("SHOW FULL TABLES WHERE Table_type = 'VIEW'") == [("big_orders", "VIEW")]
    assert ("TABLES", "SYSTEM VIEW") in ctx.rows("SHOW FULL TABLES FROM information_schema")


def test_internal_tables_never_appear(ctx: CatalogTestContext) -> None:
    names = [r[0] for r in ctx.rows("SHOW TABLES")]
    assert not any(n.startswith(("__marmot", "sqlite_")) for n in names)
    assert ctx.rows("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE "
                    "'\\_\\_marmot%' OR table_name LIKE 'sqlite%'") == [(0,)]
    assert error_code(ctx, "SHOW COLUMNS FROM __marmot_schema") == 1146


def test_show_tables_errors(ctx: CatalogTestContext) -> None:
    assert error_code(ctx, "SHOW TABLES FROM nope") == 1049
    ctx.current_database = None
    assert error_code(ctx, "SHOW TABLES") == 1046


def test_show_columns(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW COLUMNS FROM users") == ["Field", "Type", "Null", "Key", "Default",
                                                    "Extra"]
    assert ctx.rows("SHOW COLUMNS FROM users") == [
        ("id", "int unsigned", "NO", "PRI", None, "auto_increment"),
        ("email", "varchar(255)", "NO", "UNI", None, ""),
        ("name", "varchar(64)", "YES", "", None, ""),
        ("created", "datetime", "NO", "", "CURRENT_TIMESTAMP", "DEFAULT_GENERATED"),
    ]
    assert ctx.names("SHOW FULL FIELDS FROM orders") == [
        "Field", "Type", "Collation", "Null", "Key", "Default", "Extra", "Privileges", "Comment"]
    assert ctx.rows("SHOW FULL FIELDS FROM orders") == [
        ("id", "bigint", None, "NO", "PRI", None, "auto_increment", PRIV, ""),
        ("user_id", "int unsigned", None, "NO", "MUL", None, "", PRIV, ""),
        ("total", "decimal(10,2)", None, "NO", "", "0.00", "", PRIV, ""),
        ("status", "enum('new','paid')", "utf8mb4_0900_ai_ci", "NO", "", "new", "", PRIV, ""),
        ("note", "text", "utf8mb4_0900_ai_ci", "YES", "", None, "", PRIV, ""),
    ]
    assert ctx.rows("SHOW COLUMNS FROM shop.users LIKE 'e%'")[0][0] == "email"
    assert [r[0] for r in ctx.rows("SHOW COLUMNS IN orders WHERE `Null` = 'YES'")] == ["note"]
    assert ctx.rows("SHOW COLUMNS FROM big_orders") == [
        ("id", "bigint", "YES", "", None, ""), ("total", "decimal(10,2)", "YES", "", None, "")]


def test_columns_of_a_table_without_stored_ddl(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SHOW COLUMNS FROM leads FROM crm") == [
        ("id", "bigint", "NO", "PRI", None, "auto_increment"),
        ("who", "text", "NO", "", "anon", ""),
        ("score", "double", "YES", "", None, ""),
    ]


def test_describe(ctx: CatalogTestContext) -> None:
    assert ctx.rows("DESCRIBE users") == ctx.rows("SHOW COLUMNS FROM users")
    assert ctx.rows("DESC users email") == [("email", "varchar(255)", "NO", "UNI", None, "")]
    assert ctx.rows("EXPLAIN `orders` 'st%'") == [
        ("status", "enum('new','paid')", "NO", "", "new", "")]
    assert error_code(ctx, "DESCRIBE missing") == 1146


def test_show_index(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW INDEX FROM orders") == [
        "Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name", "Collation",
        "Cardinality", "Sub_part", "Packed", "Null", "Index_type", "Comment", "Index_comment",
        "Visible", "Expression"]
    assert ctx.rows("SHOW INDEX FROM orders") == [
        ("orders", 0, "PRIMARY", 1, "id", "A", None, None, None, "", "BTREE", "", "", "YES",
         None),
        ("orders", 1, "idx_user_status", 1, "user_id", "A", None, None, None, "", "BTREE", "",
         "", "YES", None),
        ("orders", 1, "idx_user_status", 2, "status", "A", None, None, None, "", "BTREE", "",
         "", "YES", None),
    ]
    assert [r[2] for r in ctx.rows("SHOW KEYS FROM users WHERE Non_unique = 0")] == \
        ["PRIMARY", "uq_email"]
    assert [r[2] for r in ctx.rows("SHOW INDEXES IN leads IN crm")] == ["PRIMARY"]


def test_show_create_table(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW CREATE TABLE orders") == ["Table", "Create Table"]
    assert ctx.rows("SHOW CREATE TABLE orders") == [("orders", """CREATE TABLE `orders` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `user_id` int unsigned NOT NULL,
  `total` decimal(10,2) NOT NULL DEFAULT '0.00',
  `status` enum('new','paid') NOT NULL DEFAULT 'new',
  `note` text,
  PRIMARY KEY (`id`),
  KEY `idx_user_status` (`user_id`,`status`),
  CONSTRAINT `fk_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE,
  CONSTRAINT `orders_chk_1` CHECK ((`total` >= 0))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci""")]


def test_show_create_table_shows_the_next_auto_increment(ctx: CatalogTestContext) -> None:
    text = ctx.rows("SHOW CREATE TABLE users")[0][1]
    assert text.endswith(") ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 "
                         "COLLATE=utf8mb4_0900_ai_ci COMMENT='people'")
    ctx.run("shop", "INSERT INTO users(id, email) VALUES (41, 'c@x.io')")
    assert "AUTO_INCREMENT=42 " in ctx.rows("SHOW CREATE TABLE users")[0][1]


def test_show_create_table_without_quotes(ctx: CatalogTestContext) -> None:
    ctx.q("SET sql_quote_show_create = 0")
    assert ctx.rows("SHOW CREATE TABLE crm.leads")[0][1].startswith(
        "CREATE TABLE leads (\n  id bigint NOT NULL AUTO_INCREMENT,")


def test_show_create_view(ctx: CatalogTestContext) -> None:
    expected = [("big_orders", ("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY "
                 "DEFINER VIEW `big_orders` AS select `orders`.`id` AS `id`,`orders`.`total` "
                 "AS `total` from `orders` where (`orders`.`total` > 100)"), "utf8mb4",
                 "utf8mb4_0900_ai_ci")]
    assert ctx.names("SHOW CREATE VIEW big_orders") == [
        "View", "Create View", "character_set_client", "collation_connection"]
    assert ctx.rows("SHOW CREATE VIEW big_orders") == expected
    assert ctx.rows("SHOW CREATE TABLE big_orders") == expected
    assert error_code(ctx, "SHOW CREATE VIEW orders") == 1347


def test_show_create_database(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SHOW CREATE DATABASE shop") == [(
        "shop", ("CREATE DATABASE `shop` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE "
        "utf8mb4_0900_ai_ci */ /*!80016 DEFAULT ENCRYPTION='N' */"))]
    assert ctx.rows("SHOW CREATE SCHEMA IF NOT EXISTS crm")[0][1].startswith(
        "CREATE DATABASE /*!32312 IF NOT EXISTS*/ `crm` ")
    assert error_code(ctx, "SHOW CREATE DATABASE nope") == 1049


def test_show_triggers_and_create_trigger(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW TRIGGERS") == [
        "Trigger", "Event", "Table", "Statement", "Timing", "Created", "sql_mode", "Definer",
        "character_set_client", "collation_connection", "Database Collation"]
    assert ctx.rows("SHOW TRIGGERS LIKE 'ord%'") == [
        ("orders_bi", "INSERT", "orders", "SET NEW.note = 'x'", "BEFORE", None, MODE, "root@%",
         "utf8mb4", "utf8mb4_0900_ai_ci", "utf8mb4_0900_ai_ci")]
    assert ctx.rows("SHOW TRIGGERS LIKE 'users'") == []
    row = ctx.rows("SHOW CREATE TRIGGER orders_bi")[0]
    assert row[0] == "orders_bi" and row[2].startswith("CREATE DEFINER=`root`@`%` TRIGGER")
    assert error_code(ctx, "SHOW CREATE TRIGGER nope") == 1360


def test_show_table_status(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW TABLE STATUS") == [
        "Name", "Engine", "Version", "Row_format", "Rows", "Avg_row_length", "Data_length",
        "Max_data_length", "Index_length", "Data_free", "Auto_increment", "Create_time",
        "Update_time", "Check_time", "Collation", "Checksum", "Create_options", "Comment"]
    rows = {r[0]: r for r in ctx.rows("SHOW TABLE STATUS")}
    assert rows["big_orders"] == ("big_orders",) + (None,) * 16 + ("VIEW",)
    users = rows["users"]
    assert users[1:5] == ("InnoDB", 10, "Dynamic", 2)
    assert users[10] == 3 and users[14] == "utf8mb4_0900_ai_ci" and users[17] == "people"
    assert users[6] > 0 and users[8] > 0  # data and index pages measured
    assert rows["orders"][4] == 0 and rows["orders"][10] == 1
    assert [r[0] for r in ctx.rows("SHOW TABLE STATUS FROM shop LIKE 'u%'")] == ["users"]
    assert [r[0] for r in ctx.rows("SHOW TABLE STATUS WHERE Engine IS NULL")] == ["big_orders"]


def test_show_variables(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW VARIABLES") == ["Variable_name", "Value"]
    assert ctx.rows("SHOW VARIABLES LIKE 'lower_case_table_names'") == \
        [("lower_case_table_names", "0")]
    assert ctx.rows("SHOW SESSION VARIABLES LIKE 'autocommit'") == [("autocommit", "ON")]
    ctx.q("SET autocommit = 0")
    assert ctx.rows("SHOW VARIABLES LIKE 'AUTOCOMMIT'") == [("autocommit", "OFF")]
    assert ctx.rows("SHOW GLOBAL VARIABLES LIKE 'autocommit'") == [("autocommit", "ON")]
    assert ctx.rows("SHOW VARIABLES WHERE Variable_name IN ('wait_timeout', 'port')") == \
        [("port", "3306"), ("wait_timeout", "28800")]
    assert ctx.rows("SHOW VARIABLES LIKE 'character\\_set\\_c%'") == [
        ("character_set_client", "utf8mb4"), ("character_set_connection", "utf8mb4")]
    ctx.warnings = [("Note", 1, "x")]
    assert ctx.rows("SHOW VARIABLES LIKE 'warning_count'") == [("warning_count", "1")]


def test_show_status(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SHOW STATUS") == [("Questions", "17"), ("Threads_connected", "2"),
                                       ("Uptime", "120")]
    assert ctx.rows("SHOW GLOBAL STATUS LIKE 'Up%'") == [("Uptime", "120")]
    assert ctx.rows("SHOW SESSION STATUS LIKE 'Ssl_cipher'") == []


def test_show_warnings_and_errors(ctx: CatalogTestContext) -> None:
    ctx.warnings = [("Warning", 1265, "Data truncated for column 'a' at row 1"),
                    ("Note", 1051, "Unknown table 'x'"), ("Error", 1146, "Table 't' doesn't exist")]
    assert ctx.names("SHOW WARNINGS") == ["Level", "Code", "Message"]
    assert ctx.rows("SHOW WARNINGS") == ctx.warnings
    assert ctx.rows("SHOW WARNINGS LIMIT 1, 1") == [ctx.warnings[1]]
    assert ctx.rows("SHOW WARNINGS LIMIT 1") == [ctx.warnings[0]]
    assert ctx.rows("SHOW ERRORS") == [ctx.warnings[2]]
    assert ctx.names("SHOW COUNT(*) WARNINGS") == ["@@session.warning_count"]
    assert ctx.rows("SHOW COUNT(*) WARNINGS") == [(3,)]
    assert ctx.names("SHOW COUNT(*) ERRORS") == ["@@session.error_count"]
    assert ctx.rows("SHOW COUNT(*) ERRORS") == [(1,)]


def test_show_engines_charsets_collations_plugins(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW ENGINES") == ["Engine", "Support", "Comment", "Transactions", "XA",
                                         "Savepoints"]
    engines = ctx.rows("SHOW STORAGE ENGINES")
    assert engines[0][:2] == ("InnoDB", "DEFAULT") and engines[0][3] == "YES"
    assert ctx.names("SHOW CHARSET") == ["Charset", "Description", "Default collation", "Maxlen"]
    assert ctx.rows("SHOW CHARACTER SET LIKE 'utf8mb4'") == [
        ("utf8mb4", "UTF-8 Unicode", "utf8mb4_0900_ai_ci", 4)]
    assert ctx.names("SHOW COLLATION") == ["Collation", "Charset", "Id", "Default", "Compiled",
                                           "Sortlen", "Pad_attribute"]
    assert ctx.rows("SHOW COLLATION LIKE 'utf8mb4_0900_ai_ci'") == [
        ("utf8mb4_0900_ai_ci", "utf8mb4", 255, "Yes", "Yes", 0, "NO PAD")]
    assert ctx.rows("SHOW COLLATION LIKE 'utf8mb4_%spanish%'") == [
        ("utf8mb4_spanish2_ci", "utf8mb4", 238, "", "Yes", 8, "PAD SPACE"),
        ("utf8mb4_spanish_ci", "utf8mb4", 231, "", "Yes", 8, "PAD SPACE")]
    assert ctx.rows("SHOW COLLATION WHERE Charset = 'latin1' AND `Default` = 'Yes'") == [
        ("latin1_swedish_ci", "latin1", 8, "Yes", "Yes", 1, "PAD SPACE")]
    assert ctx.names("SHOW PLUGINS") == ["Name", "Status", "Type", "Library", "License"]
    assert ("caching_sha2_password", "ACTIVE", "AUTHENTICATION", None, "GPL") in \
        ctx.rows("SHOW PLUGINS")


def test_show_processlist(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW PROCESSLIST") == ["Id", "User", "Host", "db", "Command", "Time",
                                             "State", "Info"]
    assert ctx.rows("SHOW FULL PROCESSLIST") == ctx.processlist()


def test_show_grants(ctx: CatalogTestContext) -> None:
    assert ctx.names("SHOW GRANTS") == ["Grants for app@%"]
    assert ctx.rows("SHOW GRANTS") == [(g,) for g in ctx.grants()]
    assert ctx.rows("SHOW GRANTS FOR CURRENT_USER()") == [(g,) for g in ctx.grants()]
    assert ctx.rows("SHOW GRANTS FOR 'app'@'%'") == [(g,) for g in ctx.grants()]


def test_show_statements_with_nothing_to_show(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SHOW FUNCTION STATUS WHERE Db = 'shop'") == []
    assert ctx.names("SHOW PROCEDURE STATUS")[:3] == ["Db", "Name", "Type"]
    assert ctx.rows("SHOW EVENTS") == [] and ctx.rows("SHOW OPEN TABLES FROM shop") == []
    assert ctx.rows("SHOW MASTER STATUS") == [] and ctx.rows("SHOW REPLICA STATUS") == []
    assert error_code(ctx, "SHOW BINARY LOGS") == 1381
    assert error_code(ctx, "SHOW CREATE PROCEDURE p") == 1305
    assert error_code(ctx, "SHOW ENGINE INNODB STATUS") == 1235
    assert error_code(ctx, "SHOW NONSENSE") == 1064
    assert error_code(ctx, "SHOW TABLES garbage") == 1064
