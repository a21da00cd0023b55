"""Keys of a table definition: key parts (columns, prefixes, functional ``(expr)`` parts),
index options, and ``TableBuilder``, which collects the columns, keys, checks and foreign keys
of a CREATE TABLE or of an ALTER TABLE's new definition and validates them as MySQL does
(1068, 1061, 1072, 1075, 1170 …), naming what the statement left unnamed the way InnoDB does
(``<first column>[_n]``, ``<table>_chk_<n>``, ``<table>_ibfk_<n>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from marmotdb import errors
from marmotdb.errors import not_supported
from marmotdb.sql.catalog.model import KeyExpression, is_key_expression
from marmotdb.sql.schema import CheckDef, ColumnDef, ForeignKeyDef, IndexDef, TableDef
from marmotdb.sql.definition.partitioning import check_partitioned_table
from marmotdb.sql.definition.columns import ParsedColumn, utf8mb3_comment
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.definition.shown_expression import printed_expression

ER_PK_INDEX_CANT_BE_INVISIBLE = 3522


def key_parts(parser: DdlParser) -> list[tuple[str, int | None, bool]]:
    parser.expect_op("(")
    parts = []
    while True:
        length = None
        if parser.at_op("("):  # a functional key part, kept as its MySQL text in parentheses
            name = functional_part(parser.balanced())
        else:
            name = parser.identifier()
            if parser.at_op("("):
                length = int(parser.balanced())
        descending = parser.accept("ASC", "DESC") == "DESC"
        parts.append((name, length, descending))
        if not parser.accept_op(","):
            break
    parser.expect_op(")")
    return parts


def functional_part(text: str) -> str:
    """``(expr)`` of ``INDEX ((expr))``, the expression as MySQL prints it back (``abs(`a`)``,
    ``(`a` + `b`)``: SHOW CREATE TABLE shows ``KEY … ((abs(`a`)))``); MySQL refuses a bare
    column there (3762)."""
    printed = printed_expression(text)
    expression = f"({printed})" if printed is not None else normalise_mysql_expression(text)
    if re.fullmatch(r"\(`(?:[^`]|``)+`\)", expression):
        raise errors.error(errors.ER_FUNCTIONAL_INDEX_ON_FIELD, "Functional index on a column "
                           "is not supported. Consider using a regular index instead.")
    return KeyExpression(expression)


def is_functional(part: str) -> bool:
    """A key part that is an expression (stored as ``(expr)``), not a column name (which may
    be ``(3)`` too)."""
    return is_key_expression(part)


def index_definition(parser: DdlParser, name: str, kind: str) -> IndexDef:
    """A key's ``(key parts) [options]``."""
    index = IndexDef(name, kind, key_parts(parser))
    index_options(parser, index)
    return index


def index_options(parser: DdlParser, index: IndexDef) -> None:
    """``USING …``, ``COMMENT '…'``, ``KEY_BLOCK_SIZE``, ``VISIBLE`` / ``INVISIBLE``."""
    while True:
        if parser.accept("USING"):
            parser.expect("BTREE", "HASH")
        elif parser.accept("COMMENT"):
            index.comment = utf8mb3_comment(parser.string())
        elif parser.accept("KEY_BLOCK_SIZE"):
            parser.option_value()
        elif parser.at("VISIBLE", "INVISIBLE"):
            set_visible(index, parser.expect("VISIBLE", "INVISIBLE") == "VISIBLE")
        elif parser.at("WITH"):  # a FULLTEXT key's plugin (ngram, mecab): other words
            raise not_supported("FULLTEXT … WITH PARSER")
        else:
            return


def set_visible(index: IndexDef, visible: bool) -> None:
    """VISIBLE / INVISIBLE: a primary key is always visible (3522, MySQL's error)."""
    if not visible and index.kind == "PRIMARY":
        raise _invisible_primary()
    index.visible = visible


def check_implicit_primary_visible(table: TableDef) -> None:
    """Without a PRIMARY KEY, the first UNIQUE key on NOT NULL columns is the table's primary
    key to MySQL, which may not be invisible either (3522)."""
    if table.primary_key is not None:
        return
    for index in table.indexes:
        columns = [table.column(part) for part, _, _ in index.columns]
        if index.kind == "UNIQUE" and all(c is not None and not c.nullable for c in columns):
            if not index.visible:
                raise _invisible_primary()
            return


def _invisible_primary() -> errors.MarmotError:
    return errors.error(ER_PK_INDEX_CANT_BE_INVISIBLE, "A primary key index cannot be invisible")


# ---------------------------------------------------------------- table elements

@dataclass(slots=True)
class TableBuilder:
    """Collects the parts of a CREATE TABLE / ALTER and turns them into a valid TableDef."""

    table: TableDef
    checks_seen: int = 0
    # keys written without a name: InnoDB names their implicit index after the first column
    unnamed_foreign_keys: list[ForeignKeyDef] = field(default_factory=list)
    added_foreign_keys: list[ForeignKeyDef] = field(default_factory=list)

    def add_column(self, parsed: ParsedColumn) -> None:
        if self.table.column(parsed.column.name) is not None:
            raise errors.error(errors.ER_DUP_FIELDNAME,
                               f"Duplicate column name '{parsed.column.name}'")
        self.place(parsed.column, parsed.position)
        self.inline_keys(parsed)

    def place(self, column: ColumnDef, position: tuple[str, str | None] | None) -> None:
        columns = self.table.columns
        if position is None:
            columns.append(column)
        elif position[0] == "FIRST":
            columns.insert(0, column)
        else:
            after = self.table.column(position[1] or "")
            if after is None:
                raise errors.error(errors.ER_BAD_FIELD_ERROR,
                                   f"Unknown column '{position[1]}' in '{self.table.name}'")
            columns.insert(columns.index(after) + 1, column)

    def inline_keys(self, parsed: ParsedColumn) -> None:
        name = parsed.column.name
        if parsed.primary:
            self.add_index(IndexDef("PRIMARY", "PRIMARY", [(name, None, False)]))
        if parsed.unique:
            self.add_index(IndexDef("", "UNIQUE", [(name, None, False)]))
        if parsed.check is not None:
            self.add_check("", parsed.check)
        if parsed.reference is not None:
            self.add_foreign_key(parsed.reference)

    def add_index(self, index: IndexDef) -> None:
        functional = any(is_functional(p[0]) for p in index.columns)
        if index.kind == "PRIMARY":
            if functional:
                raise errors.error(errors.ER_FUNCTIONAL_INDEX_PRIMARY_KEY,
                                   "The primary key cannot be a functional index")
            if self.table.primary_key is not None:
                raise errors.error(errors.ER_MULTIPLE_PRI_KEY, "Multiple primary key defined")
            index.name = "PRIMARY"
        else:
            first = "functional_index" if is_functional(index.columns[0][0]) else \
                index.columns[0][0]
            index.name = index.name or self._free_index_name(first)
            if any(i.name.lower() == index.name.lower() for i in self.table.indexes):
                raise errors.error(errors.ER_DUP_KEYNAME, f"Duplicate key name '{index.name}'")
        self.table.indexes.append(index)

    def _free_index_name(self, base: str) -> str:
        taken = {i.name.lower() for i in self.table.indexes}
        if base.lower() not in taken:
            return base
        suffix = 2
        while f"{base}_{suffix}".lower() in taken:
            suffix += 1
        return f"{base}_{suffix}"

    def add_check(self, name: str, expression: str, enforced: bool = True) -> None:
        if not name:
            self.checks_seen = max(self.checks_seen, self._highest_check()) + 1
            name = f"{self.table.name}_chk_{self.checks_seen}"
        self.table.checks.append(CheckDef(name, expression, enforced))

    def _highest_check(self) -> int:
        prefix = f"{self.table.name}_chk_".lower()
        numbers = [int(c.name[len(prefix):]) for c in self.table.checks
                   if c.name.lower().startswith(prefix) and c.name[len(prefix):].isdigit()]
        return max(numbers, default=0)

    def add_foreign_key(self, fk: ForeignKeyDef) -> None:
        if not fk.name:
            self.unnamed_foreign_keys.append(fk)
            numbers = [int(f.name.rsplit("_", 1)[1]) for f in self.table.foreign_keys
                       if f.name.rsplit("_", 1)[-1].isdigit()]
            fk.name = f"{self.table.name}_ibfk_{max(numbers, default=0) + 1}"
        if not fk.ref_columns:
            raise errors.error(errors.ER_PARSE_ERROR, "Foreign key without referenced columns")
        if any(f.name.lower() == fk.name.lower() for f in self.table.foreign_keys):
            raise errors.error(errors.ER_FK_DUP_NAME,
                               f"Duplicate foreign key constraint name '{fk.name}'")
        self.table.foreign_keys.append(fk)
        self.added_foreign_keys.append(fk)

    def finish(self) -> TableDef:
        """Validate keys; give FOREIGN KEY columns their implicit index, like InnoDB."""
        table = self.table
        names = {c.name.lower() for c in table.columns}
        for index in table.indexes:
            for part, length, _ in index.columns:
                if index.kind == "FULLTEXT":
                    self._check_fulltext_part(part, length, names)
                else:
                    self._check_key_part(part, length, names)
        for fk in table.foreign_keys:
            for part in fk.columns:
                self._check_key_part(part, 1, names)
        self._add_generated_keys()
        btrees = [i for i in table.indexes if i.kind != "FULLTEXT"]
        autos = [c for c in table.columns if c.auto_increment]
        if len(autos) > 1 or (autos and not any(
                i.columns[0][0].lower() == autos[0].name.lower() for i in btrees)):
            raise errors.error(errors.ER_WRONG_AUTO_KEY, "Incorrect table definition; there "
                               "can be only one auto column and it must be defined as a key")
        if autos and autos[0].type.family != "int":
            raise errors.error(errors.ER_WRONG_FIELD_SPEC,
                               f"Incorrect column specifier for column '{autos[0].name}'")
        primary = table.primary_key
        if primary is not None:
            for part, _, _ in primary.columns:
                column = table.column(part)
                if column is not None:
                    column.nullable = False
        if not table.columns:
            raise errors.error(1113, "A table must have at least 1 column")
        check_partitioned_table(table)
        return table

    def _add_generated_keys(self) -> None:
        """InnoDB's rule for the index a FOREIGN KEY needs: each key added gets a *generated*
        index on its columns, and a generated index whose columns lead another key is
        dropped (of two generated ones, the shorter, or the earlier when they are alike), as
        MySQL's mysql_prepare_create_table does: a key that covers it makes it redundant, and
        a new FOREIGN KEY on the columns of an old one's leftover index takes it over."""
        table = self.table
        for fk in self.added_foreign_keys:
            table.indexes.append(IndexDef("", "INDEX", [(c, None, False) for c in fk.columns],
                                          generated=True))
            if not any(fk is f for f in self.unnamed_foreign_keys):
                table.indexes[-1].name = fk.name
        kept: list[IndexDef] = []
        for index in table.indexes:
            earlier = next((k for k in kept if _redundant_pair(index, k)), None)
            if earlier is None:
                kept.append(index)
            elif earlier.generated and not (index.generated and
                                            len(index.columns) < len(earlier.columns)):
                kept.remove(earlier)
                kept.append(index)
        table.indexes = []
        for index in kept:  # names last, once the redundant ones are gone (MySQL's order)
            self.add_index(index)

    def _check_key_part(self, part: str, length: int | None, names: set[str]) -> None:
        if is_functional(part):
            return  # SQLite reports an unknown column of the expression when it indexes it
        if part.lower() not in names:
            raise errors.error(errors.ER_KEY_COLUMN_DOES_NOT_EXIST,
                               f"Key column '{part}' doesn't exist in table")
        column = self.table.column(part)
        if column is not None and length is None and (
                column.type.name.endswith("text") or column.type.name.endswith("blob")):
            raise errors.error(errors.ER_BLOB_KEY_WITHOUT_LENGTH,
                               f"BLOB/TEXT column '{part}' used in key specification without "
                               "a key length")


    def _check_fulltext_part(self, part: str, length: int | None, names: set[str]) -> None:
        """A FULLTEXT key takes whole CHAR/VARCHAR/TEXT columns (1283, MySQL's 1089 for a
        prefix)."""
        if is_functional(part) or part.lower() not in names:
            raise errors.error(errors.ER_KEY_COLUMN_DOES_NOT_EXIST,
                               f"Key column '{part}' doesn't exist in table")
        column = self.table.column(part)
        if column is not None and column.type.family != "text":
            raise errors.error(errors.ER_BAD_FT_COLUMN,
                               f"Column '{part}' cannot be part of FULLTEXT index")
        if length is not None:
            raise errors.error(errors.ER_WRONG_SUB_KEY, "Incorrect prefix key; the used key "
                               "part isn't a string, the used length is longer than the key "
                               "part, or the storage engine doesn't support unique prefix keys")


def stored_expression(text: str) -> str:
    """A CHECK's or a functional key part's expression as MySQL keeps and shows it (its
    ``Item::print``, definition/shown_expression.py), or, for a construct that printer does not
    know, in backquotes and parentheses (``normalise_mysql_expression``)."""
    printed = printed_expression(text)
    return printed if printed is not None else normalise_mysql_expression(text)


def _redundant_pair(a: IndexDef, b: IndexDef) -> bool:
    """Whether one of two keys is generated and its columns lead the other's."""
    if "FULLTEXT" in (a.kind, b.kind) or not (a.generated or b.generated):
        return False
    short, long = (a, b) if a.generated and (not b.generated or
                                             len(a.columns) <= len(b.columns)) else (b, a)
    return [(c.lower(), n) for c, n, _ in short.columns] == \
        [(c.lower(), n) for c, n, _ in long.columns[:len(short.columns)]]


def normalise_mysql_expression(text: str) -> str:
    """MySQL's display of a stored expression: identifiers in backticks, in parentheses."""
    import sqlglot
    try:
        body = sqlglot.parse_one(f"SELECT {text}", read="mysql").expressions[0]
    except Exception:  # noqa: BLE001 - keep the user's text when sqlglot cannot read it
        return text
    rendered = body.sql(dialect="mysql", identify=True)
    return rendered if rendered.startswith("(") and rendered.endswith(")") else f"({rendered})"
