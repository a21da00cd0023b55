"""The shape of a replicated table as capture and apply see it: columns and key.

A row image is a tuple of the table's stored columns in declaration order (what SQLite's
preupdate hook reports). A row is identified by its *key*: the primary-key columns, or the
rowid for a table without a primary key (see storage/DESIGN.md for the limits of rowid keys).

Public API::

    TableSchema(name, columns, key, generated)   frozen msgspec Struct, shipped in write sets
        .key_of(image) -> tuple                  the key values of a full row image
        .writable                                indexes of the columns apply may write
    load_table_schema(conn, table) -> TableSchema | None     None when the table does not exist
    is_internal_table(table) -> bool             the ``__marmot_*`` tables and SQLite's own
"""

from __future__ import annotations

import apsw
import msgspec

from marmotdb import errors
from marmotdb.storage.internal_tables import REPLICATED

INTERNAL_PREFIX = "__marmot_"

# PRAGMA table_xinfo "hidden" values.
_HIDDEN_VIRTUAL_GENERATED = 2
_HIDDEN_STORED_GENERATED = 3


class TableSchema(msgspec.Struct, array_like=True, frozen=True):
    """Columns of a table and which of them form the key.

    ``key`` holds indexes into ``columns`` in primary-key order; an empty ``key`` means the
    table has no primary key and rows are keyed by rowid. ``generated`` lists stored generated
    columns: they are in row images (SQLite reports them) but apply never writes them.
    """

    name: str
    columns: tuple[str, ...]
    key: tuple[int, ...]
    generated: tuple[int, ...] = ()

    @property
    def keyed_by_rowid(self) -> bool:
        return not self.key

    @property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(self.columns[i] for i in self.key)

    @property
    def writable(self) -> tuple[int, ...]:
        skip = set(self.generated)
        return tuple(i for i in range(len(self.columns)) if i not in skip)

    def key_of(self, image: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(image[i] for i in self.key)


def is_internal_table(table: str) -> bool:
    """Not captured: SQLite's tables and ours, except those replicated as row images."""
    return table.startswith((INTERNAL_PREFIX, "sqlite_")) and table not in REPLICATED


def load_table_schema(conn: apsw.Connection, table: str, schema_name: str = "main"
                      ) -> TableSchema | None:
    """Read a table's schema from SQLite; ``None`` if there is no such table in ``main`` (or
    in the schema named, e.g. ``temp``).

    Tables with VIRTUAL generated columns are refused: SQLite's preupdate hook cannot report
    their rows (APSW raises RangeError reading old/new), so capture would lose writes. The SQL
    layer stores MySQL generated columns as STORED.
    """
    rows = conn.execute(
        "SELECT name, pk, hidden FROM pragma_table_xinfo(?, ?) ORDER BY cid",
        (table, schema_name)).fetchall()
    if not rows:
        return None
    if any(hidden == _HIDDEN_VIRTUAL_GENERATED for _, _, hidden in rows):
        raise errors.NotSupportedError(
            f"table '{table}' has a VIRTUAL generated column; replicated tables need STORED "
            "generated columns")
    columns = tuple(name for name, _, _ in rows)
    key = tuple(i for _, i in sorted((pk, i) for i, (_, pk, _) in enumerate(rows) if pk))
    generated = tuple(i for i, (_, _, hidden) in enumerate(rows)
                      if hidden == _HIDDEN_STORED_GENERATED)
    return TableSchema(table, columns, key, generated)
