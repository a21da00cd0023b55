"""MySQL's FOREIGN KEY rules for DDL while foreign_key_checks is on.

Theory of operation
-------------------
DDL that rebuilds or drops a table runs with SQLite's foreign keys off (a rebuild's DROP of the
old copy must not cascade), so SQLite enforces nothing during it. MySQL 8 decides per statement
what it refuses while ``foreign_key_checks = 1``, and these checks say the same at translation
time, before anything runs:

* DROP TABLE of a table another table's FOREIGN KEY refers to: 3730 (unless that table is
  dropped by the same statement); TRUNCATE TABLE of one: 1701;
* ALTER TABLE that changes the type of a column of a FOREIGN KEY to one the other side's column
  is not compatible with: 3780; that drops a referenced column (1829) or the unique key SQLite
  needs on the referenced columns (1553);
* ALTER TABLE that adds a FOREIGN KEY validates the existing rows against it (1452):
  ``foreign_key_probes`` are statements run after the rebuild that fail on the first row
  without its parent (MATCH SIMPLE: a row with a NULL in the key is not checked). Only the
  added keys are checked: rows left without a parent while the checks were off stay, as in
  MySQL.

With ``foreign_key_checks = 0`` none of this applies (mysqldump restores and migration tools
rely on that), except one refusal made either way: renaming a parent table or a referenced
column that another database's FOREIGN KEY names (1235), since MySQL would rename it in that
child's definition, a write to another database in this DDL. Children in the same database
follow the rename (rewrites/ddl/referencing.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marmotdb import errors
from marmotdb.sql.rewrites.expressions import not_supported
from marmotdb.sql.schema import (
    ColumnDef,
    ForeignKeyDef,
    TableDef,
    quote_ident,
    referenced_table,
    sql_literal,
)

if TYPE_CHECKING:
    from marmotdb.sql.rewrites.ddl.context import DdlContext

def checks_on(ctx: DdlContext) -> bool:
    return bool(getattr(ctx, "foreign_key_checks", True))


def _references(ctx: DdlContext, table: str) -> list[tuple[TableDef, ForeignKeyDef]]:
    """(child table, its FOREIGN KEY) for every key that refers to ``table``."""
    return [(child, fk) for child in ctx.child_tables(table) for fk in child.foreign_keys
            if fk.ref_table.lower() == table.lower() and not fk.ref_database]


def _children_elsewhere(ctx: DdlContext, table: str) -> list[tuple[str, str, ForeignKeyDef]]:
    """(database, table, key) of other databases' FOREIGN KEYs to ``table`` (the DdlContext's
    optional ``children_elsewhere``: sql/foreign_keys_across.py)."""
    method = getattr(ctx, "children_elsewhere", None)
    return list(method(table)) if method is not None else []


def parent_elsewhere_exists(fk: ForeignKeyDef, ctx: DdlContext) -> bool:
    """Does the parent table of a key to another database exist there?"""
    method = getattr(ctx, "other_table_def", None)
    return method is not None and method(fk.ref_database, fk.ref_table) is not None


def check_drop(names: list[str], ctx: DdlContext) -> None:
    if not checks_on(ctx):
        return
    dropped = {n.lower() for n in names}
    for name in names:
        for child, fk in _references(ctx, name):
            if child.name.lower() not in dropped:
                raise errors.error(errors.ER_FK_CANNOT_DROP_PARENT, f"Cannot drop table '{name}' "
                                   f"referenced by a foreign key constraint '{fk.name}' on table "
                                   f"'{child.name}'.")
        for _, other, fk in _children_elsewhere(ctx, name):
            raise errors.error(errors.ER_FK_CANNOT_DROP_PARENT, f"Cannot drop table '{name}' "
                               f"referenced by a foreign key constraint '{fk.name}' on table "
                               f"'{other}'.")


def check_rename(name: str, ctx: DdlContext) -> None:
    """A table another database's FOREIGN KEY refers to keeps its name: MySQL renames the
    parent in the child's definition, which here is a write to the child's database in this
    DDL's transaction (txn/DESIGN.md §10.2). With the checks on or off, as MySQL renames it
    either way."""
    for database, child, fk in _children_elsewhere(ctx, name):
        raise not_supported(f"RENAME of a table a FOREIGN KEY of another database refers to "
                            f"(`{database}`.`{child}`, CONSTRAINT `{fk.name}`)")


def check_column_renames(name: str, renamed: dict[str, str], ctx: DdlContext) -> None:
    """The columns another database's FOREIGN KEY refers to keep their names, for the same
    reason as the table's (check_rename): MySQL renames them in that child's definition."""
    for database, child, fk in _children_elsewhere(ctx, name):
        if any(c.lower() in renamed for c in fk.ref_columns):
            raise not_supported(f"RENAME of a column a FOREIGN KEY of another database refers "
                                f"to (`{database}`.`{child}`, CONSTRAINT `{fk.name}`)")


def check_truncate(name: str, ctx: DdlContext) -> None:
    if not checks_on(ctx):
        return
    children = [(ctx.database or "marmot", child.name, fk) for child, fk in _references(ctx, name)
                if child.name.lower() != name.lower()] + _children_elsewhere(ctx, name)
    for database, child_name, fk in children:
        raise errors.error(errors.ER_TRUNCATE_ILLEGAL_FK, "Cannot truncate a table "
                           "referenced in a foreign key constraint "
                           f"(`{database}`.`{child_name}`, CONSTRAINT `{fk.name}`)")


def check_alter(old: TableDef, new: TableDef, renamed: dict[str, str], ctx: DdlContext) -> None:
    """``renamed``: new column name (lower-case) -> the old column it comes from."""
    if not checks_on(ctx):
        return
    kept = {fk.name.lower() for fk in old.foreign_keys}
    for fk in new.foreign_keys:
        if fk.ref_database:
            parent = _other_table(ctx, fk.ref_database, fk.ref_table)
        else:
            parent = new if fk.ref_table.lower() == new.name.lower() else \
                ctx.table_def(fk.ref_table)
        if fk.name.lower() in kept and parent is not None:
            _compatible(fk, new, parent, fk.columns, old)
    for child, fk in _references(ctx, old.name):
        if child.name.lower() != old.name.lower():
            _parent_keeps(fk, child, old, new, renamed)
    for database, child_name, fk in _children_elsewhere(ctx, old.name):
        if (child := _other_table(ctx, database, child_name)) is not None:
            _parent_keeps(fk, child, old, new, renamed)


def _other_table(ctx: DdlContext, database: str, table: str) -> TableDef | None:
    method = getattr(ctx, "other_table_def", None)
    return method(database, table) if method is not None else None


def _parent_keeps(fk: ForeignKeyDef, child: TableDef, old: TableDef, new: TableDef,
                  renamed: dict[str, str]) -> None:
    sources = {v.lower(): k for k, v in renamed.items()}
    columns = [sources.get(c.lower(), "") for c in fk.ref_columns]
    for before, after in zip(fk.ref_columns, columns):
        if new.column(after) is None:
            raise errors.error(errors.ER_FK_COLUMN_CANNOT_DROP_CHILD, f"Cannot drop column "
                               f"'{before}': needed in a foreign key constraint '{fk.name}' of "
                               f"table '{child.name}'")
    if not any(i.kind != "INDEX" and [p[0].lower() for p in i.columns] == columns
               for i in new.indexes):
        dropped = next((i.name for i in old.indexes if i.kind != "INDEX" and
                        [p[0].lower() for p in i.columns] == [c.lower() for c in fk.ref_columns]),
                       "PRIMARY")
        raise errors.error(errors.ER_DROP_INDEX_FK, f"Cannot drop index '{dropped}': needed in "
                           "a foreign key constraint")
    _compatible(fk, child, new, fk.columns, old, parent_columns=columns)


def _compatible(fk: ForeignKeyDef, child: TableDef, parent: TableDef, child_columns: list[str],
                before: TableDef, parent_columns: list[str] | None = None) -> None:
    """3780 when a changed column of the key no longer matches the other side's type."""
    for mine, theirs in zip(child_columns, parent_columns or fk.ref_columns):
        referencing, referenced = child.column(mine), parent.column(theirs)
        if referencing is None or referenced is None:
            continue
        changed = [c for c in (referencing, referenced)
                   if (b := before.column(c.name)) is not None and b.type != c.type]
        if changed and not _same_kind(referencing, referenced):
            raise errors.error(errors.ER_FK_INCOMPATIBLE_COLUMNS, f"Referencing column "
                               f"'{mine}' and referenced column '{theirs}' in foreign key "
                               f"constraint '{fk.name}' are incompatible.")


def _same_kind(a: ColumnDef, b: ColumnDef) -> bool:
    """MySQL's "similar data types" of a key's two columns: integers of one size and sign,
    decimals of one precision and scale, any two character types, else the same type."""
    x, y = a.type, b.type
    if x.family == "text" and y.family == "text":
        return True
    if x.family in ("int", "decimal"):
        return (x.name, x.unsigned, x.scale) == (y.name, y.unsigned, y.scale) and (
            x.family == "int" or x.length == y.length)
    return x.name == y.name


def foreign_key_probes(old: TableDef, new: TableDef, ctx: DdlContext) -> list[str]:
    """Statements that fail with 1452 if a FOREIGN KEY the ALTER adds has a row without its
    parent (run after the rebuild, while foreign keys are off)."""
    if not checks_on(ctx):
        return []
    from marmotdb.sql.rewrites.ddl.render import q  # which imports this module
    kept = {fk.name.lower() for fk in old.foreign_keys}
    probes = []
    for fk in new.foreign_keys:
        if fk.name.lower() in kept:
            continue
        present = " AND ".join(f"c.{q(col)} IS NOT NULL" for col in fk.columns)
        matched = " AND ".join(f"p.{q(r)} = c.{q(col)}"
                               for col, r in zip(fk.columns, fk.ref_columns))
        # another database's parent is read where it is attached (DdlResult.reads)
        parent = f"{q(fk.ref_database)}.{q(fk.ref_table)}" if fk.ref_database else \
            q(fk.ref_table)
        where = sql_literal(f"`{ctx.database or 'marmot'}`.`{new.name}`, CONSTRAINT "
                            f"`{fk.name}` FOREIGN KEY ({_listed(fk.columns)}) REFERENCES "
                            f"{referenced_table(fk)} ({_listed(fk.ref_columns)})")
        probes.append(f"SELECT MYSQL_FK_FAILS({where}) FROM {q(new.name)} AS c WHERE {present} "
                      f"AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {matched}) "
                      "LIMIT 1")
    return probes


def probed_elsewhere(old: TableDef, new: TableDef, ctx: DdlContext
                     ) -> tuple[tuple[str, str], ...]:
    """(database, table) of the other databases' parents ``foreign_key_probes`` reads."""
    if not checks_on(ctx):
        return ()
    kept = {fk.name.lower() for fk in old.foreign_keys}
    return tuple((fk.ref_database, fk.ref_table) for fk in new.foreign_keys
                 if fk.ref_database and fk.name.lower() not in kept)


def _listed(columns: list[str]) -> str:
    return ", ".join(quote_ident(c) for c in columns)
