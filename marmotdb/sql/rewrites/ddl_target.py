"""What a DDL statement is about, read from its first words without translating it.

The session needs two answers before a DDL is translated: which database it runs in (its
*home*: the database of the first object it names, ``CREATE TABLE otherdb.t`` runs in
``otherdb`` whatever the current database is), and whether it is about one of the session's
temporary tables (sql/temporary.py runs those on the session's own connection). Both come
from ``ddl_target``: the verb, the kind of object, ``TEMPORARY``, ``IF [NOT] EXISTS`` and the
qualified table names, in statement order. The full statement is parsed later by
rewrites/ddl/; a statement this reader does not follow gives None and takes the ordinary path.
"""

from __future__ import annotations

from dataclasses import dataclass

from marmotdb import errors
from marmotdb.sql.rewrites.ddl import DdlParser

Name = tuple[str | None, str]  # (database or None, object name)
_KINDS = frozenset({"TABLE", "TABLES", "INDEX", "VIEW", "TRIGGER", "DATABASE", "SCHEMA"})
_PREFIX_WORDS = frozenset({"OR", "REPLACE", "TEMPORARY", "UNIQUE", "FULLTEXT", "SPATIAL",
                           "ONLINE", "OFFLINE", "IGNORE", "ALGORITHM", "DEFINER", "SQL",
                           "SECURITY", "INVOKER", "MERGE", "TEMPTABLE", "UNDEFINED",
                           "CURRENT_USER"})


@dataclass(frozen=True, slots=True)
class DdlTarget:
    verb: str  # CREATE | ALTER | DROP | RENAME | TRUNCATE
    kind: str  # TABLE | INDEX | VIEW | TRIGGER | DATABASE | SCHEMA (ALTER DATABASE)
    temporary: bool  # CREATE/DROP TEMPORARY TABLE
    guarded: bool  # IF [NOT] EXISTS
    name: Name  # the object defined: the table, view, trigger (an index: its table)
    tables: tuple[Name, ...]  # the tables the statement changes, in statement order

    def home(self, current: str | None) -> str | None:
        """The database the statement runs in (None: no database selected)."""
        return (self.name[0] or current or "").lower() or None


def ddl_target(sql: str) -> DdlTarget | None:
    """The target of CREATE/ALTER/DROP/RENAME/TRUNCATE of a table, index, view or trigger;
    None for anything else (or a shape this reader does not follow)."""
    try:
        return _read(DdlParser(sql))
    except errors.MarmotError:  # a syntax error: the translator reports it in full
        return None


def _read(parser: DdlParser) -> DdlTarget | None:
    verb = parser.accept("CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE")
    if verb is None:
        return None
    if verb == "TRUNCATE":
        parser.accept("TABLE")
        name = parser.qualified_name()
        return DdlTarget(verb, "TABLE", False, False, name, (name,))
    temporary = _skip_prefix(parser)
    kind = parser.accept(*_KINDS)
    if kind is None:
        return None
    guarded = parser.accept_seq("IF", "NOT", "EXISTS") or parser.accept_seq("IF", "EXISTS")
    reader = _READERS[kind]
    name, tables = reader(parser)
    return DdlTarget(verb, "TABLE" if kind == "TABLES" else kind, temporary, guarded, name,
                     tables)


def _skip_prefix(parser: DdlParser) -> bool:
    """Skip OR REPLACE, TEMPORARY, UNIQUE, view attributes …; True when TEMPORARY was one."""
    temporary = False
    while parser.token.upper in _PREFIX_WORDS or parser.at_op("=") or parser.at_op("@") or (
            parser.token.kind in ("word", "ident", "str") and parser.peek(-1).text in ("=", "@")):
        temporary = temporary or parser.token.upper == "TEMPORARY"
        parser.pos += 1
    return temporary


def _tables(parser: DdlParser) -> tuple[Name, tuple[Name, ...]]:
    """``a [, b …]`` or ``a TO b [, c TO d …]`` (RENAME)."""
    names = [parser.qualified_name()]
    while parser.accept_op(",") or parser.accept("TO"):
        names.append(parser.qualified_name())
    return names[0], tuple(names)


def _on_table(parser: DdlParser) -> tuple[Name, tuple[Name, ...]]:
    """``index ON table``: the index's table is what the statement changes."""
    parser.qualified_name()
    while not parser.accept("ON"):
        if parser.token.kind == "end":
            return (None, ""), ()
        parser.pos += 1
    name = parser.qualified_name()
    return name, (name,)


def _trigger(parser: DdlParser) -> tuple[Name, tuple[Name, ...]]:
    """``[db.]trigger … ON table``: a trigger lives in its own name's database."""
    name = parser.qualified_name()
    while parser.token.kind != "end" and not parser.accept("ON"):
        parser.pos += 1
    table = parser.qualified_name() if parser.token.kind != "end" else None
    return name, (table,) if table else ()


def _database(parser: DdlParser) -> tuple[Name, tuple[Name, ...]]:
    """``ALTER DATABASE [name] options``: it runs in the database named (or the current one);
    CREATE/DROP DATABASE are the session's and never come here."""
    if parser.token.kind == "word" and parser.at("DEFAULT", "CHARSET", "CHARACTER", "COLLATE",
                                                 "ENCRYPTION", "READ"):
        return (None, ""), ()
    return (parser.identifier(), ""), ()


_READERS = {"TABLE": _tables, "TABLES": _tables, "VIEW": _tables, "INDEX": _on_table,
            "TRIGGER": _trigger, "DATABASE": _database, "SCHEMA": _database}
