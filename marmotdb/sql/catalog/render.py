"""SHOW CREATE TABLE / VIEW text in MySQL 8.0's exact layout.

Clients parse this text (SQLAlchemy's reflection reads it line by line with regexes, mysqldump
replays it), so the layout is MySQL's: one column or key per line indented by two spaces,
lower-case types, ``DEFAULT NULL`` for nullable columns without a default (except BLOB/TEXT,
which MySQL prints bare), literal defaults quoted, keys after columns in the order
PRIMARY, UNIQUE, plain, FULLTEXT, then foreign keys and CHECK constraints, then
``ENGINE=... [AUTO_INCREMENT=n] DEFAULT CHARSET=... COLLATE=... [COMMENT='...']``.
"""

from __future__ import annotations

from collections.abc import Callable

from marmotdb.sql.catalog.model import (
    ColumnModel,
    ForeignKeyModel,
    IndexModel,
    TableModel,
    is_key_expression,
)
from marmotdb.sql.catalog.snapshot import ViewInfo
from marmotdb.sql.schema import LEADING_TABLE_OPTIONS, partitioning_text, table_options_text

# printed without DEFAULT NULL (MySQL's BLOB field type); JSON and GEOMETRY are not BLOBs
_NO_DEFAULT_NULL = frozenset({"tinytext", "text", "mediumtext", "longtext", "tinyblob",
                              "blob", "mediumblob", "longblob"})
_KEY_ORDER = {"PRIMARY": 0, "UNIQUE": 1, "INDEX": 2, "FULLTEXT": 3, "SPATIAL": 4}


def quote_name(name: str, quote: bool = True) -> str:
    return "`" + name.replace("`", "``") + "`" if quote else name


_ESCAPED = str.maketrans({"\\": "\\\\", "'": "''", "\0": "\\0", "\n": "\\n", "\r": "\\r",
                          "\x1a": "\\Z"})


def quote_string(value: str) -> str:
    """A string as SHOW CREATE TABLE prints it (MySQL's append_unescaped): line breaks and
    the other control characters a client would split or stop on are escaped."""
    return "'" + value.translate(_ESCAPED) + "'"


def _referenced(fk: ForeignKeyModel, q: Callable[[str], str]) -> str:
    """`t`, or `db`.`t` for a key to another database's table (MySQL prints the schema
    only when it is not the child's)."""
    return f"{q(fk.ref_schema)}.{q(fk.ref_table)}" if fk.ref_schema else q(fk.ref_table)


def render_create_table(table: TableModel, auto_increment: int | None = None,
                        quote: bool = True) -> str:
    """The SHOW CREATE TABLE text of a table model; ``auto_increment`` is the next value."""
    q = lambda name: quote_name(name, quote)
    lines = [f"  {q(c.name)} {_column_definition(c, table)}" for c in table.columns]
    for index in sorted(table.indexes, key=lambda i: _KEY_ORDER.get(i.kind, 9)):
        lines.append("  " + _index_definition(index, q))
    for fk in table.foreign_keys:
        text = (f"  CONSTRAINT {q(fk.name)} FOREIGN KEY ({', '.join(q(c) for c in fk.columns)}) "
                f"REFERENCES {_referenced(fk, q)} ({', '.join(q(c) for c in fk.ref_columns)})")
        for action, rule in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update)):
            if rule and rule.upper() != "NO ACTION":
                text += f" ON {action} {rule.upper()}"
        lines.append(text)
    # the clause as MySQL keeps it (its Item::print: ``(`a` > 0)``, ``json_valid(`j`)``),
    # CHECK constraints by name, as MySQL 8 lists them
    for check in sorted(table.checks, key=lambda c: c.name.lower()):
        enforced = "" if check.enforced else " /*!80016 NOT ENFORCED */"
        lines.append(f"  CONSTRAINT {q(check.name)} CHECK ({check.clause}){enforced}")
    leading = table_options_text(table.options, LEADING_TABLE_OPTIONS)
    options = (leading + " " if leading else "") + f"ENGINE={table.engine}"
    if auto_increment is not None and auto_increment > 1:
        options += f" AUTO_INCREMENT={auto_increment}"
    options += f" DEFAULT CHARSET={table.charset} COLLATE={table.collation}"
    row_format = table.row_format.upper() if "row_format=" in table.create_options else ""
    shown = table_options_text({**table.options, "ROW_FORMAT": row_format,
                                "COMMENT": quote_string(table.comment) if table.comment else ""})
    if shown:
        options += " " + shown
    create = "CREATE TEMPORARY TABLE" if table.temporary else "CREATE TABLE"
    return (f"{create} {q(table.name)} (\n" + ",\n".join(lines) + f"\n) {options}"
            + partitioning_text(table.partitioning))


def _column_definition(column: ColumnModel, table: TableModel) -> str:
    parts = [column.column_type]
    if column.charset and column.charset != table.charset:
        parts.append(f"CHARACTER SET {column.charset} COLLATE {column.collation}")
    elif column.collation and column.collation != table.collation:
        parts.append(f"COLLATE {column.collation}")
    if column.generated is not None:
        kind = "STORED" if column.generated_stored else "VIRTUAL"
        parts.append(f"GENERATED ALWAYS AS ({column.generated}) {kind}")  # as MySQL printed it
    if not column.nullable:
        parts.append("NOT NULL")
    elif column.data_type == "timestamp":
        parts.append("NULL")
    if column.auto_increment:
        parts.append("AUTO_INCREMENT")
    default = _default_clause(column)
    if default:
        parts.append(default)
    if column.on_update:
        parts.append(f"ON UPDATE {column.on_update}")
    if column.comment:
        parts.append(f"COMMENT {quote_string(column.comment)}")
    return " ".join(parts)


def _default_clause(column: ColumnModel) -> str:
    if column.auto_increment or column.generated is not None:
        return ""
    kind = column.default_kind
    if kind == "expression":
        text = column.default or ""
        return f"DEFAULT {text}" if text.upper().startswith("CURRENT_TIMESTAMP") \
            else f"DEFAULT ({text})"
    if kind == "literal" and column.default is not None:
        value = column.default
        if value.startswith(("b'", "0x")):
            return f"DEFAULT {value}"
        return f"DEFAULT {quote_string(value)}"
    if column.nullable and column.data_type not in _NO_DEFAULT_NULL:
        return "DEFAULT NULL"
    return ""


def _index_definition(index: IndexModel, q: object) -> str:
    quote = q  # type: ignore[assignment]
    parts = []
    for column, prefix, order in index.columns:
        text = column if is_key_expression(column) else quote(column)  # type: ignore[operator]
        if prefix:
            text += f"({prefix})"
        if order == "D":
            text += " DESC"
        parts.append(text)
    columns = ",".join(parts)
    if index.kind == "PRIMARY":
        text = f"PRIMARY KEY ({columns})"
    else:
        prefix = {"UNIQUE": "UNIQUE KEY", "FULLTEXT": "FULLTEXT KEY",
                  "SPATIAL": "SPATIAL KEY"}.get(index.kind, "KEY")
        text = f"{prefix} {quote(index.name)} ({columns})"  # type: ignore[operator]
    if index.comment:
        text += f" COMMENT {quote_string(index.comment)}"
    if not index.visible:
        text += " /*!80000 INVISIBLE */"
    return text


def render_create_view(view: ViewInfo, quote: bool = True) -> str:
    """SHOW CREATE VIEW text: MySQL's algorithm/definer/security preamble, the SELECT and its
    WITH … CHECK OPTION."""
    check = f" WITH {view.check_option} CHECK OPTION" if view.check_option != "NONE" else ""
    return (f"CREATE ALGORITHM={view.algorithm} DEFINER=`root`@`%` SQL SECURITY "
            f"{view.security} VIEW {quote_name(view.name, quote)} AS {view.definition}{check}")
