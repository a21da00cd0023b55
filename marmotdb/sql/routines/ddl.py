"""CREATE/DROP PROCEDURE and FUNCTION: checked at once, stored as ``__marmot_schema`` rows.

``checked_create`` runs in the session before the statement takes the write turn: it parses the
head and the body (1064 / 1235 now, not at CALL time) and writes the creating account into the
text as DEFINER, so the text the DDL runs and replicates names it. ``create_statements`` and
``drop_statements`` are the translation (rewrites/ddl/ calls them): one bookkeeping statement
with literals only, which every node replays the same.
"""

from __future__ import annotations

import datetime
from typing import Any

from marmotdb import errors
from marmotdb.sql.text import lexer
from marmotdb.sql.routines import program
from marmotdb.sql.routines.definition import Routine, _quote, parse_create, parse_drop
from marmotdb.sql.routines.store import delete_statement, upsert_statement

ER_SP_ALREADY_EXISTS = 1304
ER_SP_NO_RETSET = 1415
ER_SP_BADRETURN = 1313
ER_SP_NORETURN = 1320


def with_definer(sql: str, user: str, host: str) -> str:
    """``sql`` (a CREATE PROCEDURE/FUNCTION) with ``DEFINER=`user`@`host``` if it has none."""
    toks = [t for t in lexer.tokens(sql) if t.kind not in lexer.BLANK_KINDS]
    if len(toks) > 1 and toks[1].text.upper() == "DEFINER":
        return sql
    at = toks[0].end
    return f"{sql[:at]} DEFINER={_quote(user)}@{_quote(host)}{sql[at:]}"


def checked_create(sql: str, user: str, host: str) -> tuple[Routine, str | None, bool, str]:
    """(routine, database qualifier, IF NOT EXISTS, the text to run with its DEFINER)."""
    text = with_definer(sql, user, host)
    routine, database, guarded = parse_create(text, f"{_quote(user)}@{_quote(host)}")
    tree = program.parse_body(routine.body)
    _check_tree(tree, routine)
    return routine, database, guarded, text


def _check_tree(node: program.Node, routine: Routine) -> None:
    """What MySQL refuses when the routine is created: RETURN in a procedure, a result set
    or a missing RETURN in a function."""
    returns = False
    for each in _walk(node):
        if isinstance(each, program.Return):
            if routine.kind == "PROCEDURE":
                raise errors.error(ER_SP_BADRETURN, "RETURN is only allowed in a FUNCTION")
            returns = True
        if routine.kind == "FUNCTION" and isinstance(each, program.Sql) and not each.into \
                and each.text.split(None, 1)[0].upper() in ("SELECT", "WITH", "(", "SHOW",
                                                            "TABLE", "VALUES"):
            raise errors.error(ER_SP_NO_RETSET, "Not allowed to return a result set from a "
                               "function")
    if routine.kind == "FUNCTION" and not returns:
        raise errors.error(ER_SP_NORETURN, f"No RETURN found in FUNCTION {routine.name}")


def _walk(node: program.Node):  # type: ignore[no-untyped-def]
    yield node
    children: list[program.Node] = []
    if isinstance(node, program.Block):
        children = node.body
    elif isinstance(node, (program.If, program.Case)):
        children = [n for _, body in node.branches for n in body]
    elif isinstance(node, program.Loop):
        children = node.body
    elif isinstance(node, program.Handler):
        children = [node.body]
    for child in children:
        yield from _walk(child)


def create_statements(sql: str, database: str, ctx: Any = None) -> list[str]:
    """The bookkeeping statement of a checked CREATE (its DEFINER is in the text). CREATED is
    the creating statement's time (the session's, from the server clock: no real time here),
    a literal in the statement, so every replica stores the same."""
    routine, qualifier, _ = parse_create(sql, "")
    _check_database(qualifier, database)
    charsets = getattr(ctx, "creation_charsets", None)
    if charsets is not None:
        routine.record_charsets(charsets)
    started_s = _statement_time_s(ctx)
    if started_s:
        routine.created = datetime.datetime.fromtimestamp(started_s).strftime(
            "%Y-%m-%d %H:%M:%S")
    return [upsert_statement(routine)]


def _statement_time_s(ctx: Any) -> float:
    """The running statement's time, from the session bound to the connection the DDL runs
    on (Session._write_now binds it before it translates the DDL); 0 when there is none."""
    binding = getattr(getattr(ctx, "view", None), "_binding", None)
    session = getattr(binding, "session", None)
    return float(getattr(session, "statement_time", 0.0) or 0.0)


def drop_statements(sql: str, database: str) -> list[str]:
    kind, name, qualifier, _ = parse_drop(sql)
    _check_database(qualifier, database)
    return [delete_statement(kind, name)]


def _check_database(qualifier: str | None, database: str) -> None:
    if qualifier is not None and qualifier.lower() != database.lower():
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'a routine of another database than the statement's'")
