"""A real CatalogContext over real APSW databases, shared by the catalog tests.

It is what the executor provides, minus the executor: databases are in-memory APSW
connections holding real tables (and, written with the translator's own ``sql.schema``
helpers, a ``__marmot_schema`` table with the MySQL DDL), guarded by an authorizer that refuses user access to
internal tables the way the executor's connections do. ``evaluate`` runs ``SELECT <expr>`` on
SQLite through sqlglot, standing in for the executor's translate-and-run path.
"""

from __future__ import annotations

import apsw
import pytest
import sqlglot

from marmotdb import errors
from marmotdb.sql import schema
from marmotdb.sql.catalog import dispatch as catalog
from marmotdb.sql.functions import registry as functions
from marmotdb.sql.functions.context import FunctionContext
from marmotdb.sql.translate import translate
from marmotdb.sql.variables.scopes import GlobalVariables, SessionVariables


def _deny_internal(op: int, p1: str | None, p2: str | None, db: str | None,
                   trigger: str | None) -> int:
    if op == apsw.SQLITE_READ and p1 and (p1.startswith(("__marmot_", "sqlite_"))):
        return apsw.SQLITE_DENY
    return apsw.SQLITE_OK


class CatalogTestContext:
    """Implements marmotdb.sql.catalog.context.CatalogContext for tests."""

    def __init__(self, global_variables: GlobalVariables | None = None) -> None:
        self.global_variables = global_variables or GlobalVariables(
            {"version": "8.0.36-marmotdb-test"})
        self.variables = SessionVariables(self.global_variables)
        self.current_database: str | None = None
        self.user = "app"
        self.host = "10.0.0.7"
        self.connection_id = 42
        self.status: dict[str, object] = {"Uptime": 120, "Threads_connected": 2,
                                          "Questions": 17}
        self.warnings: list[tuple[str, int, str]] = []
        self.in_transaction = False
        self.last_insert_id = 0
        self.dbs: dict[str, apsw.Connection] = {}
        self._functions_registered: set[str] = set()

    # --- building databases -------------------------------------------------------------
    def create_database(self, name: str) -> apsw.Connection:
        conn = apsw.Connection(":memory:")
        conn.execute("PRAGMA foreign_keys = ON")
        schema.ensure_schema_table(conn)
        conn.authorizer = _deny_internal
        self.dbs[name] = conn
        return conn

    def run(self, db: str, sqlite_sql: str, mysql_name: str | None = None,
            mysql_sql: str | None = None, kind: str = "table") -> None:
        """Run SQLite DDL and record the MySQL DDL the way the translator does."""
        conn = self.dbs[db]
        saved, conn.authorizer = conn.authorizer, None
        try:
            conn.execute(sqlite_sql)
            if mysql_name is not None:
                conn.execute(schema.upsert_statement(kind, mysql_name, mysql_sql or "", "{}"))
        finally:
            conn.authorizer = saved

    def mysql(self, db: str, sql: str) -> None:
        """Run MySQL text through the real translator, as the executor does (DDL included:
        the translator writes ``__marmot_schema`` itself)."""
        conn = self.dbs[db]
        if db not in self._functions_registered:
            functions.register_functions(conn, FunctionContext(database=db))
            self._functions_registered.add(db)
        translation, params = translate(sql, _SchemaView(conn, db))
        saved, conn.authorizer = conn.authorizer, None
        try:
            if translation.foreign_keys_off:
                conn.execute("PRAGMA foreign_keys = OFF")
            with conn:
                for statement in translation.statements:
                    conn.execute(statement, {k: v for k, v in params.items()
                                             if f":{k}" in statement})
            conn.execute("PRAGMA foreign_keys = ON")
        finally:
            conn.authorizer = saved

    # --- the CatalogContext protocol ----------------------------------------------------
    def databases(self) -> list[str]:
        return sorted(self.dbs)

    def system_databases(self) -> list[str]:
        return ["information_schema", "mysql"]

    def connection_for(self, db: str) -> apsw.Connection:
        conn = self.dbs.get(db.lower())
        if conn is None:
            raise errors.error(errors.ER_BAD_DB_ERROR, f"Unknown database '{db}'")
        return conn

    def processlist(self) -> list[tuple]:
        return [(42, "app", "10.0.0.7:5000", self.current_database, "Query", 0, "executing",
                 "SHOW PROCESSLIST"),
                (7, "etl", "10.0.0.8:6000", None, "Sleep", 30, "", None)]

    def grants(self, user: str | None = None, host: str | None = None) -> list[str]:
        return ["GRANT USAGE ON *.* TO `app`@`%`",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON `shop`.* TO `app`@`%`"]

    def evaluate(self, select_sql: str) -> object:
        conn = apsw.Connection(":memory:")
        translated = sqlglot.transpile(select_sql, read="mysql", write="sqlite")[0]
        return conn.execute(translated).fetchall()[0][0]

    # --- convenience ----------------------------------------------------------------------
    def q(self, sql: str):
        return catalog.answer(sql, self)

    def rows(self, sql: str) -> list[tuple]:
        result = catalog.answer(sql, self)
        assert result is not None and result is not catalog.UNHANDLED, sql
        return result.rows

    def names(self, sql: str) -> list[str]:
        result = catalog.answer(sql, self)
        assert result is not None and result is not catalog.UNHANDLED, sql
        return [c.name for c in result.columns]


class _SchemaView:
    """translate.SchemaView over one connection (what the executor gives the translator)."""

    def __init__(self, conn: apsw.Connection, database: str) -> None:
        self.conn, self.database = conn, database

    def _read(self, sql: str, *args: object) -> list[tuple]:
        saved, self.conn.authorizer = self.conn.authorizer, None
        try:
            return self.conn.execute(sql, args).fetchall()
        finally:
            self.conn.authorizer = saved

    def table_sql(self, table: str) -> str | None:
        found = self._read("SELECT sql FROM sqlite_schema WHERE type IN ('table', 'view') "
                           "AND name = ? COLLATE NOCASE", table)
        return found[0][0] if found else None

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        found = [(r[1], r[2]) for r in self._read("SELECT * FROM pragma_table_info(?)", table)]
        return found or None

    def mysql_ddl(self, table: str) -> str | None:
        saved, self.conn.authorizer = self.conn.authorizer, None
        try:
            return schema.mysql_ddl(self.conn, table)
        finally:
            self.conn.authorizer = saved

    def schema_key(self) -> tuple[object, ...]:
        return (self.database, id(self.conn), self._read("PRAGMA schema_version")[0][0])

    def sqlite_triggers(self, table: str) -> list[str]:
        return [r[0] for r in self._read("SELECT sql FROM sqlite_schema WHERE type = 'trigger' "
                                         "AND tbl_name = ? COLLATE NOCASE", table)]


def test_context_refuses_internal_tables_to_users() -> None:
    ctx = CatalogTestContext()
    conn = ctx.create_database("shop")
    with pytest.raises(apsw.AuthError):
        conn.execute("SELECT * FROM __marmot_schema").fetchall()


# The MySQL DDL as the translator stores it (canonical SHOW CREATE TABLE text) and the SQLite
# DDL it runs, for a small shop schema with every kind of key.
USERS_MYSQL = """CREATE TABLE `users` (
  `id` int unsigned NOT NULL AUTO_INCREMENT,
  `email` varchar(255) NOT NULL,
  `name` varchar(64) DEFAULT NULL COMMENT 'display name',
  `created` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_email` (`email`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT='people'"""
USERS_SQLITE = ("CREATE TABLE users(id INTEGER PRIMARY KEY, email VARCHAR(255) COLLATE NOCASE "
                "NOT NULL, name VARCHAR(64) COLLATE NOCASE, created DATETIME NOT NULL DEFAULT "
                "CURRENT_TIMESTAMP)")
ORDERS_MYSQL = """CREATE TABLE `orders` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `user_id` int unsigned NOT NULL,
  `total` decimal(10,2) NOT NULL DEFAULT '0.00',
  `status` enum('new','paid') NOT NULL DEFAULT 'new',
  `note` text,
  PRIMARY KEY (`id`),
  KEY `idx_user_status` (`user_id`,`status`),
  CONSTRAINT `fk_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE,
  CONSTRAINT `orders_chk_1` CHECK ((`total` >= 0))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci"""
ORDERS_SQLITE = ("CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INT UNSIGNED NOT NULL "
                 "REFERENCES users(id) ON DELETE CASCADE, total DECIMAL TEXT(10,2) NOT NULL "
                 "DEFAULT '0.00', status ENUM TEXT NOT NULL DEFAULT 'new', note TEXT, "
                 "CHECK (total >= 0))")
VIEW_MYSQL = ("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW "
              "`big_orders` AS select `orders`.`id` AS `id`,`orders`.`total` AS `total` from "
              "`orders` where (`orders`.`total` > 100)")
TRIGGER_MYSQL = ("CREATE DEFINER=`root`@`%` TRIGGER `orders_bi` BEFORE INSERT ON `orders` "
                 "FOR EACH ROW SET NEW.note = 'x'")


def shop_context() -> CatalogTestContext:
    """A session in database ``shop`` (users, orders, a view, a trigger) plus database
    ``crm`` (one plain SQLite table with no stored MySQL DDL)."""
    ctx = CatalogTestContext()
    ctx.create_database("shop")
    ctx.run("shop", USERS_SQLITE, "users", USERS_MYSQL)
    ctx.run("shop", "CREATE UNIQUE INDEX users__uq_email ON users(email)")
    ctx.run("shop", ORDERS_SQLITE, "orders", ORDERS_MYSQL)
    ctx.run("shop", "CREATE INDEX orders__idx_user_status ON orders(user_id, status)")
    ctx.run("shop", "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100",
            "big_orders", VIEW_MYSQL, "view")
    ctx.run("shop", "CREATE TRIGGER orders_bi BEFORE INSERT ON orders BEGIN SELECT 1; END",
            "orders_bi", TRIGGER_MYSQL, "trigger")
    ctx.run("shop", "INSERT INTO users(email, name) VALUES ('a@x.io', 'Ann'), ('b@x.io', 'Bob')")
    ctx.create_database("crm")
    ctx.run("crm", "CREATE TABLE leads(id INTEGER PRIMARY KEY AUTOINCREMENT, "
                   "who TEXT NOT NULL DEFAULT 'anon', score REAL)")
    ctx.current_database = "shop"
    return ctx
