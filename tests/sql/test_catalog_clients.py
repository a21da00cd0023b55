"""Every statement the real clients of python-ecosystem.md §6 send at connect and around their
work, in their order: each must be answered by the catalog (or be one the executor owns),
never fail, and leave the session in the state the client asked for."""

from __future__ import annotations

import pytest

from marmotdb.sql.catalog import dispatch as catalog
from marmotdb.sql.statement import strip_leading

try:
    from tests.sql.test_catalog_context import CatalogTestContext, shop_context
except ImportError:  # tests/sql is not a package: pytest puts this directory on sys.path
    from test_catalog_context import CatalogTestContext, shop_context  # type: ignore[no-redef]

EXECUTOR_OWNS = ("COMMIT", "ROLLBACK", "BEGIN", "LOCK", "UNLOCK", "START")


def replay(ctx: CatalogTestContext, statements: list[str]) -> list[object]:
    """Each statement as the executor hands it over (leading comments stripped, a
    statement-wide versioned comment unwrapped)."""
    answers = []
    for sql in statements:
        answer = catalog.answer(strip_leading(sql), ctx)
        if sql.split()[0].upper() in EXECUTOR_OWNS:
            assert answer is catalog.UNHANDLED, sql
        else:
            assert answer is not catalog.UNHANDLED, sql
        answers.append(answer)
    return answers


@pytest.fixture
def ctx() -> CatalogTestContext:
    return shop_context()


def test_pymysql_and_mysqlclient(ctx: CatalogTestContext) -> None:
    replay(ctx, ["SET NAMES utf8mb4", "SET AUTOCOMMIT = 0", "COMMIT", "SET autocommit=0"])
    assert not ctx.variables.autocommit
    assert ctx.variables.get("character_set_results") == "utf8mb4"


def test_mysql_connector_python(ctx: CatalogTestContext) -> None:
    answers = replay(ctx, ["SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'",
                           "SET @@session.autocommit = OFF", "SELECT @@session.sql_mode"])
    assert answers[2].rows == [(ctx.variables.sql_mode,)]
    assert ctx.variables.get("collation_connection") == "utf8mb4_general_ci"
    assert not ctx.variables.autocommit


def test_async_drivers(ctx: CatalogTestContext) -> None:
    replay(ctx, ["SET AUTOCOMMIT = 0"])
    assert not ctx.variables.autocommit


def test_sqlalchemy(ctx: CatalogTestContext) -> None:
    answers = replay(ctx, [
        "SET NAMES utf8mb4", "SELECT VERSION()", "SELECT DATABASE()", "SELECT @@tx_isolation",
        "SELECT @@transaction_isolation", "SELECT @@sql_mode", "SELECT @@lower_case_table_names",
        "ROLLBACK", "SHOW CREATE TABLE `users`", "SHOW VARIABLES LIKE 'sql_mode'",
        "SHOW FULL TABLES FROM `shop`", "SHOW COLLATION", "SHOW CHARACTER SET",
    ])
    assert answers[1].rows == [("8.0.36-marmotdb-test",)]
    assert answers[2].rows == [("shop",)]
    assert answers[3].rows == [("REPEATABLE-READ",)] == answers[4].rows
    assert answers[6].rows == [(0,)]
    create = answers[8].rows[0][1]
    assert create.startswith("CREATE TABLE `users` (\n  `id` int unsigned NOT NULL "
                             "AUTO_INCREMENT,\n")
    assert "  UNIQUE KEY `uq_email` (`email`)\n" in create


def test_django(ctx: CatalogTestContext) -> None:
    answers = replay(ctx, [
        "SET NAMES utf8mb4", "SET autocommit=0", "SET autocommit=1",
        ("SELECT VERSION(), @@sql_mode, @@default_storage_engine, @@sql_auto_is_null, "
        "@@lower_case_table_names, CONVERT_TZ('2001-01-01 01:00:00', 'UTC', 'UTC') IS NOT NULL"),
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ("SELECT table_name, table_type, table_comment FROM information_schema.tables "
        "WHERE table_schema = DATABASE()"),
    ])
    assert answers[3].rows == [("8.0.36-marmotdb-test", ctx.variables.sql_mode, "InnoDB", 0, 0,
                                1)]
    assert ctx.variables.transaction_isolation == "READ-COMMITTED"
    assert ctx.variables.autocommit
    assert sorted(answers[5].rows) == [("big_orders", "VIEW", "VIEW"),
                                       ("orders", "BASE TABLE", ""),
                                       ("users", "BASE TABLE", "people")]


def test_mariadb_interactive_cli(ctx: CatalogTestContext) -> None:
    answers = replay(ctx, ["show databases", "show tables",
                           "select @@version_comment limit 1"])
    assert ("shop",) in answers[0].rows and ("users",) in answers[1].rows
    assert [c.name for c in catalog.field_list("users", ctx)] == ["id", "email", "name",
                                                                  "created"]


def test_mysqldump(ctx: CatalogTestContext) -> None:
    answers = replay(ctx, [
        "/*!40100 SET @@SQL_MODE='' */", "/*!40103 SET TIME_ZONE='+00:00' */",
        # (mariadb-dump's /*M!100100 …*/ lines are comments to a MySQL server: the executor
        # skips them before the catalog sees anything)
        "SET @@MAX_EXECUTION_TIME=0", "SET WAIT_TIMEOUT=DEFAULT",
        "set optimizer_switch='semijoin=off'",
        ("SELECT LOGFILE_GROUP_NAME, FILE_NAME, TOTAL_EXTENTS, INITIAL_SIZE, ENGINE, EXTRA FROM "
        "INFORMATION_SCHEMA.FILES WHERE FILE_TYPE = 'UNDO LOG' AND FILE_NAME IS NOT NULL AND "
        "LOGFILE_GROUP_NAME IS NOT NULL GROUP BY LOGFILE_GROUP_NAME, FILE_NAME, ENGINE, "
        "TOTAL_EXTENTS, INITIAL_SIZE ORDER BY LOGFILE_GROUP_NAME"),
        ("SELECT DISTINCT TABLESPACE_NAME, FILE_NAME, LOGFILE_GROUP_NAME, EXTENT_SIZE, "
        "INITIAL_SIZE, ENGINE FROM INFORMATION_SCHEMA.FILES WHERE FILE_TYPE = 'DATAFILE' AND "
        "TABLESPACE_NAME IN (SELECT DISTINCT TABLESPACE_NAME FROM INFORMATION_SCHEMA.PARTITIONS "
        "WHERE TABLE_SCHEMA IN ('shop')) ORDER BY TABLESPACE_NAME, LOGFILE_GROUP_NAME"),
        "SHOW VARIABLES LIKE 'gtid\\_mode'", "SHOW CREATE DATABASE IF NOT EXISTS `shop`",
        "SHOW FULL TABLES", "LOCK TABLES `users` READ /*!32311 LOCAL */",
        ("SELECT engine, table_type FROM INFORMATION_SCHEMA.TABLES WHERE table_schema = DATABASE()"
        " AND table_name = 'users'"),
        "SET SQL_QUOTE_SHOW_CREATE=1", "SET SESSION character_set_results = 'binary'",
        "show create table `users`", "SET SESSION character_set_results = 'utf8mb4'",
        ("select column_name, extra, generation_expression, data_type from "
        "information_schema.columns where table_schema=database() and table_name='users' "
        "order by ordinal_position"),
        ("SELECT COLUMN_NAME, JSON_EXTRACT(HISTOGRAM, '$.\"number-of-buckets-specified\"') FROM "
        "information_schema.COLUMN_STATISTICS WHERE SCHEMA_NAME = 'shop' AND TABLE_NAME = "
        "'users'"),
        "select @@collation_database",
        "SHOW TRIGGERS LIKE 'orders'",
        ("SELECT TRIGGER_NAME FROM INFORMATION_SCHEMA.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = "
        "DATABASE() AND EVENT_OBJECT_TABLE = 'orders'"),
        "SHOW CREATE TRIGGER `orders_bi`",
        "UNLOCK TABLES",
    ])
    assert ctx.variables.time_zone == "+00:00"
    assert answers[7].rows == [("gtid_mode", "OFF")]
    assert answers[11].rows == [("InnoDB", "BASE TABLE")]
    assert answers[17].rows == []
    assert answers[18].rows == [("utf8mb4_0900_ai_ci",)]
    assert answers[19].rows[0][0] == "orders_bi"
    assert answers[20].rows == [("orders_bi",)]


def test_mysqldump_dump_header_and_footer(ctx: CatalogTestContext) -> None:
    replay(ctx, [
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
        "/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */",
        "/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */",
        "/*!40101 SET NAMES utf8mb4 */", "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */",
        "/*!40103 SET TIME_ZONE='+00:00' */",
        "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */",
        "/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */",
        "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
        "/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */",
        "/*!40101 SET @saved_cs_client     = @@character_set_client */",
        "/*!50503 SET character_set_client = utf8mb4 */",
        "/*!40101 SET character_set_client = @saved_cs_client */",
    ])
    assert not ctx.variables.foreign_key_checks
    assert ctx.variables.sql_mode == "NO_AUTO_VALUE_ON_ZERO"
    replay(ctx, [
        "/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */", "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */",
        "/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */",
        "/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */",
        "/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */",
        "/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */",
        "/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */",
        "/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */",
    ])
    assert ctx.variables.foreign_key_checks and ctx.variables.get("unique_checks") == 1
    assert ctx.variables.get("time_zone") == "SYSTEM"
    assert "STRICT_TRANS_TABLES" in ctx.variables.sql_modes


def test_dbeaver_connector_j(ctx: CatalogTestContext) -> None:
    answers = replay(ctx, [
        ("/* mysql-connector-j-8.4.0 (Revision: 1c3f5c149e0bfe31c7fbeb24e2d260cd890972c4) */"
        "SELECT  @@session.auto_increment_increment AS auto_increment_increment, "
        "@@character_set_client AS character_set_client, @@character_set_connection AS "
        "character_set_connection, @@character_set_results AS character_set_results, "
        "@@character_set_server AS character_set_server, @@collation_server AS "
        "collation_server, @@collation_connection AS collation_connection, @@init_connect AS "
        "init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, "
        "@@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS "
        "max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@performance_schema AS "
        "performance_schema, @@query_cache_size AS query_cache_size, @@query_cache_type AS "
        "query_cache_type, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, "
        "@@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation, "
        "@@wait_timeout AS wait_timeout"),
        "SET NAMES utf8mb4", "SET character_set_results = NULL", "SET autocommit=1",
        "SELECT DATABASE()", "SHOW ENGINES", "SHOW CHARSET", "SHOW COLLATION",
        "SELECT @@GLOBAL.character_set_server,@@GLOBAL.collation_server", "SHOW PLUGINS",
        "SHOW VARIABLES LIKE 'lower_case_table_names'", "show databases",
        ("SELECT * FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA='information_schema' "
        "AND t.TABLE_NAME='CHECK_CONSTRAINTS'"),
        "SHOW FULL TABLES FROM `shop`", "SHOW TABLE STATUS FROM `shop`",
        "SELECT WORD FROM INFORMATION_SCHEMA.KEYWORDS WHERE RESERVED=1",
    ])
    first = answers[0]
    assert [c.name for c in first.columns][:3] == ["auto_increment_increment",
                                                   "character_set_client",
                                                   "character_set_connection"]
    assert dict(zip([c.name for c in first.columns], first.rows[0]))["max_allowed_packet"] \
        == 67108864
    assert ctx.variables.character_set_results is None
    assert answers[8].rows == [("utf8mb4", "utf8mb4_0900_ai_ci")]
    assert len(answers[12].rows) == 1 and len(answers[15].rows) == 262


def test_mysql_workbench(ctx: CatalogTestContext) -> None:
    answers = replay(ctx, [
        "set autocommit=1", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "SELECT current_user()", "SHOW ENGINES", "SHOW CHARSET", "SHOW STATUS",
        "SHOW SESSION STATUS LIKE 'Ssl_cipher'", "SHOW SESSION VARIABLES LIKE 'version_comment'",
        "SHOW DATABASES", "SHOW FULL TABLES", "SHOW TABLE STATUS",
    ])
    assert answers[2].rows == [("app@%",)]
    assert answers[7].rows == [("version_comment", "marmotdb - leaderless distributed SQLite")]
