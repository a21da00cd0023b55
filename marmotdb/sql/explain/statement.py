"""EXPLAIN [ANALYZE] [FORMAT=TRADITIONAL|JSON|TREE] of SELECT/INSERT/REPLACE/UPDATE/DELETE.

Theory of operation
-------------------
``parse_request`` reads the EXPLAIN prefix (``DESCRIBE``/``DESC`` are synonyms); a statement
that names a table instead (``EXPLAIN t``) is not ours (None: the catalog's DESCRIBE). The
executor translates the explained statement as it would run it, then ``explain`` asks SQLite
for the plan of each translated DML statement (``EXPLAIN QUERY PLAN``: SQLite prepares the
statement and never steps it, so a plain EXPLAIN never writes), reads it into MySQL's query
blocks (``plan.py``), completes every table access with what MySQL shows and SQLite
does not say, and renders the requested format (``render.py``):

* key names: SQLite's index names mapped back to the MySQL names of the table definition
  (``PRIMARY`` for the rowid or primary key); ``key_len`` in MySQL's bytes per key part
  (utf8mb4: 4 per character, +2 for VARCHAR, +1 when nullable);
* access type refined: an equality on every column of a unique key is eq_ref, or const when
  every value compared is a constant; ``ref`` says per key part ``const``, ``db.alias.column``
  (a join) or ``func``, read from the SQLite statement's WHERE and ON conditions;
* ``rows``: estimates, as MySQL's are: the table's row count (exact up to 10,000 rows, the
  rowid range above) for scans, 1 for a unique lookup, a tenth of the table for a non-unique
  equality and a third for a range (marmotdb keeps no index statistics); ``filtered`` 100;
* Extra: Using where (a condition on the table beyond its key), Using index (covering), Using
  temporary, Using filesort, No tables used, Select tables optimized away, Recursive.

EXPLAIN ANALYZE runs the SELECT through the normal read path and reports the measured time and
row count on the root of the TREE (SQLite has no per-step counters in this build). It is
SELECT-only here: explaining a write by running it is refused with 1235.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import apsw
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from marmotdb import errors
from marmotdb.mysql.types import ResultSet
from marmotdb.sql.binding import USER_PREPARE_FLAGS
from marmotdb.sql.catalog.snapshot import row_count
from marmotdb.sql.explain.plan import PRIMARY, Access, Block, read_plan
from marmotdb.sql.explain.render import RENDERERS, analyzed_tree, render_tree
from marmotdb.sql.rewrites.expressions import not_supported
from marmotdb.sql.rewrites.dml import source_tables
from marmotdb.sql.schema import ColumnDef, IndexDef, TableDef
from marmotdb.sql.translate import Kind, Translation

TableDefs = Callable[[str], TableDef | None]  # by name; "db.table": another database's

_REQUEST = re.compile(
    r"^\s*(?:EXPLAIN|DESCRIBE|DESC)\s+(?P<analyze>ANALYZE\s+)?(?:(?:EXTENDED|PARTITIONS)\s+)?"
    r"(?:FORMAT\s*=\s*(?P<format>'\w*'|\"\w*\"|\w+)\s*)?(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_EXPLAINABLE = frozenset({"SELECT", "INSERT", "REPLACE", "UPDATE", "DELETE", "WITH", "TABLE",
                          "VALUES"})
_FORMATS = frozenset({"TRADITIONAL", "JSON", "TREE"})


@dataclass(frozen=True, slots=True)
class ExplainRequest:
    statement: str
    format: str = "TRADITIONAL"
    analyze: bool = False


def parse_request(text: str) -> ExplainRequest | None:
    """The EXPLAIN of a statement, or None for ``EXPLAIN/DESCRIBE <table>``. Raises 1064 for
    a malformed one, 1791 for an unknown format, 1235 for what marmotdb does not explain."""
    found = _REQUEST.match(text)
    if found is None:
        return None
    rest = found.group("rest").strip()
    first = re.match(r"\(|\w+", rest)
    word = first.group(0).upper() if first else ""
    decorated = found.group("analyze") or found.group("format")
    if word not in _EXPLAINABLE and word != "(" and not decorated:
        if word == "FOR":
            raise not_supported("EXPLAIN FOR CONNECTION")
        return None
    if word not in _EXPLAINABLE and word != "(":
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check "
                           "the manual that corresponds to your MySQL server version for the "
                           f"right syntax to use near '{rest[:80]}'")
    return ExplainRequest(rest, _format(found.group("format"), bool(found.group("analyze"))),
                          bool(found.group("analyze")))


def _format(name: str | None, analyze: bool) -> str:
    if name is None:
        return "TREE" if analyze else "TRADITIONAL"
    name = name.strip("'\"").upper()
    if name not in _FORMATS:
        raise errors.error(errors.ER_UNKNOWN_EXPLAIN_FORMAT,
                           f"Unknown EXPLAIN format name: '{name}'")
    if analyze and name != "TREE":
        raise not_supported(f"EXPLAIN ANALYZE with format {name}")
    return name


# ---------------------------------------------------------------- entry points

_ROOT_TYPES = {Kind.SELECT: "SIMPLE", Kind.INSERT: "INSERT", Kind.REPLACE: "REPLACE",
               Kind.UPDATE: "UPDATE", Kind.DELETE: "DELETE"}
_DML_HEAD = re.compile(r"^\s*(?:SELECT|INSERT|REPLACE|UPDATE|DELETE|WITH|VALUES)\b", re.I)


def explain(request: ExplainRequest, translation: Translation, params: dict[str, Any],
            conn: apsw.Connection, tables: TableDefs, database: str | None) -> ResultSet:
    """The EXPLAIN result of a translated statement, planned on ``conn`` (never run)."""
    return RENDERERS[request.format](plan(translation, params, conn, tables, database))


def check_explainable(request: ExplainRequest, translation: Translation) -> None:
    if translation.kind not in _ROOT_TYPES or not translation.statements:
        raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; this "
                           "statement cannot be explained")
    if request.analyze and translation.kind is not Kind.SELECT:
        raise not_supported("EXPLAIN ANALYZE of INSERT, REPLACE, UPDATE or DELETE")


def plan(translation: Translation, params: dict[str, Any], conn: apsw.Connection,
         tables: TableDefs, database: str | None) -> list[Block]:
    """One root block per translated DML statement, completed with MySQL's details. An
    UPDATE … ORDER BY (``row_by_row``) is planned as its ordered read of the rows: the UPDATE
    of one row by rowid that follows adds nothing MySQL shows."""
    roots: list[Block] = []
    next_id = 1
    for statement in translation.statements[:1] if translation.row_by_row \
            else translation.statements:
        if not _DML_HEAD.match(statement):
            continue
        lines = conn.execute("EXPLAIN QUERY PLAN " + statement, params,
                             prepare_flags=USER_PREPARE_FLAGS).fetchall()
        root = _root(translation, lines, next_id)
        _Completer(statement, conn, tables, database).complete(root)
        roots.append(root)
        next_id = max(b.select_id for b in root.blocks()) + 1
    return roots


def no_tables(request: ExplainRequest) -> ResultSet:
    """EXPLAIN of a statement without tables (``SELECT @@version``)."""
    root = Block(1, "SIMPLE", [Access(table=None, access_type=None, extra=["No tables used"])])
    return RENDERERS[request.format]([root])


def analyzed(roots: list[Block], rows: int, seconds: float) -> ResultSet:
    """EXPLAIN ANALYZE: the TREE with the measured time and rows on its root."""
    return analyzed_tree(render_tree(roots), rows, seconds)


def _root(translation: Translation, lines: list[Any], select_id: int) -> Block:
    kind = translation.kind
    if kind not in (Kind.INSERT, Kind.REPLACE):
        return read_plan(lines, _ROOT_TYPES[kind], select_id)
    target = translation.tables[0] if translation.tables else None
    root = Block(select_id, _ROOT_TYPES[kind], [Access(table=target, access_type="ALL")])
    if lines:
        root.source = read_plan(lines, "SIMPLE", select_id)
    return root


# ---------------------------------------------------------------- MySQL's details

class _Completer:
    """Fills in what MySQL shows for every access of a statement's blocks."""

    def __init__(self, statement: str, conn: apsw.Connection, tables: TableDefs,
                 database: str | None):
        self.conn = conn
        self.tables = tables
        self.conditions = _Conditions(statement, tables, database or "")
        self.counts: dict[str, int | None] = {}

    def complete(self, root: Block) -> None:
        for block in root.blocks():
            for access in block.accesses:
                if block.select_type in ("INSERT", "REPLACE"):
                    access.label = access.table
                else:
                    self.access(access)
            if block.accesses:
                first = block.accesses[0].extra
                first += ["Using temporary"] if block.temporary else []
                first += ["Using filesort"] if block.filesort else []
                first += ["Recursive"] if block.recursive else []

    def access(self, access: Access) -> None:
        if access.table is None:
            return
        if access.access_type is None:
            access.extra.append("Select tables optimized away")
            access.table = None
            return
        access.label = f"<derived{access.derived.select_id}>" if access.derived else \
            self.conditions.label(access.table)
        table = self._definition(access.table)
        if access.access_type == "index_merge":
            self._merge(access, table)
            return
        access.key = _mysql_key(access.index, table)
        access.key_parts = self._key_parts(access, table)
        access.key_length = _key_length(table, access.key, access.key_parts)
        self._refine(access, table)
        access.rows = self._rows(access)
        self._extra(access)

    def _definition(self, alias: str) -> TableDef | None:
        return self.tables(self.conditions.table_of(alias))

    def _merge(self, access: Access, table: TableDef | None) -> None:
        for branch in access.merged:
            branch.key = _mysql_key(branch.index, table)
        access.key = ",".join(b.key for b in access.merged if b.key)
        access.rows = self._count(access.table)
        access.extra.append(f"Using union({access.key}); Using where")

    def _key_parts(self, access: Access, table: TableDef | None) -> list[str]:
        columns = [re.split(r"[=<>]", part, maxsplit=1)[0] for part in access.condition]
        if not columns and access.access_type == "index" and table is not None:
            index = _index(table, access.key)
            columns = [c for c, _, _ in index.columns] if index is not None else []
        primary = table.primary_key if table is not None else None
        named = [primary.columns[0][0] if c == "rowid" and primary else c for c in columns]
        return list(dict.fromkeys(named))

    def _refine(self, access: Access, table: TableDef | None) -> None:
        if access.access_type != "ref":
            return
        access.ref = [self.conditions.ref(access.table or "", c) for c in access.key_parts]
        index = _index(table, access.key) if table is not None else None
        unique = access.key == PRIMARY or (index is not None and index.kind != "INDEX")
        if unique and (index is None or len(access.key_parts) >= len(index.columns)):
            access.access_type = "const" if set(access.ref) == {"const"} else "eq_ref"

    def _rows(self, access: Access) -> int | None:
        if access.derived is not None or access.index == "<auto_key0>":
            return None
        total = self._count(access.table)
        if total is None or access.access_type in ("const", "eq_ref"):
            return 1 if total is not None else None
        share = {"ref": 10, "range": 3}.get(access.access_type or "", 1)
        return max(1, total // share) if total else 0

    def _count(self, alias: str | None) -> int | None:
        name = self.conditions.table_of(alias or "")
        if name not in self.counts:
            schema, table = self.conditions.qualified.get(name, (None, name))
            try:
                self.counts[name] = row_count(self.conn, table, schema)
            except apsw.SQLError:  # a CTE or a derived table: not a table of the database
                self.counts[name] = None
        return self.counts[name]

    def _extra(self, access: Access) -> None:
        filtered = self.conditions.columns_of(access.table or "")
        beyond_key = filtered - {c.lower() for c in access.key_parts}
        if filtered and (access.access_type in ("ALL", "index", "range") or beyond_key):
            access.extra.insert(0, "Using where")
        if access.covering:
            access.extra.append("Using index")
        if access.join == "semi":
            access.extra.append("FirstMatch")


def _index(table: TableDef | None, key: str | None) -> IndexDef | None:
    if table is None or key is None:
        return None
    return next((i for i in table.indexes if i.name.lower() == key.lower()), None)


def _mysql_key(index: str | None, table: TableDef | None) -> str | None:
    """SQLite's index name as MySQL names the key."""
    if index is None or index in (PRIMARY, "<auto_key0>"):
        return index
    if index.lower().startswith("sqlite_autoindex_"):
        return PRIMARY
    for known in table.indexes if table is not None else []:
        if (known.sqlite_name or "").lower() == index.lower():
            return known.name
    return index


# MySQL's bytes per key part (InnoDB, utf8mb4); +1 when the column is nullable.
_FIXED_BYTES = {"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "integer": 4,
                "bigint": 8, "float": 4, "double": 8, "real": 8, "date": 3, "year": 1,
                "time": 3, "datetime": 5, "timestamp": 4, "bool": 1, "boolean": 1}
_DECIMAL_DIGIT_BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)


def _key_length(table: TableDef | None, key: str | None, parts: list[str]) -> int | None:
    index = _index(table, key)
    if table is None or not parts or (index is None and key != PRIMARY):
        return None
    prefixes = {c.lower(): p for c, p, _ in index.columns} if index is not None else {}
    total = 0
    for name in parts:
        column = table.column(name)
        if column is None:
            return None
        total += _part_bytes(column, prefixes.get(name.lower())) + int(column.nullable)
    return total


def _part_bytes(column: ColumnDef, prefix: int | None) -> int:
    kind = column.type
    if kind.name in _FIXED_BYTES:
        return _FIXED_BYTES[kind.name] + (kind.fsp + 1) // 2
    if kind.name == "decimal":
        return _decimal_bytes((kind.length or 10) - (kind.scale or 0)) + \
            _decimal_bytes(kind.scale or 0)
    characters = prefix or kind.length or 0
    if kind.family == "text":
        return characters * 4 + (0 if kind.name == "char" else 2)
    if kind.family == "binary":
        return characters + (0 if kind.name == "binary" else 2)
    if kind.name == "bit":
        return ((kind.length or 1) + 7) // 8
    return 2 if kind.name in ("enum", "set") else 8


def _decimal_bytes(digits: int) -> int:
    return digits // 9 * 4 + _DECIMAL_DIGIT_BYTES[digits % 9]


# ---------------------------------------------------------------- the statement's conditions

class _Conditions:
    """What the SQLite statement says about each table alias: the table it names, the
    columns its WHERE/ON/HAVING conditions read, and what each column is compared with."""

    def __init__(self, statement: str, tables: TableDefs, database: str):
        self.tables = tables
        self.database = database
        self.aliases: dict[str, str] = {}
        self.qualified: dict[str, tuple[str, str]] = {}  # "db.table" -> (db, table)
        self.filters: dict[str, set[str]] = {}
        self.compared: dict[tuple[str, str], str] = {}
        try:
            tree = sqlglot.parse_one(statement, read="sqlite")
        except (ParseError, TokenError):
            return
        for table in tree.find_all(exp.Table):
            name = f"{table.db}.{table.name}" if table.db else table.name
            self.aliases.setdefault(table.alias_or_name.lower(), name)
            if table.db:  # another database's table: SQLite's plan names it "db.table"
                self.aliases.setdefault(name.lower(), name)
                self.qualified[name] = (table.db, table.name)
        for clause in [*tree.find_all(exp.Where), *tree.find_all(exp.Having), *(
                j.args["on"] for j in tree.find_all(exp.Join) if j.args.get("on"))]:
            self._read(clause)

    def table_of(self, alias: str) -> str:
        """The table an alias names: "db.table" for another database's (``qualified``)."""
        return self.aliases.get(alias.lower(), alias)

    def label(self, alias: str) -> str:
        """The name MySQL shows for a table access: its alias, or the table's own name."""
        found = self.qualified.get(self.table_of(alias))
        return found[1] if found is not None and "." in alias else alias

    def columns_of(self, alias: str) -> set[str]:
        return self.filters.get(alias.lower(), set())

    def ref(self, alias: str, column: str) -> str:
        return self.compared.get((alias.lower(), column.lower()), "const")

    def _read(self, clause: exp.Expression) -> None:
        for column in clause.find_all(exp.Column):
            owner = self._owner(column)
            if owner is not None:
                self.filters.setdefault(owner, set()).add(column.name.lower())
        for equality in clause.find_all(exp.EQ):
            self._compare(equality.this, equality.expression)
            self._compare(equality.expression, equality.this)

    def _compare(self, side: exp.Expression, other: exp.Expression) -> None:
        owner = self._owner(side) if isinstance(side, exp.Column) else None
        if owner is None:
            return
        if isinstance(other, exp.Column) and (source := self._owner(other)) is not None:
            what = ".".join(p for p in (self.database, source, other.name) if p)
        elif isinstance(other, (exp.Literal, exp.Placeholder, exp.Null, exp.Neg)):
            what = "const"
        else:
            what = "func"
        self.compared.setdefault((owner, side.name.lower()), what)

    def _owner(self, column: exp.Column) -> str | None:
        """The alias (lower-case) of the table a column belongs to."""
        if column.table:
            return column.table.lower()
        select = column.find_ancestor(exp.Select, exp.Update, exp.Delete)
        if select is None:
            return None
        sources = source_tables(select) if isinstance(select, exp.Select) else {
            t.alias_or_name.lower(): t.name for t in select.find_all(exp.Table)}
        owners = [alias for alias, name in sources.items()
                  if (d := self.tables(name)) is not None and d.column(column.name)]
        return owners[0] if len(owners) == 1 else None
