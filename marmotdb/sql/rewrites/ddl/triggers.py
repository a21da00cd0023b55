"""CREATE TRIGGER and DROP TRIGGER: a MySQL trigger body (SET NEW.col = …, SIGNAL, IF … THEN,
INSERT/UPDATE/DELETE) as a SQLite trigger; a BEFORE trigger that sets NEW becomes an UPDATE of
the row just written.
"""

from __future__ import annotations

import re

from marmotdb import errors
from marmotdb.errors import not_supported
from marmotdb.sql import schema
from marmotdb.sql.schema import TableDef, sql_literal
from marmotdb.sql.definition.cursor import DdlParser, unquote
from marmotdb.sql.rewrites.ddl.alter_plan import load_for_alter
from marmotdb.sql.rewrites.ddl.context import DdlContext, DdlResult, check_database
from marmotdb.sql.rewrites.ddl.render import q


_TRIGGER_RE = re.compile(r"^\s*SET\s+NEW\s*\.\s*(`(?:[^`]|``)+`|\w+)\s*=\s*(.+)$",
                         re.IGNORECASE | re.DOTALL)
_SIGNAL_RE = re.compile(r"^\s*SIGNAL\s+SQLSTATE\s+(?:VALUE\s+)?'(\w+)'"
                        r"(?:\s+SET\s+MESSAGE_TEXT\s*=\s*('(?:[^'\\]|\\.|'')*'))?",
                        re.IGNORECASE | re.DOTALL)
_IF_RE = re.compile(r"^\s*IF\s+(.+?)\s+THEN\s+(.+?);?\s*END\s+IF\s*$", re.IGNORECASE | re.DOTALL)


def create_trigger(parser: DdlParser, ctx: DdlContext, original: str) -> DdlResult:
    parser.expect("TRIGGER")
    if_not_exists = parser.accept_seq("IF", "NOT", "EXISTS")
    db, name = parser.qualified_name()
    check_database(db, ctx)
    timing = parser.expect("BEFORE", "AFTER")
    event = parser.expect("INSERT", "UPDATE", "DELETE")
    parser.expect("ON")
    db, table_name = parser.qualified_name()
    check_database(db, ctx)
    parser.expect("FOR")
    parser.expect("EACH")
    parser.expect("ROW")
    if parser.accept("FOLLOWS", "PRECEDES"):
        parser.identifier()
    body = parser.rest().rstrip().rstrip(";")
    table = load_for_alter(ctx, table_name)
    statements = _trigger_body(body, timing, table, ctx)
    sqlite_timing = "AFTER" if timing == "BEFORE" and any(
        s.startswith("UPDATE") and "NEW.rowid" in s for s in statements) else timing
    guard = "IF NOT EXISTS " if if_not_exists else ""
    sqlite_sql = (f"CREATE TRIGGER {guard}{q(name)} {sqlite_timing} {event} ON {q(table.name)} "
                  f"FOR EACH ROW BEGIN " + "; ".join(statements) + "; END")
    import json
    mysql_sql = f"CREATE DEFINER=CURRENT_USER TRIGGER {schema.quote_ident(name)} {timing} " \
                f"{event} ON {schema.quote_ident(table.name)} FOR EACH ROW {body}"
    meta = json.dumps({"table": table.name.lower(), "timing": timing, "event": event,
                       "statement": body, **ctx.creation_charsets.to_meta()})
    return DdlResult([sqlite_sql, schema.upsert_statement("trigger", name, mysql_sql, meta)],
                     tables=(table.name.lower(),))


def _split_body(body: str) -> list[str]:
    from marmotdb.sql.text.shape import split_statements
    stripped = body.strip()
    if re.match(r"^BEGIN\b", stripped, re.IGNORECASE) and re.search(r"\bEND\s*$", stripped,
                                                                      re.IGNORECASE):
        inner = stripped[5:-3]
        parts: list[str] = []
        depth_text = ""
        for piece in split_statements(inner):
            depth_text = f"{depth_text}; {piece}" if depth_text else piece
            if re.match(r"^\s*IF\b", depth_text, re.IGNORECASE) and not re.search(
                    r"\bEND\s+IF\s*$", depth_text, re.IGNORECASE):
                continue
            parts.append(depth_text)
            depth_text = ""
        return parts
    return [stripped]


def _trigger_body(body: str, timing: str, table: TableDef, ctx: DdlContext) -> list[str]:
    statements: list[str] = []
    for piece in _split_body(body):
        statements += _trigger_statement(piece, timing, table, ctx, None)
    return statements


def _trigger_statement(piece: str, timing: str, table: TableDef, ctx: DdlContext,
                       condition: str | None) -> list[str]:
    set_new = _TRIGGER_RE.match(piece)
    if set_new:
        if timing != "BEFORE":
            raise errors.error(1362, "Updating of NEW row is not allowed in after trigger")
        column = set_new.group(1).strip("`")
        value = ctx.expression(set_new.group(2))
        where = "rowid = NEW.rowid" + (f" AND ({condition})" if condition else "")
        return [f"UPDATE {q(table.name)} SET {q(column)} = {value} WHERE {where}"]
    signal = _SIGNAL_RE.match(piece)
    if signal:
        message = unquote(signal.group(2)) if signal.group(2) else \
            "Unhandled user-defined exception condition"
        raise_sql = f"SELECT RAISE(ABORT, {sql_literal('MYSQL_SIGNAL:' + message)})"
        return [raise_sql + (f" WHERE {condition}" if condition else "")]
    branch = _IF_RE.match(piece)
    if branch:
        if condition is not None:
            raise not_supported("nested IF in a trigger")
        test = ctx.expression(branch.group(1))
        out: list[str] = []
        for inner in re.split(r";\s*", branch.group(2).strip()):
            if inner.strip():
                out += _trigger_statement(inner, timing, table, ctx, test)
        return out
    if condition is not None:
        raise not_supported("statements other than SET NEW / SIGNAL inside IF in a trigger")
    if re.match(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", piece, re.IGNORECASE):
        return ctx.trigger_statements(piece)
    raise not_supported(f"this statement in a trigger: {piece.strip()[:40]}")


def drop_trigger(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    parser.accept_seq("IF", "EXISTS")
    db, name = parser.qualified_name()
    check_database(db, ctx)
    return DdlResult([f"DROP TRIGGER IF EXISTS {q(name)}",
                      schema.delete_statement("trigger", name)])


# ---------------------------------------------------------------- dispatch
