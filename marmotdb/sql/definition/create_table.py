"""The one CREATE TABLE reader: MySQL ``CREATE TABLE`` text (or the table elements ALTER TABLE
adds) into a ``schema.TableDef`` — columns with their MySQL type, nullability, default,
generation expression, character set and collation, comment and AUTO_INCREMENT; keys; foreign
keys; checks; table options.

Both sides of marmotdb read tables through it: the translation (rewrites/ddl/) turns a user's
statement into a TableDef and renders SQLite DDL and the stored SHOW CREATE text from it; the
catalog (catalog/snapshot.py) reads that stored text back into the same TableDef before it
describes the table (SHOW CREATE TABLE, SHOW COLUMNS, INFORMATION_SCHEMA). Bad input is MySQL's
error (1064 and the validation errors of columns.py / keys.py), never a guess.
"""

from __future__ import annotations



from marmotdb.errors import not_supported
from marmotdb.sql.schema import TableDef
from marmotdb.sql.definition.columns import name_list, parse_column, references
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.definition.keys import TableBuilder, index_definition
from marmotdb.sql.definition.table_options import parse_table_options


def parse_table_element(parser: DdlParser, builder: TableBuilder) -> None:
    """One element of a CREATE TABLE body: a column, key, foreign key or check."""
    constraint_name = ""
    if parser.accept("CONSTRAINT") and not parser.at("PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
        constraint_name = parser.identifier()
    if parser.accept("PRIMARY"):
        parser.expect("KEY")
        skip_index_name(parser)
        builder.add_index(index_definition(parser, "PRIMARY", "PRIMARY"))
    elif parser.accept("UNIQUE"):
        parser.accept("KEY", "INDEX")
        name = skip_index_name(parser) or constraint_name
        builder.add_index(index_definition(parser, name, "UNIQUE"))
    elif parser.accept("KEY", "INDEX"):
        name = skip_index_name(parser)
        builder.add_index(index_definition(parser, name, "INDEX"))
    elif parser.accept("FULLTEXT"):
        parser.accept("KEY", "INDEX")
        name = skip_index_name(parser)
        builder.add_index(index_definition(parser, name, "FULLTEXT"))
    elif parser.at("SPATIAL"):
        raise not_supported(f"{parser.token.upper} indexes")
    elif parser.accept("FOREIGN"):
        parser.expect("KEY")
        index_name = skip_index_name(parser)
        columns = name_list(parser)
        parser.expect("REFERENCES")
        builder.add_foreign_key(references(parser, columns, constraint_name or index_name))
    elif parser.accept("CHECK"):
        expression = parser.balanced()
        enforced = not parser.accept_seq("NOT", "ENFORCED")
        parser.accept("ENFORCED")
        builder.add_check(constraint_name, expression, enforced)
    else:
        builder.add_column(parse_column(parser))


def skip_index_name(parser: DdlParser) -> str:
    name = ""
    if not parser.at_op("(") and not parser.at("USING"):
        name = parser.identifier()
    if parser.accept("USING"):
        parser.expect("BTREE", "HASH")
    return name


# Accepted without effect and not shown (PASSWORD is unused in MySQL 8, which shows it no more
# than it does INSERT_METHOD of a table that is not MERGE).


def parse_table_body(parser: DdlParser, name: str, into: TableDef | None = None) -> TableDef:
    """``(elements) options``; ``into``: the table to fill (one with the database's default
    character set, for a table that names none), else a new one."""
    builder = TableBuilder(into if into is not None else TableDef(name=name))
    parser.expect_op("(")
    while True:
        parse_table_element(parser, builder)
        if not parser.accept_op(","):
            break
    parser.expect_op(")")
    parse_table_options(parser, builder.table)
    return builder.finish()


def parse_create_table(sql: str) -> TableDef:
    """A MySQL ``CREATE TABLE name (…) options`` (e.g. the stored SHOW CREATE text)."""
    parser = DdlParser(sql)
    parser.expect("CREATE")
    parser.accept("TEMPORARY")
    parser.expect("TABLE")
    parser.accept_seq("IF", "NOT", "EXISTS")
    _, name = parser.qualified_name()
    return parse_table_body(parser, name)
