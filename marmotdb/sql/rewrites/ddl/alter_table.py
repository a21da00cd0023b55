"""ALTER TABLE: the actions (a table keyed by their first word) change a copy of the stored
``TableDef`` and collect what a SQLite ALTER can do alone (rename, add a plain trailing column,
drop an unindexed column, CREATE/DROP INDEX) or mark that the table must be rebuilt;
bookkeeping-only changes (options, comments, defaults: INSERTs always fill defaults
explicitly) collect nothing. alter_plan.py then picks the plan.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

from marmotdb import errors
from marmotdb.errors import not_supported
from marmotdb.sql import schema
from marmotdb.sql.schema import ColumnDef, TableDef, sql_literal
from marmotdb.sql.definition.partitioning import check_partition_dependency, parse_partitioning
from marmotdb.sql.definition.columns import (
    ParsedColumn,
    canonical_charset,
    canonical_collation,
    default_collation,
    finish_column,
    parse_column,
    parse_default,
    with_collation,
)
from marmotdb.sql.definition.create_table import parse_table_element
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.definition.keys import is_functional, set_visible
from marmotdb.sql.definition.table_options import parse_table_options
from marmotdb.sql.text import lexer
from marmotdb.sql.rewrites.ddl.alter_plan import (
    AlterState,
    load_for_alter,
    new_alter_state,
    plan_alter,
)
from marmotdb.sql.rewrites.ddl.context import DdlContext, DdlResult, check_database
from marmotdb.sql.rewrites.ddl.render import (
    q,
    sqlite_collation,
    sqlite_column,
    sqlite_create_index,
)


def check_dependencies(table: TableDef, name: str) -> None:
    """MySQL refuses to drop or rename a column a functional key part (3837) or the
    partitioning (3855) reads."""
    check_partition_dependency(table, name)
    quoted = schema.quote_ident(name).lower()
    if any(is_functional(p[0]) and quoted in p[0].lower() for i in table.indexes
           for p in i.columns):
        raise errors.error(errors.ER_DEPENDENT_BY_FUNCTIONAL_INDEX, f"Column '{name}' has a "
                           "functional index dependency and cannot be dropped or renamed.")


def _names_read(check: schema.CheckDef) -> set[str]:
    """The names (lower case) a CHECK's expression reads, not the words inside its strings."""
    return {(lexer.quoted_name(t.text) if t.kind == lexer.QUOTED else t.text).lower()
            for t in lexer.tokens(check.expression) if t.kind in (lexer.WORD, lexer.QUOTED)}


def _check_reading(table: TableDef, name: str) -> schema.CheckDef | None:
    return next((c for c in table.checks if name.lower() in _names_read(c)), None)


def _dependent_by_check(check: schema.CheckDef, name: str) -> errors.MarmotError:
    return errors.error(errors.ER_DEPENDENT_BY_CHECK_CONSTRAINT, f"Check constraint "
                        f"'{check.name}' uses column '{name}', hence column cannot be dropped "
                        "or renamed.")


def _drop_checks_of(table: TableDef, name: str) -> None:
    """MySQL drops the CHECKs that read only a dropped column with it and refuses (3959) to
    drop a column a CHECK reads together with others."""
    columns = {c.name.lower() for c in table.columns}
    reading = [c for c in table.checks if name.lower() in _names_read(c)]
    for check in reading:
        if _names_read(check) & columns != {name.lower()}:
            raise _dependent_by_check(check, name)
    table.checks = [c for c in table.checks if c not in reading]


def _column_used(table: TableDef, name: str) -> bool:
    lowered = name.lower()
    in_keys = any(p[0].lower() == lowered for i in table.indexes for p in i.columns)
    in_fks = any(c.lower() == lowered for f in table.foreign_keys for c in f.columns)
    in_checks = _check_reading(table, name) is not None
    in_generated = any(c.generated and re.search(rf"\b{re.escape(name)}\b", c.generated,
                                                  re.IGNORECASE) for c in table.columns)
    return in_keys or in_fks or in_checks or bool(in_generated)


def _simple_add(parsed: ParsedColumn) -> bool:
    column = parsed.column
    return (parsed.position is None and not parsed.primary and not parsed.unique
            and parsed.check is None and parsed.reference is None and not column.auto_increment
            and column.default_kind not in ("now", "expr") and column.generated is None)
    # a generated column is STORED in SQLite (sqlite_column), which ADD COLUMN cannot add


def _alter_add(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    if parser.at("INDEX", "KEY", "UNIQUE", "PRIMARY", "FOREIGN", "CHECK", "CONSTRAINT",
                 "FULLTEXT", "SPATIAL"):
        _alter_add_constraint(parser, state, ctx)
        return
    if parser.at("PARTITION"):
        raise not_supported("ALTER TABLE … ADD PARTITION")
    parser.accept("COLUMN")
    if parser.accept_op("("):
        columns = [parse_column(parser)]
        while parser.accept_op(","):
            columns.append(parse_column(parser))
        parser.expect_op(")")
    else:
        columns = [parse_column(parser)]
    for parsed in columns:
        state.builder.add_column(parsed)
        if _simple_add(parsed):
            state.native.append(f"ALTER TABLE {q(state.new.name)} ADD COLUMN "
                                f"{_added_column_sql(parsed.column, state.new, ctx)}")
        else:
            state.require_rebuild()


def _added_column_sql(column: ColumnDef, table: TableDef, ctx: DdlContext) -> str:
    text = sqlite_column(column, table, ctx)
    if not column.nullable and column.default_kind is None and column.generated is None:
        from marmotdb.sql.functions.store import implicit_default
        text = text.replace(" NOT NULL", " DEFAULT " + sql_literal(
            implicit_default(column.type)) + " NOT NULL", 1)
    return text


def _alter_add_constraint(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    before = list(state.new.indexes)
    parse_table_element(parser, state.builder)
    added = [i for i in state.new.indexes if i not in before]
    if added and all(i.kind != "PRIMARY" for i in added) and len(state.new.foreign_keys) == \
            len(state.old.foreign_keys) and len(state.new.checks) == len(state.old.checks):
        state.native += [sqlite_create_index(state.new, index, ctx=ctx) for index in added
                         if index.kind != "FULLTEXT"]
        return
    state.require_rebuild()


def _alter_drop(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    table = state.new
    if parser.at("PARTITION"):
        raise not_supported("ALTER TABLE … DROP PARTITION")
    if parser.accept_seq("PRIMARY", "KEY"):
        if table.primary_key is None:
            raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                               "Can't DROP 'PRIMARY'; check that column/key exists")
        table.indexes.remove(table.primary_key)
        state.require_rebuild()
    elif parser.accept("INDEX", "KEY"):
        drop_index_of(table, parser.identifier(), state)
    elif parser.accept_seq("FOREIGN", "KEY"):
        name = parser.identifier()
        found = next((f for f in table.foreign_keys if f.name.lower() == name.lower()), None)
        if found is None:
            raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                               f"Can't DROP '{name}'; check that column/key exists")
        table.foreign_keys.remove(found)
        state.require_rebuild()
    elif parser.accept("CHECK", "CONSTRAINT"):
        _drop_constraint(table, parser.identifier(), state)
    else:
        parser.accept("COLUMN")
        _drop_column(table, parser.identifier(), state)


def drop_index_of(table: TableDef, name: str, state: AlterState) -> None:
    found = next((i for i in table.indexes if i.name.lower() == name.lower()), None)
    if found is None:
        raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                           f"Can't DROP '{name}'; check that column/key exists")
    table.indexes.remove(found)
    if found.kind == "PRIMARY":
        state.require_rebuild()
    elif found.sqlite_name:
        state.native.append(f"DROP INDEX IF EXISTS {q(found.sqlite_name)}")


def _drop_constraint(table: TableDef, name: str, state: AlterState) -> None:
    lowered = name.lower()
    check = next((c for c in table.checks if c.name.lower() == lowered), None)
    if check is not None:
        table.checks.remove(check)
        state.require_rebuild()
        return
    fk = next((f for f in table.foreign_keys if f.name.lower() == lowered), None)
    if fk is not None:
        table.foreign_keys.remove(fk)
        state.require_rebuild()
        return
    drop_index_of(table, name, state)


def _drop_column(table: TableDef, name: str, state: AlterState) -> None:
    column = table.column(name)
    if column is None:
        raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                           f"Can't DROP '{name}'; check that column/key exists")
    if any(name.lower() in [c.lower() for c in f.columns] for f in table.foreign_keys):
        raise errors.error(1828, f"Cannot drop column '{column.name}': needed in a foreign key "
                           "constraint")
    if len(table.columns) == 1:
        raise errors.error(1090, "You can't delete all columns with ALTER TABLE; use DROP "
                           "TABLE instead")
    check_dependencies(table, column.name)
    used = _column_used(table, name)
    _drop_checks_of(table, column.name)
    table.columns.remove(column)
    for index in list(table.indexes):
        index.columns = [p for p in index.columns if p[0].lower() != name.lower()]
        if not index.columns:
            table.indexes.remove(index)
    state.sources.pop(name.lower(), None)
    if used:
        state.require_rebuild()
    else:
        state.native.append(f"ALTER TABLE {q(table.name)} DROP COLUMN {q(column.name)}")


def _replace_column(state: AlterState, old_name: str, parsed: ParsedColumn) -> None:
    table = state.new
    old = table.column(old_name)
    if old is None:
        raise errors.error(errors.ER_BAD_FIELD_ERROR,
                           f"Unknown column '{old_name}' in '{table.name}'")
    new = parsed.column
    if new.name.lower() != old.name.lower() and table.column(new.name) is not None:
        raise errors.error(errors.ER_DUP_FIELDNAME, f"Duplicate column name '{new.name}'")
    only_rename = parsed.position is None and _same_definition(old, new) and not (
        parsed.primary or parsed.unique or parsed.check or parsed.reference)
    source = state.sources.pop(old.name.lower(), old.name)
    position = table.columns.index(old)
    table.columns.remove(old)
    if parsed.position is None:
        table.columns.insert(position, new)
    else:
        state.builder.place(new, parsed.position)
    state.sources[new.name.lower()] = source
    _rename_in_keys(table, old.name, new.name)
    state.builder.inline_keys(parsed)
    if only_rename and new.name != old.name:
        state.native.append(f"ALTER TABLE {q(table.name)} RENAME COLUMN {q(old.name)} TO "
                            f"{q(new.name)}")
    elif not only_rename:
        state.require_rebuild()


def _same_definition(old: ColumnDef, new: ColumnDef) -> bool:
    a, b = copy.copy(old), copy.copy(new)
    a.name = b.name = ""
    return a == b


def _rename_in_keys(table: TableDef, old: str, new: str) -> None:
    if old == new:
        return
    if old.lower() != new.lower():
        check_dependencies(table, old)
        check = _check_reading(table, old)
        if check is not None:
            raise _dependent_by_check(check, old)
    for index in table.indexes:
        index.columns = [(new if c.lower() == old.lower() else c, n, d)
                         for c, n, d in index.columns]
    for fk in table.foreign_keys:
        fk.columns = [new if c.lower() == old.lower() else c for c in fk.columns]


def _alter_modify(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    parser.accept("COLUMN")
    parsed = parse_column(parser)
    _replace_column(state, parsed.column.name, parsed)


def _alter_change(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    parser.accept("COLUMN")
    old_name = parser.identifier()
    _replace_column(state, old_name, parse_column(parser))


def _alter_alter(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    if parser.accept("INDEX", "KEY"):  # only the bookkeeping changes: SQLite has no such flag
        name = parser.identifier()
        found = next((i for i in state.new.indexes if i.name.lower() == name.lower()), None)
        if found is None:
            raise errors.error(errors.ER_KEY_DOES_NOT_EXIST, f"Key '{name}' doesn't exist in "
                               f"table '{state.new.name}'")
        set_visible(found, parser.expect("VISIBLE", "INVISIBLE") == "VISIBLE")
        return
    if parser.accept("CHECK"):
        parser.identifier()
        parser.accept("NOT")
        parser.expect("ENFORCED")
        state.require_rebuild()
        return
    parser.accept("COLUMN")
    column = state.new.column(parser.identifier())
    if column is None:
        raise errors.error(errors.ER_BAD_FIELD_ERROR, "Unknown column in 'field list'")
    if parser.accept_seq("SET", "DEFAULT"):
        parse_default(parser, column)
        finish_column(column)
    elif parser.accept_seq("DROP", "DEFAULT"):
        column.default_kind, column.default_value = None, None
    elif parser.accept("SET"):
        parser.expect("VISIBLE", "INVISIBLE")
    else:
        parser.fail()


def _alter_rename(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    table = state.new
    if parser.accept("COLUMN"):
        old, _, new = parser.identifier(), parser.expect("TO"), parser.identifier()
        column = table.column(old)
        if column is None:
            raise errors.error(errors.ER_BAD_FIELD_ERROR,
                               f"Unknown column '{old}' in '{table.name}'")
        if table.column(new) is not None and new.lower() != old.lower():
            raise errors.error(errors.ER_DUP_FIELDNAME, f"Duplicate column name '{new}'")
        state.sources[new.lower()] = state.sources.pop(column.name.lower(), column.name)
        state.native.append(f"ALTER TABLE {q(table.name)} RENAME COLUMN {q(column.name)} TO "
                            f"{q(new)}")
        _rename_in_keys(table, column.name, new)
        column.name = new
    elif parser.accept("INDEX", "KEY"):
        old, _, new = parser.identifier(), parser.expect("TO"), parser.identifier()
        index = next((i for i in table.indexes if i.name.lower() == old.lower()), None)
        if index is None or index.kind == "PRIMARY":
            raise errors.error(errors.ER_CANT_DROP_FIELD_OR_KEY,
                               f"Key '{old}' doesn't exist in table '{table.name}'")
        if index.sqlite_name:
            state.native.append(f"DROP INDEX IF EXISTS {q(index.sqlite_name)}")
        index.name, index.sqlite_name = new, None
        if index.kind != "FULLTEXT":
            state.native.append(sqlite_create_index(table, index, ctx=ctx))
    else:
        parser.accept("TO", "AS")
        db, new = parser.qualified_name()
        check_database(db, ctx)
        state.rename_to = new


def _alter_convert(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    parser.expect("TO")
    parser.accept("CHARACTER")
    parser.accept("SET", "CHARSET")
    charset = canonical_charset(parser.identifier())
    collation = canonical_collation(parser.identifier()) if parser.accept("COLLATE") \
        else default_collation(charset)
    before = [sqlite_collation(c) for c in state.new.columns]
    state.new.charset, state.new.collation = charset, collation
    for column in state.new.columns:
        if column.type.family in ("text", "enum", "set"):
            column.charset, column.collation = None, None
            column.type = with_collation(column.type, collation)
    if before != [sqlite_collation(c) for c in state.new.columns]:
        state.require_rebuild()


def _alter_options(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    if parser.accept("AUTO_INCREMENT"):
        state.sequence = int(parser.option_value())
        state.new.auto_increment = state.sequence
        return
    parse_table_options(parser, state.new)


def _alter_ignored(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    word = parser.token.upper
    parser.pos += 1
    if word in ("ALGORITHM", "LOCK"):
        parser.option_value()
    elif word in ("ENABLE", "DISABLE"):
        parser.expect("KEYS")
    elif word == "ORDER":
        parser.expect("BY")
        while not (parser.at_op(",") or parser.token.kind == "end"):
            parser.pos += 1


def _alter_partition(parser: DdlParser, state: AlterState, ctx: DdlContext) -> None:
    """PARTITION BY … and REMOVE PARTITIONING change what the definition keeps and shows
    (definition/partitioning.py; rows stay where they are). What acts on partitions (ADD,
    DROP, TRUNCATE, REORGANIZE … PARTITION) has nothing to act on: 1235."""
    if parser.at("PARTITION") and parser.peek().upper == "BY":
        parser.pos += 1
        parse_partitioning(parser, state.new)
    elif parser.accept_seq("REMOVE", "PARTITIONING"):
        if not state.new.partitioning:
            raise errors.error(1505, "Partition management on a not partitioned table is not "
                               "possible")
        state.new.partitioning = None
    else:
        raise not_supported(f"ALTER TABLE … {parser.token.upper} PARTITION")


# ALTER TABLE's partition operations (besides ADD / DROP PARTITION): 1235
_PARTITION_OPERATIONS = ("TRUNCATE", "COALESCE", "REORGANIZE", "EXCHANGE", "REBUILD",
                         "OPTIMIZE", "ANALYZE", "CHECK", "REPAIR", "DISCARD", "IMPORT")
AlterAction = Callable[[DdlParser, AlterState, DdlContext], None]
_ALTER_ACTIONS: dict[str, AlterAction] = {
    "ADD": _alter_add, "DROP": _alter_drop, "MODIFY": _alter_modify, "CHANGE": _alter_change,
    "ALTER": _alter_alter, "RENAME": _alter_rename, "CONVERT": _alter_convert,
    "ENGINE": _alter_options, "AUTO_INCREMENT": _alter_options, "COMMENT": _alter_options,
    "ROW_FORMAT": _alter_options, "DEFAULT": _alter_options, "CHARSET": _alter_options,
    "CHARACTER": _alter_options, "COLLATE": _alter_options, "ALGORITHM": _alter_ignored,
    "LOCK": _alter_ignored, "FORCE": _alter_ignored, "ENABLE": _alter_ignored,
    "DISABLE": _alter_ignored, "ORDER": _alter_ignored, "PARTITION": _alter_partition,
    "REMOVE": _alter_partition, **dict.fromkeys(_PARTITION_OPERATIONS, _alter_partition),
    "KEY_BLOCK_SIZE": _alter_options,
    "STATS_PERSISTENT": _alter_options, "PACK_KEYS": _alter_options,
    "CHECKSUM": _alter_options, "TABLESPACE": _alter_options, "AUTOEXTEND_SIZE": _alter_options,
    "SECONDARY_ENGINE": _alter_options, "ENGINE_ATTRIBUTE": _alter_options,
    "SECONDARY_ENGINE_ATTRIBUTE": _alter_options,
}


def alter_table(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    parser.accept("ONLINE", "OFFLINE")
    parser.accept("IGNORE")
    parser.expect("TABLE")
    db, name = parser.qualified_name()
    check_database(db, ctx)
    old = load_for_alter(ctx, name)
    state = new_alter_state(old)
    while not parser.done():
        word = parser.token.upper
        action = _ALTER_ACTIONS.get(word)
        if action is None:
            parser.fail()
        if word in ("ADD", "DROP", "MODIFY", "CHANGE", "ALTER", "RENAME", "CONVERT"):
            parser.pos += 1
        action(parser, state, ctx)  # type: ignore[misc]
        parser.accept_op(",")
    return plan_alter(state, ctx)


