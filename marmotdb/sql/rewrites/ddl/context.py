"""What a DDL translation needs and gives: ``DdlContext`` (the translator's view of the
database: table definitions, existence, expression and SELECT translation) and ``DdlResult``
(the SQLite statements in order, the tables touched, whether foreign keys are off while they
run); the ``__marmot_schema`` bookkeeping write and the one-database rule shared by every
statement family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from marmotdb import errors
from marmotdb.errors import not_supported
from marmotdb.sql import schema
from marmotdb.sql.schema import TableDef


class DdlContext(Protocol):
    """What DDL translation needs from the translator (implemented in translate.py)."""

    database: str

    def table_def(self, name: str) -> TableDef | None: ...
    def exists(self, name: str) -> bool: ...
    def is_view(self, name: str) -> bool: ...
    def sqlite_triggers(self, table: str) -> list[str] | None: ...
    def expression(self, mysql_expression: str) -> str: ...
    def select(self, mysql_select: str) -> str: ...
    def trigger_statements(self, mysql_statement: str) -> list[str]: ...
    def child_tables(self, name: str) -> list[TableDef]: ...
    @property
    def creation_charsets(self) -> schema.CreationCharsets: ...
    @property
    def database_charset(self) -> tuple[str, str]: ...
    # optional: ``ddl_default_database`` (str: what unqualified names in a CREATE TABLE …
    # SELECT mean when the table is created in another database than the current one, '' for
    # no database selected); ``other_table_def(database, name)`` gives the columns such a
    # SELECT copies from another database


@dataclass(slots=True)
class DdlResult:
    statements: list[str]
    tables: tuple[str, ...] = ()
    foreign_keys_off: bool = False
    temporary: bool = False  # CREATE TEMPORARY TABLE
    # (database, table) of other databases' tables its statements read (attached to the
    # write connection first): the parents an added FOREIGN KEY's probe checks
    reads: tuple[tuple[str, str], ...] = ()
    # CREATE TABLE … SELECT reading another database's tables: the MySQL ``INSERT … SELECT``
    # that fills the table, run by the executor as a write of its own once the table exists
    # (its rows replicate as row images; the statements above would replay the SELECT on a
    # replica, which has no other database attached)
    rows_from: str | None = None


def bookkeeping(table: TableDef, *, keep_existing: bool = False) -> list[str]:
    statements = schema.table_statements(table)
    if keep_existing:
        statements = [s.replace("INSERT OR REPLACE", "INSERT OR IGNORE", 1) for s in statements]
    return statements


def check_foreign_key_names(ctx: DdlContext, table: str, names: list[str]) -> None:
    """MySQL's FOREIGN KEY names are unique in a database, not only in a table: 1826 when
    another table has one of ``names`` (the DdlContext's optional ``foreign_key_owner(name)``,
    the table whose stored definition has a key of that name)."""
    owner_of = getattr(ctx, "foreign_key_owner", None)
    for name in names if owner_of is not None else ():
        owner = owner_of(name)
        if owner is not None and owner.lower() != table.lower():
            raise errors.error(errors.ER_FK_DUP_NAME,
                               f"Duplicate foreign key constraint name '{name}'")


def check_database(db: str | None, ctx: DdlContext) -> None:
    if db is not None and ctx.database and db.lower() != ctx.database.lower():
        raise not_supported("DDL naming tables of more than one database")
