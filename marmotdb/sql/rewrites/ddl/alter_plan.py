"""The plan of an ALTER TABLE (and of CREATE / DROP INDEX, which are ALTERs of one key): the
old and new ``TableDef`` side by side (``AlterState``), then the cheapest faithful plan — the
SQLite statements the actions collected (``native``: RENAME, ADD / DROP COLUMN, CREATE / DROP
INDEX), or a table rebuild: SQLite's 12-step procedure (rename away under
``legacy_alter_table``, create, copy through ``MYSQL_STORE`` so strict-mode conversion errors
abort the ALTER as in MySQL, drop, re-create indexes and triggers) with ``foreign_keys_off``
set for the executor; a copy that only widens a column passes the value through unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from marmotdb import errors
from marmotdb.sql import schema
from marmotdb.sql.rewrites import foreign_keys as rewrites_fk
from marmotdb.sql.schema import ColumnDef, TableDef, sql_literal
from marmotdb.sql.types import coltypes
from marmotdb.sql.types.coltypes import MySqlType
from marmotdb.sql.definition.keys import TableBuilder
from marmotdb.sql.rewrites.ddl import referencing
from marmotdb.sql.rewrites.ddl.context import (
    DdlContext,
    DdlResult,
    bookkeeping,
    check_foreign_key_names,
)
from marmotdb.sql.rewrites.ddl.render import (
    check_parent_tables,
    default_expression,
    finish_for_storage,
    q,
    sequence_statements,
    sqlite_create_index,
    sqlite_create_table,
    sqlite_indexes,
)


@dataclass(slots=True)
class AlterState:
    old: TableDef
    new: TableDef
    builder: TableBuilder
    rebuild: bool = False
    native: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # new column (lower) -> old name
    rename_to: str | None = None
    sequence: int | None = None

    def require_rebuild(self) -> None:
        self.rebuild = True


def load_for_alter(ctx: DdlContext, name: str) -> TableDef:
    table = ctx.table_def(name)
    if table is None:
        if ctx.is_view(name):
            raise errors.error(errors.ER_WRONG_OBJECT,
                               f"'{ctx.database}.{name}' is not BASE TABLE")
        raise errors.error(errors.ER_NO_SUCH_TABLE,
                           f"Table '{ctx.database or 'marmot'}.{name}' doesn't exist")
    return table


def new_alter_state(old: TableDef) -> AlterState:
    new = copy.deepcopy(old)
    return AlterState(old=old, new=new, builder=TableBuilder(new),
                      sources={c.name.lower(): c.name for c in old.columns})


def plan_alter(state: AlterState, ctx: DdlContext) -> DdlResult:
    before = list(state.new.indexes)
    state.new = state.builder.finish()
    if not state.rebuild:  # generated keys a new key made redundant (definition/keys.py)
        state.native += [f"DROP INDEX IF EXISTS {q(i.sqlite_name)}" for i in before
                         if i.sqlite_name and not any(i is k for k in state.new.indexes)]
    table = finish_for_storage(state.new, ctx)
    old_names = {f.name.lower() for f in state.old.foreign_keys}
    added = [f for f in table.foreign_keys if f.name.lower() not in old_names]
    check_parent_tables(table, added, ctx)
    check_foreign_key_names(ctx, state.old.name, [f.name for f in added])
    rewrites_fk.check_alter(state.old, table, state.sources, ctx)
    old_name = state.old.name
    renamed = referencing.renamed_columns(state.sources, table)
    rewrites_fk.check_column_renames(old_name, renamed, ctx)
    referencing.follow(table, old_name, old_name, renamed)  # its keys to itself
    if state.rebuild:
        probes = rewrites_fk.foreign_key_probes(state.old, table, ctx)
        statements = _renamed_first(state, renamed, ctx) + _rebuild(state, ctx) + probes
    else:
        statements = list(state.native)
    statements += sequence_statements(table, state.sequence)
    tables = [old_name.lower()]
    new_name = old_name
    if state.rename_to and state.rename_to.lower() != old_name.lower():
        rewrites_fk.check_rename(old_name, ctx)
        if ctx.exists(state.rename_to):
            raise errors.error(errors.ER_TABLE_EXISTS_ERROR,
                               f"Table '{state.rename_to}' already exists")
        statements.append(f"ALTER TABLE {q(old_name)} RENAME TO {q(state.rename_to)}")
        statements.append(schema.delete_statement("table", old_name))
        table.name = new_name = state.rename_to
        referencing.rename_generated_keys(table, old_name)
        referencing.follow(table, old_name, new_name, {})
        tables.append(state.rename_to.lower())
    statements += referencing.children_statements(ctx, old_name, new_name, renamed)
    return DdlResult(statements + bookkeeping(table), tables=tuple(tables),
                     foreign_keys_off=state.rebuild,
                     reads=rewrites_fk.probed_elsewhere(state.old, table, ctx)
                     if state.rebuild else ())


def _renamed_first(state: AlterState, renamed: dict[str, str], ctx: DdlContext) -> list[str]:
    """A rebuild re-creates the table under its name, so the FOREIGN KEY clauses of its
    children in SQLite would still name its old columns: the columns they refer to are renamed
    by SQLite's own RENAME COLUMN first (which rewrites those clauses), and the copy reads them
    by their new names."""
    referred = {c.lower() for child in ctx.child_tables(state.old.name)
                if child.name.lower() != state.old.name.lower()
                for fk in child.foreign_keys
                if not fk.ref_database and fk.ref_table.lower() == state.old.name.lower()
                for c in fk.ref_columns}
    first = {old: new for old, new in renamed.items() if old in referred}
    if not first:
        return []
    kept = {c.name.lower() for c in state.old.columns} - set(renamed)
    if any(new.lower() in kept or new.lower() in renamed for new in first.values()):
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'ALTER TABLE that gives a referenced column the name of "
                           "another column of the table'")
    state.old = copy.deepcopy(state.old)
    statements = []
    for column in state.old.columns:
        new = first.get(column.name.lower())
        if new is not None:
            statements.append(f"ALTER TABLE {q(state.old.name)} RENAME COLUMN "
                              f"{q(column.name)} TO {q(new)}")
            state.sources[new.lower()] = new
            column.name = new
    return statements


def _copy_value(column: ColumnDef, state: AlterState) -> str:
    source_name = state.sources.get(column.name.lower())
    source = state.old.column(source_name) if source_name else None
    if source is None:
        if column.auto_increment:
            return _row_numbers(state.old)
        from sqlglot import exp as sqlexp
        value = default_expression(column)
        return value.sql(dialect="sqlite") if isinstance(value, sqlexp.Expression) else "NULL"
    ref = q(source.name)
    if _widens(source.type, column.type) and source.charset == column.charset and \
            (column.nullable or not source.nullable):
        return ref  # every old value is a valid new one, unchanged: no per-row coercion
    type_text = column.type.column_type() + ("" if column.nullable else " not null")
    value = (f"MYSQL_STORE({ref}, {sql_literal(type_text)}, {sql_literal(column.name)}, 1, "
             f"{STORE_ALTER})")
    return f"NULLIF({value}, 0)" if column.auto_increment else value


def _row_numbers(old: TableDef) -> str:
    """An added AUTO_INCREMENT column numbers the existing rows from 1 in the order InnoDB
    keeps them: the old primary key's, else insertion order (rowid, which a table without a
    key keeps on every node), so every node numbers them alike."""
    key = old.primary_key
    order = ", ".join(q(c) for c, _, _ in key.columns) if key is not None else "rowid"
    return f"ROW_NUMBER() OVER (ORDER BY {order})"


STORE_ALTER = 2  # MYSQL_STORE mode of ALTER TABLE's copy: MySQL reports 1265 / 1138 there


_SIZED = {**coltypes.TEXT_BYTES_MAX, **coltypes.BLOB_BYTES_MAX}


def _widens(old: MySqlType, new: MySqlType) -> bool:
    """Whether every value of ``old`` is stored unchanged as a valid ``new`` (a rebuild's copy
    then passes it through raw, not through MYSQL_STORE, a Python call per row): the same type,
    a longer VARCHAR or VARBINARY of the same character set, a bigger TEXT or BLOB, or a wider
    integer of the same signedness."""
    if old == new:
        return True
    if old.charset != new.charset or old.zerofill != new.zerofill:
        return False
    if old.name == new.name and old.name in ("varchar", "varbinary"):
        return (new.length or 0) >= (old.length or 0)
    if old.name in _SIZED and new.name in _SIZED and old.family == new.family:
        return _SIZED[new.name] >= _SIZED[old.name]
    ranges = coltypes.INTEGER_RANGES
    if old.name in ranges and new.name in ranges and old.unsigned == new.unsigned:
        return ranges[new.name][1] >= ranges[old.name][1]
    return False


def _rebuild(state: AlterState, ctx: DdlContext) -> list[str]:
    """The 12-step table rebuild (SQLite's recipe), keeping rows, counter and triggers."""
    table, name = state.new, state.old.name
    old = f"__marmot_old_{name}"
    targets = [c for c in table.columns if c.generated is None]
    triggers = ctx.sqlite_triggers(name)
    statements = ["PRAGMA legacy_alter_table = ON",
                  f"ALTER TABLE {q(name)} RENAME TO {q(old)}"]
    if triggers is None:  # cannot re-create them: refuse rather than drop them silently
        statements.append(
            "SELECT MYSQL_REFUSE('ALTER TABLE that rebuilds a table with triggers') FROM "
            f"sqlite_schema WHERE type = 'trigger' AND tbl_name = {sql_literal(old)}")
        triggers = []
    statements += sqlite_create_table(table, ctx)[:1]
    # A table without a primary key is keyed by rowid (row versions, write sets): keep them.
    into, values = [q(c.name) for c in targets], [_copy_value(c, state) for c in targets]
    if table.primary_key is None:
        into, values = ["rowid", *into], ["rowid", *values]
    statements.append(f"INSERT INTO {q(name)} ({', '.join(into)}) "
                      f"SELECT {', '.join(values)} FROM {q(old)}")
    if table.auto_increment_column is not None and state.old.auto_increment_column is not None:
        statements += [f"DELETE FROM sqlite_sequence WHERE name = {sql_literal(name)}",
                       (f"UPDATE sqlite_sequence SET name = {sql_literal(name)} "
                        f"WHERE name = {sql_literal(old)}")]
    statements.append(f"DROP TABLE {q(old)}")
    statements += [sqlite_create_index(table, i) for i in sqlite_indexes(table)]
    statements += triggers
    statements.append("PRAGMA legacy_alter_table = OFF")
    return statements
