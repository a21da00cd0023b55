"""The MySQL view of a table: columns, keys, foreign keys, checks and options.

SHOW COLUMNS / INDEX / CREATE TABLE / TABLE STATUS and INFORMATION_SCHEMA all answer from one
``TableModel``. It is built from the original MySQL DDL kept in ``__marmot_schema`` (read by the translation's
one CREATE TABLE reader, sql/definition/create_table.py, and turned into a model by
declared.py) and then
reconciled with what SQLite actually holds (snapshot.py): a column or index SQLite has
but the stored DDL lacks is added, one the stored DDL names but SQLite lacks is dropped. A
table with no stored DDL is described from SQLite alone. ``TableModel.finish`` derives what
MySQL derives (column character sets, COLUMN_KEY, InnoDB's implicit foreign-key indexes);
render.py prints a model the way MySQL 8.0's SHOW CREATE TABLE does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marmotdb.sql.catalog.charsets import (
    DEFAULT_CHARSET,
    DEFAULT_COLLATION,
    charset_named,
    collation_named,
)


class KeyExpression(str):
    """A functional key part, ``INDEX ((expr))``, kept as its MySQL text in parentheses. A
    type of its own because a column may be named ``(3)`` too: the parser knows which one it
    read (a backquoted name or a bare parenthesis), the text alone does not."""

    __slots__ = ()


def is_key_expression(part: str) -> bool:
    return isinstance(part, KeyExpression)


@dataclass(slots=True)
class ColumnModel:
    name: str
    data_type: str  # lower-case base type: int, varchar, decimal, enum ...
    column_type: str  # MySQL COLUMN_TYPE: 'int unsigned', 'varchar(64)', "enum('a','b')"
    nullable: bool = True
    default: str | None = None  # COLUMN_DEFAULT as MySQL shows it
    default_kind: str = "none"  # none | null | literal | expression (CURRENT_TIMESTAMP, (expr))
    auto_increment: bool = False
    on_update: str | None = None  # 'CURRENT_TIMESTAMP' / 'CURRENT_TIMESTAMP(6)'
    comment: str = ""
    charset: str | None = None  # explicit CHARACTER SET, resolved against the table later
    collation: str | None = None
    generated: str | None = None  # generation expression
    generated_stored: bool = False
    key: str = ""  # PRI | UNI | MUL, computed by TableModel.finish()

    @property
    def is_text(self) -> bool:
        return self.data_type in _TEXT_TYPES


@dataclass(slots=True)
class IndexModel:
    name: str
    kind: str  # PRIMARY | UNIQUE | INDEX | FULLTEXT | SPATIAL
    columns: list[tuple[str, int | None, str]]  # (column, prefix length, 'A' | 'D')
    comment: str = ""
    visible: bool = True

    @property
    def unique(self) -> bool:
        return self.kind in ("PRIMARY", "UNIQUE")


@dataclass(slots=True)
class ForeignKeyModel:
    name: str
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    ref_schema: str | None = None


@dataclass(slots=True)
class CheckModel:
    name: str
    clause: str
    enforced: bool = True


@dataclass(slots=True)
class TableModel:
    name: str
    columns: list[ColumnModel] = field(default_factory=list)
    indexes: list[IndexModel] = field(default_factory=list)
    foreign_keys: list[ForeignKeyModel] = field(default_factory=list)
    checks: list[CheckModel] = field(default_factory=list)
    engine: str = "InnoDB"
    charset: str = DEFAULT_CHARSET
    collation: str = DEFAULT_COLLATION
    comment: str = ""
    row_format: str = "Dynamic"
    create_options: str = ""
    options: dict[str, str] = field(default_factory=dict)  # shown back: schema.SHOWN_TABLE_OPTIONS
    auto_increment: int | None = None  # next value, filled from SQLite when shown
    temporary: bool = False  # a session's temporary table (SHOW CREATE says so)
    partitioning: str | None = None  # PARTITION BY … as MySQL prints it (kept, not applied)

    def column(self, name: str) -> ColumnModel | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)

    @property
    def primary(self) -> IndexModel | None:
        return next((i for i in self.indexes if i.kind == "PRIMARY"), None)

    def finish(self) -> TableModel:
        """Resolve column character sets and compute COLUMN_KEY (PRI/UNI/MUL) as MySQL does."""
        for column in self.columns:
            _resolve_charset(column, self)
        _implicit_foreign_key_indexes(self)
        primary = self.primary
        if primary is None:  # MySQL promotes the first NOT NULL single UNIQUE to PRI
            primary = next((i for i in self.indexes if i.kind == "UNIQUE" and all(
                not self._nullable(c) for c, _, _ in i.columns)), None)
        keys: dict[str, str] = {}
        for index in self.indexes:
            first = index.columns[0][0].lower() if index.columns else ""
            if index is primary:
                for name, _, _ in index.columns:
                    keys[name.lower()] = "PRI"
            elif index.kind == "UNIQUE" and len(index.columns) == 1:
                keys.setdefault(first, "UNI")
            elif first:
                keys.setdefault(first, "MUL")
        for column in self.columns:
            column.key = keys.get(column.name.lower(), "")
        return self

    def _nullable(self, name: str) -> bool:
        column = self.column(name)
        return column is None or column.nullable


_TEXT_TYPES = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext",
                         "enum", "set"})
def _resolve_charset(column: ColumnModel, table: TableModel) -> None:
    if not column.is_text:
        column.charset = column.collation = None
        return
    if column.collation and not column.charset:
        found = collation_named(column.collation)
        column.charset = found.charset if found else table.charset
    if not column.charset:
        column.charset = table.charset
        column.collation = column.collation or table.collation
    elif not column.collation:
        found_charset = charset_named(column.charset)
        column.collation = found_charset.default_collation if found_charset else table.collation


def _implicit_foreign_key_indexes(table: TableModel) -> None:
    """InnoDB creates an index for a foreign key no existing index starts with."""
    for fk in table.foreign_keys:
        wanted = [c.lower() for c in fk.columns]
        covered = any([c.lower() for c, _, _ in i.columns[:len(wanted)]] == wanted
                      for i in table.indexes)
        if not covered:
            name = fk.name if not fk.name.startswith(f"{table.name}_ibfk_") else fk.columns[0]
            table.indexes.append(IndexModel(name, "INDEX", [(c, None, "A") for c in fk.columns]))
