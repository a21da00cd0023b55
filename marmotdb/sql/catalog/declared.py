"""A table as its stored MySQL DDL declares it, in the catalog's terms.

The stored SHOW CREATE text (``__marmot_schema.mysql_sql``) is read by the one CREATE TABLE
reader the translation uses (sql/definition/create_table.py) into a ``TableDef``; this module
turns that into the ``TableModel`` the catalog describes (model.py): MySQL's COLUMN_TYPE
spelling, COLUMN_DEFAULT as MySQL shows it, keys with 'A'/'D' collation, foreign key rules with
NO ACTION spelt out. snapshot.py then reconciles it with what SQLite holds. There is no second
parser: whatever the translation accepts, the catalog describes the same way.

The reader validates as it reads (it is the translation's), a few hundred microseconds a table;
a snapshot is rebuilt after every DDL of its database, so the definitions read are kept by
their text (``DECLARED_TABLES_CACHED_MAX``) and only a changed table is read again.
"""

from __future__ import annotations

from functools import lru_cache

from marmotdb.sql.catalog.model import (
    CheckModel,
    ColumnModel,
    ForeignKeyModel,
    IndexModel,
    TableModel,
)
from marmotdb.sql.definition.create_table import parse_create_table
from marmotdb.sql.schema import (
    CheckDef,
    ColumnDef,
    ForeignKeyDef,
    IndexDef,
    TableDef,
    default_for_catalog,
)

DECLARED_TABLES_CACHED_MAX = 1024  # stored CREATE TABLE texts whose TableDef is kept (LRU)
_DEFAULT_KINDS = {None: "none", "null": "null", "value": "literal", "now": "expression",
                  "expr": "expression"}


def declared_table(mysql_sql: str) -> TableModel:
    """The model of a stored CREATE TABLE; raises what the reader raises (a MarmotError) when
    the text is not one it accepts."""
    return table_model_of(_read(mysql_sql))


@lru_cache(maxsize=DECLARED_TABLES_CACHED_MAX)
def _read(mysql_sql: str) -> TableDef:
    """The definition of a stored text; shared between callers, so only read, never changed
    (``table_model_of`` copies what it keeps)."""
    return parse_create_table(mysql_sql)


def table_model_of(table: TableDef) -> TableModel:
    model = TableModel(table.name, engine=table.engine, charset=table.charset,
                       collation=table.collation, comment=table.comment,
                       options=dict(table.options), auto_increment=table.auto_increment)
    if table.row_format:
        model.row_format = table.row_format
        model.create_options = f"row_format={table.row_format.upper()}"
    if table.partitioning:
        model.partitioning = table.partitioning
        model.create_options = (model.create_options + " partitioned").strip()
    model.columns = [_column(c) for c in table.columns]
    model.indexes = [_index(i) for i in table.indexes]
    model.foreign_keys = [_foreign_key(fk) for fk in table.foreign_keys]
    model.checks = [_check(c) for c in table.checks]
    return model


def _column(column: ColumnDef) -> ColumnModel:
    t = column.type
    on_update = None
    if column.on_update_fsp is not None:
        fsp = column.on_update_fsp
        on_update = f"CURRENT_TIMESTAMP({fsp})" if fsp else "CURRENT_TIMESTAMP"
    return ColumnModel(column.name, t.name, t.column_type(), nullable=column.nullable,
                       default=default_for_catalog(column),
                       default_kind=_DEFAULT_KINDS[column.default_kind],
                       auto_increment=column.auto_increment, on_update=on_update,
                       comment=column.comment, charset=column.charset,
                       collation=column.collation, generated=column.generated,
                       generated_stored=column.stored)


def _index(index: IndexDef) -> IndexModel:
    parts = [(name, length, "D" if descending else "A")
             for name, length, descending in index.columns]
    return IndexModel(index.name, index.kind, parts, index.comment, index.visible)


def _foreign_key(fk: ForeignKeyDef) -> ForeignKeyModel:
    return ForeignKeyModel(fk.name, list(fk.columns), fk.ref_table, list(fk.ref_columns),
                           fk.on_delete or "NO ACTION", fk.on_update or "NO ACTION",
                           ref_schema=fk.ref_database)


def _check(check: CheckDef) -> CheckModel:
    return CheckModel(check.name, check.expression, check.enforced)
