"""Multi-table UPDATE and DELETE that change several tables, of one database or of several.

Theory of operation
-------------------
A SQLite UPDATE or DELETE changes one table, and each database is its own file with its own
write connection. The translator recognises ``UPDATE t1 JOIN t2 … SET t1.a = …, t2.b = …``
and ``DELETE t1, t2 FROM t1 JOIN t2 …`` and raises ``MultipleTargets`` (rewrites_dml.py) with
the statement's FROM and WHERE as a SELECT of the assigned values. The session runs it here:

1. **its transaction**: in autocommit, one made for this statement and committed at its end
   (a failure rolls it all back); inside a transaction, a savepoint around the statement, so a
   failure undoes only it, as for any statement;
2. **the turns** of every database it changes, in the order the statement names them, before
   anything is read (InnoDB locks the rows it reads for the change): a transaction writing
   several databases (txn/DESIGN.md §10.2: branches, 1213 for a crossing wait);
3. **the source read** on the write connection of a changed database (the transaction's own
   rows; another database written by the transaction is read as committed, §10.2's limit):
   the joined rows with every changed table's primary key and the assigned values;
4. **a write per changed row and table**, by primary key, through the session's ordinary write
   path (translation cached by shape, MySQL's coercions, checks, capture): a row joined several
   times changes once, with its first joined row's values, as MySQL changes a row once.

The assigned values are computed from the rows as they were before the statement; MySQL
leaves the order of the tables' changes unspecified and so does this. A changed table needs a
primary key (1235 otherwise: nothing else names its rows across the two steps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot import exp

from marmotdb import errors
from marmotdb.sql.results import Ok, Result, Rows
from marmotdb.sql.rewrites.dml import ChangedTable, MultipleTargets, qualify_tables
from marmotdb.sql.schema import quote_ident
from marmotdb.sql.translate import (
    literal_params,
    table_definitions,
    translate,
    translate_prepared,
)
from marmotdb.txn.pending import Pending, chain, on_failure
from marmotdb.txn.pipeline import Mode
from marmotdb.txn.transaction import Transaction

if TYPE_CHECKING:
    from marmotdb.sql.session import Session
    from marmotdb.storage.databases import Database

STATEMENT_SAVEPOINT = "__marmot_multi_table"


def run(session: Session, text: str) -> Result | Pending:
    """Run ``text``, which the translator answered with ``MultipleTargets``: its Ok (rows
    changed in every table)."""
    escapes = session.variables.backslash_escapes
    try:  # each literal its own placeholder (no value lists), bound from ``params``
        session._placed(lambda view, default: translate(
            text, view, backslash_escapes=escapes, default_database=default,
            value_lists=False))
    except MultipleTargets as raised:
        multi = raised
    else:
        raise AssertionError("a multi-table statement translated as one")
    params = literal_params(text, backslash_escapes=escapes)
    targets = [(_database(session, multi, target), target) for target in multi.targets]
    keys = [_primary_key(session, database, target) for database, target in targets]
    implicit = session.txn is None and session.autocommit
    if session.txn is None:
        session.txn = Transaction(session.connection_id, explicit=True,
                                  read_only=session.variables.transaction_read_only) \
            if implicit else session._open_transaction()
    txn = session.txn
    mode = Mode(session._fk_checks())
    turns: Any = None
    written = {database.name: database for database, _ in targets}  # in the statement's order
    written.update(_cascaded_into(session, list(written.values())))

    def changed(_: Any) -> Result | Pending:
        return _change(session, txn, multi, params, targets, keys, implicit)
    try:
        for database in written.values():
            turns = chain(turns, lambda _, database=database: session._begin_write(
                txn, database, mode))
        return _undone_on_failure(chain(turns, changed), session, implicit)
    except BaseException:  # refused at once (1213) or failed: nothing kept
        if implicit and session.txn is txn:
            session._end(commit=False)
        raise


def _cascaded_into(session: Session, databases: list[Database]) -> dict[str, Database]:
    """The databases its row writes may change through CASCADE / SET NULL keys across
    databases (sql/cascades_across.py): their turns too are taken first, as nothing may wait
    once the rows are being written."""
    if not session._fk_checks():
        return {}
    keys = session.server.keys_across()
    found: dict[str, Database] = {}
    for database in databases:
        if keys.involves(database.name):
            for name in keys.cascades_into(database.name):
                if session.server.databases.exists(name):
                    found.setdefault(name, session._database(name))
    return found


def _undone_on_failure(outcome: Any, session: Session, implicit: bool) -> Any:
    """A statement of its own transaction that failed waiting for a turn leaves nothing."""
    if not implicit:
        return outcome

    def undo(error: BaseException) -> Any:
        if session.txn is not None and not session.txn.finished:
            session._end(commit=False)
        raise error
    return on_failure(outcome, undo)


def _change(session: Session, txn: Transaction, multi: MultipleTargets,
            params: dict[str, Any], targets: list[tuple[Database, ChangedTable]], keys: list[list[str]],
            implicit: bool) -> Result | Pending:
    if not implicit:
        txn.savepoint(STATEMENT_SAVEPOINT)
    try:
        rows = _source_rows(session, txn, multi, params, targets, keys)
        affected = 0
        offset = len(multi.source.expressions)
        for (database, target), key in zip(targets, keys):
            changed: set[tuple[Any, ...]] = set()
            for row in rows:
                found = tuple(row[offset:offset + len(key)])
                if found in changed or any(v is None for v in found):
                    continue  # changed once (MySQL); NULL: an outer join's missing side
                changed.add(found)
                affected += _write_row(session, database, target, key, found, row)
            offset += len(key)
    except BaseException:
        if implicit:
            session._end(commit=False)
        elif not txn.finished:
            txn.rollback_to(STATEMENT_SAVEPOINT)
            txn.release(STATEMENT_SAVEPOINT)
        raise
    if implicit:
        return chain(session._end(commit=True), lambda _: Ok(affected_rows=affected))
    txn.release(STATEMENT_SAVEPOINT)
    return Ok(affected_rows=affected)


def _source_rows(session: Session, txn: Transaction, multi: MultipleTargets,
                 literals: dict[str, Any], targets: list[tuple[Database, ChangedTable]], keys: list[list[str]]
                 ) -> list[tuple[Any, ...]]:
    """The joined rows: the assigned values, then each changed table's key columns."""
    source = multi.source.copy()
    columns = list(source.expressions)
    for (_, target), key in zip(targets, keys):
        columns += [exp.column(column, table=target.alias, quoted=True) for column in key]
    source.set("expressions", columns)
    qualify_tables(source, multi.home)
    text = source.sql(dialect="mysql")
    escapes = session.variables.backslash_escapes
    (translation, params), database, _ = session._placed(
        lambda view, default: translate(text, view, backslash_escapes=escapes,
                                        default_database=default))
    session._require(database.name, "r", translation.tables or translation.home_tables)
    branch = txn.branches.get(database.name) or txn.branches[targets[0][0].name]
    conn = branch.conn
    binding = session.server.binding(conn)
    binding.session = session  # MySQL functions read it (NOW(), the time zone); not another's
    if translation.other_tables or binding.attached:
        session._attach(conn, binding, translation, database, None)
    result = session._statements(conn, translation, {**params, **literals}, None)
    assert isinstance(result, Rows)
    return [tuple(row) for row in result.rows]


def _write_row(session: Session, database: Database, target: ChangedTable, key: list[str],
               found: tuple[Any, ...], row: tuple[Any, ...]) -> int:
    """One changed row of one table, through the session's write path: its affected rows."""
    name = f"{quote_ident(database.name)}.{quote_ident(target.name)}"
    where = " AND ".join(f"{quote_ident(column)} = ?" for column in key)
    if target.assignments:
        sets = ", ".join(f"{quote_ident(column)} = ?" for column, _ in target.assignments)
        text = f"UPDATE {name} SET {sets} WHERE {where}"
        values = [row[index] for _, index in target.assignments] + list(found)
    else:
        text = f"DELETE FROM {name} WHERE {where}"
        values = list(found)
    (translation, _), home, _ = session._placed(
        lambda view, default: translate_prepared(text, view, default))
    params = {f"p{i}": _bindable(v) for i, v in enumerate(values)}
    result = session._run(translation, params, text, home)
    if isinstance(result, Pending):  # the turn is held: nothing may wait here
        raise errors.MarmotError("multi-table statement: a row's write had to wait")
    assert isinstance(result, Ok)
    return result.affected_rows


def _database(session: Session, multi: MultipleTargets, target: ChangedTable) -> Database:
    name = target.database or multi.home
    if not name:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    if not session.server.databases.exists(name):
        raise errors.error(errors.ER_NO_SUCH_TABLE, f"Table '{name}.{target.name}' doesn't "
                           "exist")
    return session._database(name)


def _primary_key(session: Session, database: Database, target: ChangedTable) -> list[str]:
    table = table_definitions(session._schema_view(database))(target.name)
    if table is None:
        raise errors.error(errors.ER_NO_SUCH_TABLE,
                           f"Table '{database.name}.{target.name}' doesn't exist")
    primary = table.primary_key
    key = [column for column, _, _ in primary.columns] if primary is not None else []
    if not key:
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'a multi-table UPDATE or DELETE changing a table without "
                           "a PRIMARY KEY'")
    return key


def _bindable(value: Any) -> Any:
    from marmotdb.sql.session import _bindable as bindable  # the one conversion of parameters
    return bindable(value)


