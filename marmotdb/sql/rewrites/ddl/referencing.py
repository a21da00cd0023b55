"""FOREIGN KEYs follow the renames of what they name: a parent table renamed (RENAME TABLE,
ALTER TABLE … RENAME TO) or a referenced column renamed (RENAME COLUMN, CHANGE).

MySQL rewrites the children's key definitions itself, so SHOW CREATE TABLE, mysqldump and
INFORMATION_SCHEMA (KEY_COLUMN_USAGE, REFERENTIAL_CONSTRAINTS) name the new table and column.
SQLite does the same in its own FOREIGN KEY clauses (ALTER TABLE … RENAME, non-legacy); the
children's stored MySQL definitions in ``__marmot_schema`` are ours to change, so the DDL's
statements end with the bookkeeping write of every child whose keys changed: an ``INSERT OR
REPLACE`` of its row, which replicates with the DDL and is idempotent on replay (ddl/DESIGN.md
§8). No privilege on the children is needed, as in MySQL. Children in another database are not
changed here: such a rename is refused (rewrites/foreign_keys.py).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

from marmotdb.sql.schema import TableDef
from marmotdb.sql.rewrites.ddl.context import DdlContext, bookkeeping


def renamed_columns(sources: Mapping[str, str], table: TableDef) -> dict[str, str]:
    """Old column name (lower-case) -> its new name, for the columns of ``table`` an ALTER
    renamed (``sources``: AlterState's new column (lower) -> the old column it comes from)."""
    renamed = {}
    for column in table.columns:
        source = sources.get(column.name.lower())
        if source is not None and source != column.name:
            renamed[source.lower()] = column.name
    return renamed


def follow(table: TableDef, parent: str, new_parent: str, columns: Mapping[str, str]) -> bool:
    """Point ``table``'s keys to ``parent`` (of its own database) at ``new_parent`` and at the
    new names of the renamed ``columns`` (old lower-case -> new); whether any key changed."""
    changed = False
    for fk in table.foreign_keys:
        if fk.ref_database or fk.ref_table.lower() != parent.lower():
            continue
        ref_columns = [columns.get(c.lower(), c) for c in fk.ref_columns]
        if fk.ref_table != new_parent or ref_columns != fk.ref_columns:
            fk.ref_table, fk.ref_columns = new_parent, ref_columns
            changed = True
    return changed


def rename_generated_keys(table: TableDef, old: str) -> None:
    """InnoDB names an unnamed FOREIGN KEY ``<table>_ibfk_<n>`` and renames it with its table
    (RENAME TABLE, ALTER TABLE … RENAME): ``table`` (already under its new name) gets
    ``<new>_ibfk_<n>``, so a new table under the old name can number its keys from 1 again."""
    prefix = f"{old.lower()}_ibfk_"
    for fk in table.foreign_keys:
        if fk.name.lower().startswith(prefix):
            fk.name = f"{table.name}_ibfk_{fk.name[len(prefix):]}"


def follow_tables(table: TableDef, parents: Mapping[str, str]) -> bool:
    """Point ``table``'s keys to renamed parents (of its own database) at their new names
    (``parents``: old name lower-case -> new name, one step: RENAME TABLE's chains and swaps
    resolved by the caller); whether any key changed."""
    changed = False
    for fk in table.foreign_keys:
        new = None if fk.ref_database else parents.get(fk.ref_table.lower())
        if new is not None and new != fk.ref_table:
            fk.ref_table, changed = new, True
    return changed


def children_statements(ctx: DdlContext, parent: str, new_parent: str,
                        columns: Mapping[str, str], skip: Iterable[str] = ()) -> list[str]:
    """The bookkeeping writes of ``parent``'s children (itself and the tables in ``skip``,
    which the caller writes, left out) whose keys follow the renames."""
    if new_parent == parent and not columns:
        return []
    left_out = {parent.lower(), *(name.lower() for name in skip)}
    statements = []
    for child in ctx.child_tables(parent):
        if child.name.lower() in left_out:
            continue
        child = copy.deepcopy(child)  # the translator's cached definition stays as it was
        if follow(child, parent, new_parent, columns):
            statements += bookkeeping(child)
    return statements
