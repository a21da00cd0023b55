"""The session's routine statements: CREATE/DROP PROCEDURE/FUNCTION and CALL.

The session hands these here (one line each in session.py); they use its ordinary paths: a
CREATE/DROP runs as a DDL through ``Session._run`` (implicit commit, the write turn,
replication of its bookkeeping statement), a CALL's statements through ``Session.execute``.
"""

from __future__ import annotations

from typing import Any

from marmotdb import errors
from marmotdb.sql.results import CallResult, Ok, Result
from marmotdb.sql.routines import ddl, interpreter, program, store
from marmotdb.sql.routines.definition import Routine, parse_drop
from marmotdb.sql.translate import translate
from marmotdb.storage.databases import Database
from marmotdb.txn.pending import Pending, chain


def lookup(session: Any, database: Database, kind: str, name: str) -> Routine | None:
    """The routine as committed in ``database`` (or as the open transaction sees it)."""
    conn = session.connection_for(database.name)
    with session.server.binding(conn).trusted_scope():
        return store.load(conn, kind, name)


def create(session: Any, sql: str) -> Result | Pending:
    # the definer is the account (CURRENT_USER(): accounts are user@'%'), not the client host
    routine, qualifier, guarded, text = ddl.checked_create(sql, session.user, "%")
    database = session._database(qualifier) if qualifier else session._current()
    session._require(database.name, "admin")
    if lookup(session, database, routine.kind, routine.name) is not None:
        message = f"{routine.kind} {routine.name} already exists"
        if not guarded:
            raise errors.error(ddl.ER_SP_ALREADY_EXISTS, message)
        return chain(session._end(commit=True), lambda _: _noted(session, 1304, message))
    return _run(session, text, database)


def drop(session: Any, sql: str) -> Result | Pending:
    kind, name, qualifier, guarded = parse_drop(sql)
    database = session._database(qualifier) if qualifier else session._current()
    session._require(database.name, "admin")
    if lookup(session, database, kind, name) is None:
        message = f"{kind} {database.name}.{name} does not exist"
        if not guarded:
            raise errors.error(errors.ER_SP_DOES_NOT_EXIST, message)
        return chain(session._end(commit=True), lambda _: _noted(session, 1305, message))
    return _run(session, sql, database)


def _noted(session: Any, code: int, message: str) -> Ok:
    session.warnings = [("Note", code, message)]
    return Ok()


def _run(session: Any, text: str, database: Database) -> Result | Pending:
    view = session._schema_view(database, temporary=False)
    view.creation_charsets = session._creation_charsets()  # what the routine records
    translation, params = translate(text, view,
                                    backslash_escapes=session.variables.backslash_escapes)
    return session._run(translation, params, text, database)


def call(session: Any, sql: str) -> CallResult | Pending:
    node = program.parse_call(sql)
    if node.database is None:
        session._current()  # 1046 No database selected

    def find(database: str | None, kind: str, name: str) -> Routine | None:
        home = session._database(database) if database else session._current()
        return lookup(session, home, kind, name)
    depth_max = int(session.variables.get("max_sp_recursion_depth") or 0)
    invocation = interpreter.Invocation(session, find, depth_max)
    session.call_interrupted = False
    steps = invocation.call(node, None)
    host = getattr(session.server, "host", None)
    outcome = interpreter.drive(invocation, steps, session.execute,
                                lambda: session.call_interrupted,
                                host.call_later if host is not None else None)

    def answer(_: Any) -> CallResult:
        session.warnings = invocation.warnings
        return CallResult(invocation.results, Ok(affected_rows=invocation.affected_rows))
    return chain(outcome, answer)
