"""CHECK / ANALYZE / OPTIMIZE / REPAIR TABLE: what each one does on SQLite, answered with
MySQL's result set (Table, Op, Msg_type, Msg_text), one or more rows per table named.

* CHECK TABLE: ``PRAGMA integrity_check(<table>)`` — the table's b-tree and its indexes
  (QUICK, FAST, CHANGED: ``quick_check``, which skips comparing index contents with the rows).
  Each problem is an ``error`` row followed by ``error Corrupt``, as MySQL reports a damaged
  table; a sound one is ``status OK``. A read, run off the event loop when it is long.
* ANALYZE TABLE: SQLite's ``ANALYZE <table>`` (the planner's sqlite_stat1/stat4 rows). A write:
  it runs as a schema change of its own through the commit pipeline, so every node runs it
  (MySQL writes it to the binary log unless NO_WRITE_TO_BINLOG / LOCAL; here it is always
  replicated: statistics that differ between nodes would give different plans).
* OPTIMIZE TABLE: InnoDB answers "doing recreate + analyze instead"; marmotdb does the analyze
  and says so. Reclaiming free pages would be VACUUM, which rewrites the whole database file
  outside any transaction (it cannot run inside the pipeline's batch, so no other writer could
  be ordered around it) and may renumber the rowids of tables without an INTEGER PRIMARY KEY:
  not done.
* REPAIR TABLE: InnoDB's answer, ``note The storage engine for the table doesn't support
  repair``; nothing runs.

A table that does not exist gets MySQL's two rows (``Error Table '…' doesn't exist``, ``status
Operation failed``); a view is ``OK`` for CHECK and "is not BASE TABLE" for the others. The
tables named are those of one database, the current one or another (the statement then runs
there: translate.py's home database), 1235 for tables of several. A session's temporary table
(sql/temporary.py) is checked like any table; ANALYZE/OPTIMIZE answer for it as for a base
table but keep no statistics of it (they would be a write to replicate, of a table no other
node has).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.rewrites.ddl.render import q
from marmotdb.sql.schema import sql_literal

OPERATIONS = ("ANALYZE", "CHECK", "OPTIMIZE", "REPAIR")
_QUICK = ("QUICK", "FAST", "CHANGED")
_CHECK_OPTIONS = ("FOR", "UPGRADE", "MEDIUM", "EXTENDED") + _QUICK
_OPTIMIZE_NOTE = "Table does not support optimize, doing analyze instead"
_REPAIR_NOTE = "The storage engine for the table doesn't support repair"
_REPAIR_OPTIONS = ("QUICK", "EXTENDED", "USE_FRM")


@dataclass(frozen=True, slots=True)
class Request:
    """One maintenance statement as written: ``names`` are (database or None, table)."""

    operation: str
    names: tuple[tuple[str | None, str], ...]
    options: frozenset[str]


@dataclass(frozen=True, slots=True)
class Maintenance:
    """What the executor runs: ``writes`` (ANALYZE statements, a schema change), then
    ``result_sql``, the result set; ``reads_catalogue``: it reads SQLite's pragma functions,
    which only the server's own statements may (the executor runs it trusted); ``tables``:
    the tables named that exist (lower-case)."""

    writes: tuple[str, ...]
    result_sql: str
    reads_catalogue: bool
    tables: tuple[str, ...]


def parse(text: str) -> Request:
    parser = DdlParser(text)
    operation = parser.expect(*OPERATIONS)
    parser.accept("NO_WRITE_TO_BINLOG", "LOCAL")
    parser.expect("TABLE", "TABLES")
    names = [parser.qualified_name()]
    while parser.accept_op(","):
        names.append(parser.qualified_name())
    options = _options(parser, operation)
    if parser.token.kind != "end":
        parser.fail()
    return Request(operation, tuple(names), frozenset(options))


def plan(request: Request, database: str, kind_of: Callable[[str], str | None]) -> Maintenance:
    """``database``: the one every table named is in; ``kind_of(table)``: 'table',
    'temporary' (the session's), 'view' or None (missing) there."""
    operation = request.operation
    quick = bool(request.options & set(_QUICK))
    parts, writes, checked, tables = [], [], [], []
    for _, name in request.names:
        kind = kind_of(name)
        label = f"{database}.{name}"
        if kind is not None:
            tables.append(name.lower())
        if kind in ("table", "temporary") and operation == "CHECK":
            checked.append(name)
            parts.append(_check_rows(label, name, len(checked) - 1, quick))
            continue
        if kind == "table" and operation in ("ANALYZE", "OPTIMIZE"):
            writes.append(f"ANALYZE {q(name)}")
        parts.append(_literal_rows(label, operation.lower(), _messages(operation, kind, label)))
    result = " UNION ALL ".join(parts)
    if checked:
        result = _check_ctes(checked, quick) + result
    return Maintenance(tuple(writes), result, bool(checked), tuple(tables))


def _options(parser: DdlParser, operation: str) -> set[str]:
    allowed = {"CHECK": _CHECK_OPTIONS, "REPAIR": _REPAIR_OPTIONS}.get(operation, ())
    found = set()
    while (word := parser.accept(*allowed)) is not None:
        found.add(word)
    return found


def _messages(operation: str, kind: str | None, label: str) -> list[tuple[str, str]]:
    if kind is None:
        return [("Error", f"Table '{label}' doesn't exist"), ("status", "Operation failed")]
    if kind == "view":
        if operation == "CHECK":
            return [("status", "OK")]
        return [("Error", f"'{label}' is not BASE TABLE"), ("status", "Operation failed")]
    return {"ANALYZE": [("status", "OK")], "OPTIMIZE": [("note", _OPTIMIZE_NOTE), ("status", "OK")],
            "REPAIR": [("note", _REPAIR_NOTE)]}[operation]


def _row(label: str, op: str, msg_type: str, msg_text: str) -> str:
    return (f'SELECT {sql_literal(label)} AS "Table", {sql_literal(op)} AS "Op", '
            f'{msg_type} AS "Msg_type", {msg_text} AS "Msg_text"')


def _literal_rows(label: str, op: str, messages: list[tuple[str, str]]) -> str:
    return " UNION ALL ".join(_row(label, op, sql_literal(t), sql_literal(m))
                              for t, m in messages)


def _check_ctes(tables: list[str], quick: bool) -> str:
    pragma = "quick_check" if quick else "integrity_check"
    ctes = [f"__check{i} AS MATERIALIZED (SELECT {pragma} AS problem FROM "
            f"pragma_{pragma}({sql_literal(name)}))" for i, name in enumerate(tables)]
    return "WITH " + ", ".join(ctes) + " "


def _check_rows(label: str, name: str, index: int, quick: bool) -> str:
    """The check's own lines ('ok' becomes status OK), then 'Corrupt' if it found any."""
    cte = f"__check{index}"
    ok = "problem = 'ok'"
    lines = (_row(label, "check", f"CASE WHEN {ok} THEN 'status' ELSE 'error' END",
                  f"CASE WHEN {ok} THEN 'OK' ELSE problem END") + f" FROM {cte}")
    corrupt = (_row(label, "check", "'error'", "'Corrupt'")
               + f" WHERE EXISTS (SELECT 1 FROM {cte} WHERE NOT {ok})")
    return f"{lines} UNION ALL {corrupt}"
