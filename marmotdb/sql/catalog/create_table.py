"""A MySQL CREATE TABLE parser for the catalog, over ``catalog_expr`` tokens.

It reads what the translator stores in ``__marmot_schema`` (MySQL 8.0's canonical SHOW
CREATE TABLE text) and also the looser spellings users write (aliases such as INTEGER, BOOL,
SERIAL, NUMERIC; inline PRIMARY KEY / UNIQUE / CHECK / REFERENCES; unnamed keys, named
after their first column as MySQL does). Types come out in MySQL 8.0's COLUMN_TYPE spelling
(``int unsigned``, ``tinyint(1)``, ``decimal(10,0)``, display widths only with ZEROFILL);
defaults, CHECK clauses and generation expressions keep their source text. Anything it does
not understand raises ``NotSimple`` and the caller describes the table from SQLite instead.
Handlers are tables keyed by keyword (constraints, column attributes, table options).
"""

from __future__ import annotations

from marmotdb.sql.catalog.charsets import charset_named, collation_named
from marmotdb.sql.catalog.expr import NotSimple, TokenStream, tokenize
from marmotdb.sql.catalog.model import (
    CheckModel,
    ColumnModel,
    ForeignKeyModel,
    IndexModel,
    KeyExpression,
    TableModel,
)
from marmotdb.sql.schema import SHOWN_TABLE_OPTIONS, quote_ident, quote_string

_INT_TYPES = {"tinyint": 3, "smallint": 5, "mediumint": 8, "int": 10, "bigint": 20}
_TYPE_ALIASES = {
    "integer": "int", "int4": "int", "int1": "tinyint", "int2": "smallint", "int3": "mediumint",
    "int8": "bigint", "middleint": "mediumint", "dec": "decimal", "numeric": "decimal",
    "fixed": "decimal", "real": "double", "float8": "double", "float4": "float",
    "bool": "tinyint", "boolean": "tinyint", "character": "char", "nchar": "char",
    "nvarchar": "varchar", "long": "mediumtext", "string": "text", "clob": "longtext",
}



# ---------------------------------------------------------------------------------- types
def parse_type(stream: TokenStream) -> tuple[str, str, bool]:
    """A MySQL data type at the stream -> (data_type, column_type, is_serial)."""
    word = stream.next()
    if word.kind != "word":
        raise NotSimple("type name")
    raw = str(word.value).lower()
    if raw == "double" and stream.accept_word("PRECISION"):
        pass
    if raw in ("char", "character", "national") and stream.accept_word("VARYING"):
        raw = "varchar"
    if raw == "national":
        raw = stream.next().text.lower()
    if raw == "long" and stream.at_word("VARCHAR", "VARBINARY", "BYTE"):  # LONG BYTE: binary
        raw = "mediumtext" if stream.next().value == "VARCHAR" else "mediumblob"
    base = _TYPE_ALIASES.get(raw, raw)
    params = _type_params(stream)
    unsigned = zerofill = False
    while True:
        if stream.accept_word("UNSIGNED"):
            unsigned = True
        elif stream.accept_word("SIGNED"):
            pass
        elif stream.accept_word("ZEROFILL"):
            zerofill = unsigned = True
        else:
            break
    if base == "serial":
        return "bigint", "bigint unsigned", True
    return base, _column_type(raw, base, params, unsigned, zerofill), False


def _type_params(stream: TokenStream) -> list[str]:
    if stream.accept_op("(") is None:
        return []
    params: list[str] = []
    while True:
        token = stream.next()
        if token.kind == "string":
            params.append(_quote(str(token.value)))
        elif token.kind == "number":
            params.append(token.text)
        else:
            raise NotSimple("type parameter")
        if stream.accept_op(")"):
            return params
        if stream.accept_op(",") is None:
            raise NotSimple("type parameters")


def _column_type(raw: str, base: str, params: list[str], unsigned: bool, zerofill: bool) -> str:
    suffix = (" unsigned" if unsigned else "") + (" zerofill" if zerofill else "")
    if base in _INT_TYPES:
        if raw in ("bool", "boolean"):
            return "tinyint(1)"
        if zerofill:
            width = params[0] if params else str(_INT_TYPES[base])
            return f"{base}({width}){suffix}"
        if base == "tinyint" and params == ["1"]:
            return f"tinyint(1){suffix}"
        return base + suffix
    if base == "decimal":
        precision = params[0] if params else "10"
        scale = params[1] if len(params) > 1 else "0"
        return f"decimal({precision},{scale}){suffix}"
    if base == "float" and len(params) == 1:
        return ("double" if int(params[0]) > 24 else "float") + suffix
    if base in ("char", "binary", "bit") and not params:
        return f"{base}(1)"
    if base in ("year",):
        return "year"
    if params:
        return f"{base}({','.join(params)}){suffix}"
    return base + suffix


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


# ---------------------------------------------------------------------------------- CREATE TABLE
_CONSTRAINT_WORDS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "KEY", "INDEX", "FULLTEXT",
                               "SPATIAL", "FOREIGN", "CHECK"})


def parse_create_table(sql: str) -> TableModel:
    """Parse a MySQL CREATE TABLE statement; raises NotSimple when it cannot."""
    stream = TokenStream(sql, tokenize(sql))
    stream.expect_word("CREATE")
    stream.accept_word("TEMPORARY")
    stream.expect_word("TABLE")
    if stream.accept_words("IF", "NOT", "EXISTS"):
        pass
    name = _qualified_name(stream)
    table = TableModel(name)
    if stream.accept_op("(") is None:
        raise NotSimple("CREATE TABLE without a column list")
    while True:
        _table_element(stream, table)
        if stream.accept_op(")"):
            break
        if stream.accept_op(",") is None:
            raise NotSimple("table element list")
    _table_options(stream, table)
    return table


def _qualified_name(stream: TokenStream) -> str:
    name = stream.identifier()
    if stream.accept_op("."):
        name = stream.identifier()
    return name


def _table_element(stream: TokenStream, table: TableModel) -> None:
    token = stream.peek()
    if token.kind == "word" and token.value in _CONSTRAINT_WORDS and _constraint(stream, table):
        return
    table.columns.append(_column(stream, table))


def _constraint(stream: TokenStream, table: TableModel) -> bool:
    start = stream.index
    symbol = None
    if stream.accept_word("CONSTRAINT") and not stream.at_word("PRIMARY", "UNIQUE", "FOREIGN",
                                                                "CHECK"):
        symbol = stream.identifier()
    word = stream.peek().value if stream.peek().kind == "word" else None
    handler = _CONSTRAINT_HANDLERS.get(str(word))
    if handler is None:
        stream.index = start
        return False
    stream.next()
    handler(stream, table, symbol)
    return True


def _primary(stream: TokenStream, table: TableModel, symbol: str | None) -> None:
    stream.expect_word("KEY")
    _index_type(stream)
    table.indexes.append(IndexModel("PRIMARY", "PRIMARY", _key_parts(stream),
                                    *_index_options(stream)))


def _unique(stream: TokenStream, table: TableModel, symbol: str | None) -> None:
    stream.accept_word("KEY", "INDEX")
    name = None if stream.peek().kind == "op" or stream.at_word("USING") else stream.identifier()
    _index_type(stream)
    parts = _key_parts(stream)
    table.indexes.append(IndexModel(_index_name(table, name or symbol, parts), "UNIQUE", parts,
                                    *_index_options(stream)))


def _plain_index(kind: str) -> object:
    def parse(stream: TokenStream, table: TableModel, symbol: str | None) -> None:
        if kind != "INDEX":
            stream.accept_word("KEY", "INDEX")
        name = None if stream.peek().kind == "op" or stream.at_word("USING") \
            else stream.identifier()
        _index_type(stream)
        parts = _key_parts(stream)
        table.indexes.append(IndexModel(_index_name(table, name, parts), kind, parts,
                                        *_index_options(stream)))
    return parse


def _foreign(stream: TokenStream, table: TableModel, symbol: str | None) -> None:
    stream.expect_word("KEY")
    index_name = None if stream.peek().kind == "op" else stream.identifier()
    columns = [c for c, _, _ in _key_parts(stream)]
    fk = _reference(stream, symbol or index_name or
                    f"{table.name}_ibfk_{len(table.foreign_keys) + 1}", columns)
    table.foreign_keys.append(fk)


def _reference(stream: TokenStream, name: str, columns: list[str]) -> ForeignKeyModel:
    stream.expect_word("REFERENCES")
    ref_schema = None
    ref_table = stream.identifier()
    if stream.accept_op("."):
        ref_schema, ref_table = ref_table, stream.identifier()
    ref_columns = [c for c, _, _ in _key_parts(stream)] if stream.peek().text == "(" else []
    fk = ForeignKeyModel(name, columns, ref_table, ref_columns, ref_schema=ref_schema)
    while True:
        if stream.accept_word("MATCH"):
            stream.next()
        elif stream.accept_words("ON", "DELETE"):
            fk.on_delete = _action(stream)
        elif stream.accept_words("ON", "UPDATE"):
            fk.on_update = _action(stream)
        else:
            return fk


def _action(stream: TokenStream) -> str:
    for words in (("RESTRICT",), ("CASCADE",), ("SET", "NULL"), ("SET", "DEFAULT"),
                  ("NO", "ACTION")):
        if stream.accept_words(*words):
            return " ".join(words)
    raise NotSimple("referential action")


def _check(stream: TokenStream, table: TableModel, symbol: str | None) -> None:
    clause = _parenthesised(stream)
    enforced = True
    if stream.accept_words("NOT", "ENFORCED"):
        enforced = False
    else:
        stream.accept_word("ENFORCED")
    name = symbol or f"{table.name}_chk_{len(table.checks) + 1}"
    table.checks.append(CheckModel(name, clause, enforced))


_CONSTRAINT_HANDLERS = {
    "PRIMARY": _primary, "UNIQUE": _unique, "KEY": _plain_index("INDEX"),
    "INDEX": _plain_index("INDEX"), "FULLTEXT": _plain_index("FULLTEXT"),
    "SPATIAL": _plain_index("SPATIAL"), "FOREIGN": _foreign, "CHECK": _check,
}


def _index_name(table: TableModel, name: str | None, parts: list[tuple[str, int | None, str]]
                ) -> str:
    """MySQL names an unnamed index after its first column (then _2, _3 ...)."""
    if name:
        return name
    base = parts[0][0] if parts else "idx"
    taken = {i.name.lower() for i in table.indexes}
    candidate, suffix = base, 2
    while candidate.lower() in taken or candidate.upper() == "PRIMARY":
        candidate, suffix = f"{base}_{suffix}", suffix + 1
    return candidate


def _index_type(stream: TokenStream) -> None:
    if stream.accept_word("USING"):
        stream.next()


def _key_parts(stream: TokenStream) -> list[tuple[str, int | None, str]]:
    if stream.accept_op("(") is None:
        raise NotSimple("key part list")
    parts: list[tuple[str, int | None, str]] = []
    while True:
        if stream.peek().text == "(":  # functional key part: (expr), kept in parentheses
            parts.append((KeyExpression("(" + _parenthesised(stream) + ")"), None,
                          "D" if stream.accept_word("DESC") else "A"))
            stream.accept_word("ASC")
        else:
            name = stream.identifier()
            prefix = None
            if stream.accept_op("("):
                prefix = int(stream.next().value)
                stream.accept_op(")")
            parts.append((name, prefix, "D" if stream.accept_word("DESC") else "A"))
            stream.accept_word("ASC")
        if stream.accept_op(")"):
            return parts
        if stream.accept_op(",") is None:
            raise NotSimple("key part list")


def _index_options(stream: TokenStream) -> tuple[str, bool]:
    comment, visible = "", True
    while True:
        if stream.accept_word("COMMENT"):
            comment = str(stream.next().value)
        elif stream.accept_word("USING"):
            stream.next()
        elif stream.accept_word("KEY_BLOCK_SIZE"):
            stream.accept_op("=")
            stream.next()
        elif stream.accept_word("INVISIBLE"):
            visible = False
        elif stream.accept_word("VISIBLE"):
            pass
        elif stream.accept_words("WITH", "PARSER"):
            stream.next()
        else:
            return comment, visible


def _parenthesised(stream: TokenStream) -> str:
    """The source text inside a balanced ( ... ) group at the stream."""
    opening = stream.next()
    if opening.text != "(":
        raise NotSimple("expected (")
    depth, start = 1, stream.peek().start
    while True:
        token = stream.next()
        if token.kind == "end":
            raise NotSimple("unbalanced parentheses")
        if token.kind == "op" and token.value == "(":
            depth += 1
        elif token.kind == "op" and token.value == ")":
            depth -= 1
            if depth == 0:
                return stream.sql[start:token.start].strip()


# ---------------------------------------------------------------------------------- columns
def _column(stream: TokenStream, table: TableModel) -> ColumnModel:
    name = stream.identifier()
    data_type, column_type, serial = parse_type(stream)
    column = ColumnModel(name, data_type, column_type)
    if serial:
        column.nullable, column.auto_increment = False, True
        table.indexes.append(IndexModel(_index_name(table, name, [(name, None, "A")]), "UNIQUE",
                                        [(name, None, "A")]))
    while not (stream.at_end() or stream.peek().text in (",", ")")):
        _column_attribute(stream, table, column)
    return column


def _column_attribute(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    token = stream.next()
    word = str(token.value) if token.kind == "word" else ""
    handler = _ATTRIBUTES.get(word)
    if handler is None:
        raise NotSimple(f"column attribute {token.text}")
    handler(stream, table, column)


def _attr_not(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    stream.expect_word("NULL")
    column.nullable = False


def _attr_null(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    column.nullable = True


def _attr_default(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    token = stream.peek()
    if token.text == "(":
        column.default, column.default_kind = _parenthesised(stream), "expression"
        return
    negative = stream.accept_op("-") is not None
    token = stream.next()
    if token.kind == "word" and token.value == "NULL":
        column.default, column.default_kind = None, "null"
    elif token.kind == "word" and token.value in _NOW_WORDS:
        column.default, column.default_kind = _now_text(stream), "expression"
    elif token.kind == "word" and token.value in ("TRUE", "FALSE"):
        column.default, column.default_kind = str(int(token.value == "TRUE")), "literal"
    elif token.kind == "bits":
        column.default, column.default_kind = f"b'{token.value:b}'", "literal"
    elif token.kind == "string" and isinstance(token.value, bytes):
        column.default, column.default_kind = "0x" + token.value.hex().upper(), "literal"
    elif token.kind in ("string", "number"):
        column.default, column.default_kind = ("-" if negative else "") + str(token.value), \
            "literal"
    else:
        raise NotSimple("default value")


_NOW_WORDS = frozenset({"CURRENT_TIMESTAMP", "NOW", "LOCALTIME", "LOCALTIMESTAMP"})


def _now_text(stream: TokenStream) -> str:
    precision = ""
    if stream.accept_op("("):
        if stream.peek().kind == "number":
            precision = f"({stream.next().value})"
        stream.accept_op(")")
    return "CURRENT_TIMESTAMP" + precision


def _attr_on(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    stream.expect_word("UPDATE")
    if stream.accept_word(*_NOW_WORDS) is None:
        raise NotSimple("ON UPDATE value")
    column.on_update = _now_text(stream)


def _attr_auto_increment(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    column.auto_increment = True


def _attr_primary(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    stream.accept_word("KEY")
    column.nullable = False
    table.indexes.insert(0, IndexModel("PRIMARY", "PRIMARY", [(column.name, None, "A")]))


def _attr_key(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    # A bare KEY in a column definition means PRIMARY KEY.
    _attr_primary(stream, table, column)


def _attr_unique(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    stream.accept_word("KEY")
    parts: list[tuple[str, int | None, str]] = [(column.name, None, "A")]
    table.indexes.append(IndexModel(_index_name(table, None, parts), "UNIQUE", parts))


def _attr_comment(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    column.comment = str(stream.next().value)


def _attr_charset(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    stream.accept_word("SET")
    column.charset = (charset_named(stream.identifier()) or _unknown()).name


def _attr_collate(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    found = collation_named(stream.identifier())
    column.collation = found.name if found else None


def _attr_generated(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    stream.expect_word("ALWAYS")
    stream.expect_word("AS")
    _attr_as(stream, table, column)


def _attr_as(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    column.generated = _parenthesised(stream)
    if stream.accept_word("STORED", "PERSISTENT"):
        column.generated_stored = True
    else:
        stream.accept_word("VIRTUAL")


def _attr_check(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    _check(stream, table, None)


def _attr_references(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    stream.index -= 1
    fk = _reference(stream, f"{table.name}_ibfk_{len(table.foreign_keys) + 1}", [column.name])
    table.foreign_keys.append(fk)


def _attr_skip_one(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    stream.next()


def _attr_ignore(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    return None


def _attr_constraint(stream: TokenStream, table: TableModel, column: ColumnModel) -> None:
    symbol = stream.identifier() if not stream.at_word("CHECK") else None
    stream.expect_word("CHECK")
    _check(stream, table, symbol)


def _unknown() -> object:
    raise NotSimple("unknown character set")


_ATTRIBUTES = {
    "NOT": _attr_not, "NULL": _attr_null, "DEFAULT": _attr_default, "ON": _attr_on,
    "AUTO_INCREMENT": _attr_auto_increment, "PRIMARY": _attr_primary, "KEY": _attr_key,
    "UNIQUE": _attr_unique, "COMMENT": _attr_comment, "CHARACTER": _attr_charset,
    "CHARSET": _attr_charset, "COLLATE": _attr_collate, "GENERATED": _attr_generated,
    "AS": _attr_as, "CHECK": _attr_check, "REFERENCES": _attr_references,
    "COLUMN_FORMAT": _attr_skip_one, "STORAGE": _attr_skip_one, "SRID": _attr_skip_one,
    "VISIBLE": _attr_ignore, "INVISIBLE": _attr_ignore, "STORED": _attr_ignore,
    "VIRTUAL": _attr_ignore, "CONSTRAINT": _attr_constraint, "BINARY": _attr_ignore,
    "ASCII": _attr_ignore, "UNICODE": _attr_ignore, "SERIAL": _attr_ignore,
}


# ---------------------------------------------------------------------------------- options
def _table_options(stream: TokenStream, table: TableModel) -> None:
    while not stream.at_end():
        if stream.accept_op(","):
            continue
        if stream.at_word("PARTITION", "AS", "SELECT", "IGNORE", "REPLACE"):
            return
        stream.accept_word("DEFAULT")
        token = stream.next()
        if token.kind != "word":
            raise NotSimple(f"table option {token.text}")
        option = str(token.value)
        if option == "CHARACTER":
            stream.expect_word("SET")
            option = "CHARSET"
        stream.accept_op("=")
        _TABLE_OPTIONS.get(option, _option_other)(stream, table, option)


def _option_engine(stream: TokenStream, table: TableModel, option: str) -> None:
    engine = stream.identifier()
    table.engine = {"innodb": "InnoDB", "myisam": "MyISAM", "memory": "MEMORY"}.get(
        engine.lower(), engine)


def _option_charset(stream: TokenStream, table: TableModel, option: str) -> None:
    found = charset_named(stream.identifier())
    if found is not None:
        table.charset = found.name
        if collation_named(table.collation) is None or \
                collation_named(table.collation).charset != found.name:  # type: ignore[union-attr]
            table.collation = found.default_collation


def _option_collate(stream: TokenStream, table: TableModel, option: str) -> None:
    found = collation_named(stream.identifier())
    if found is not None:
        table.collation, table.charset = found.name, found.charset


def _option_comment(stream: TokenStream, table: TableModel, option: str) -> None:
    table.comment = str(stream.next().value)


def _option_auto_increment(stream: TokenStream, table: TableModel, option: str) -> None:
    table.auto_increment = int(stream.next().value)


def _option_row_format(stream: TokenStream, table: TableModel, option: str) -> None:
    value = stream.next().text
    table.row_format = value.capitalize()
    table.create_options = (table.create_options + f" row_format={value.upper()}").strip()


def _option_shown(stream: TokenStream, table: TableModel, option: str) -> None:
    """An option SHOW CREATE TABLE prints back as stored (the stored DDL has MySQL's form)."""
    token = stream.next()
    table.options[option] = quote_string(str(token.value)) if token.kind == "string" \
        else token.text


def _option_tablespace(stream: TokenStream, table: TableModel, option: str) -> None:
    table.options[option] = quote_ident(stream.identifier())


def _option_other(stream: TokenStream, table: TableModel, option: str) -> None:
    if stream.peek().text == "(":
        _parenthesised(stream)
    else:
        stream.next()


_TABLE_OPTIONS = {
    "ENGINE": _option_engine, "TYPE": _option_engine, "CHARSET": _option_charset,
    "COLLATE": _option_collate, "COMMENT": _option_comment,
    "AUTO_INCREMENT": _option_auto_increment, "ROW_FORMAT": _option_row_format,
    **{name: _option_shown for name in SHOWN_TABLE_OPTIONS if name not in (
        "ROW_FORMAT", "COMMENT")},
    "TABLESPACE": _option_tablespace, "AUTOEXTEND_SIZE": _option_shown,
}
