"""Stored functions with loops: their body run per call by the routine interpreter, in Python.

Theory of operation
-------------------
A stored function whose body inlines as one expression (inlining.py) never comes here. One
with loops (WHILE, REPEAT, LOOP, LEAVE/ITERATE) or other statements the expression form cannot
hold is *computed*: when its body touches no table and no session variable — only DECLAREs,
SETs of locals, IF/CASE, loops, handlers, SIGNAL and RETURN, over expressions without
subqueries or ``@variables`` — a call ``f(a, b)`` is replaced by
``MYSQL_STORED_FUNCTION('<key>', (a), (b))``, and that SQLite function (registered on every
connection, functions/registry.py) runs the body with the procedures' interpreter (interpreter.py):
``FunctionInvocation`` is an ``Invocation`` whose RETURN ends the run with a value. Each
expression the interpreter yields (locals substituted as literals) is evaluated as
``SELECT <expr>`` on a *scratch* connection: an empty in-memory SQLite with marmotdb's MySQL
functions registered for the calling session, through the ordinary translation. It never
touches the calling statement's connection, which is inside SQLite's step (a re-entrant
statement there is refused by APSW and would see the statement's half-written state:
routines/__init__.py), and it needs no write turn, so it runs synchronously per row.

Bodies that read tables, write, CALL, use cursors or ``@variables`` stay refused with 1235
at the call: they would need the session's statements, which cannot run inside another
statement's row callback.

``key`` names the compiled function in ``_REGISTERED`` (the routine and the functions its
expressions may call): the inliner registers it each time it inlines a call, so a statement
always finds its functions; the table is bounded (``REGISTERED_MAX``), and a prepared
statement whose function was evicted gets 1305.

Time: SQLite's progress handler does not run while Python code runs inside its step, so every
``POLL_STEPS`` interpreter steps the call asks the calling connection's binding itself
(sql/binding.py): its in-loop budget spent raises SQLite's interrupt, and the session re-runs
the statement on a worker as for any long read; a KILL QUERY or ``max_execution_time`` there
interrupts the connection, which the call sees the same way (1317).
"""

from __future__ import annotations

import hashlib
from typing import Any

import apsw

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.sql.text import lexer
from marmotdb.sql.routines import program as p
from marmotdb.sql.routines.definition import Routine
from marmotdb.sql.routines.interpreter import (
    Frame,
    Invocation,
    Step,
    _coerce,
    _Exit,
    _Leave,
    _Return,
    routine_program,
    substitute,
)

REGISTERED_MAX = 4096  # compiled functions kept (distinct definitions); cleared past it
POLL_STEPS = 64  # interpreter steps between two looks at the caller's budget and interrupt
ER_SP_NORETURNEND = 1321
ER_SP_DOES_NOT_EXIST = 1305
_REGISTERED: dict[str, tuple[Routine, dict[str, Routine]]] = {}
_SCRATCH_FREE: list[tuple[apsw.Connection, _Forward]] = []
_ALLOWED_NODES = (p.Block, p.Declare, p.Assign, p.If, p.Case, p.Loop, p.Jump, p.Return,
                  p.Signal, p.Handler)


def computable(routine: Routine) -> bool:
    """The body can run here: no table, statement, cursor, CALL or session variable."""
    try:
        return _pure(routine_program(routine))
    except MarmotError:
        return False


def call_text(routine: Routine, args: list[str], known: dict[str, Routine]) -> str:
    """``MYSQL_STORED_FUNCTION('<key>', (arg), …)`` for a call of ``routine``; registers it."""
    identity = "\0".join([routine.name, routine.returns or "", routine.body,
                          *(f"{q.name} {q.type}" for q in routine.params)])
    key = hashlib.sha1(identity.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    if key not in _REGISTERED and len(_REGISTERED) >= REGISTERED_MAX:
        _REGISTERED.clear()
    _REGISTERED[key] = (routine, known)
    return "MYSQL_STORED_FUNCTION(" + ", ".join([f"'{key}'", *(f"({a})" for a in args)]) + ")"


def stored_function(session: Any, key: object, *args: object) -> object:
    """MYSQL_STORED_FUNCTION: one call of a computed stored function (module docstring)."""
    found = _REGISTERED.get(str(key))
    if found is None:
        raise errors.error(ER_SP_DOES_NOT_EXIST, "FUNCTION does not exist (its compiled form "
                           "was evicted: prepare the statement again)")
    routine, known = found
    connection, forward = _SCRATCH_FREE.pop() if _SCRATCH_FREE else _scratch()
    forward.target = session
    try:
        return _run(FunctionInvocation(routine, known).function(list(args)), connection,
                    session)
    finally:
        forward.target = None
        _SCRATCH_FREE.append((connection, forward))


class FunctionInvocation(Invocation):
    """A stored function's run: RETURN ends it with a value; every yielded text is an
    expression to evaluate (its locals already substituted)."""

    def __init__(self, routine: Routine, known: dict[str, Routine]):
        super().__init__(None, lambda *_: None, 0)
        self.routine = routine
        self.known = known

    def function(self, args: list[object]) -> Step:
        routine = self.routine
        frame = Frame(None)
        for param, value in zip(routine.params, args):
            frame.variables[param.name.lower()] = _coerce(value, param.type)
            frame.types[param.name.lower()] = param.type
        try:
            yield from self.run(routine_program(routine), frame)
        except _Return as returned:
            return returned.value
        except (_Leave, _Exit):
            pass
        raise MarmotError(f"FUNCTION {routine.name} ended without RETURN",
                          code=ER_SP_NORETURNEND, sqlstate="2F005")

    def simple(self, node: p.Node, frame: Frame) -> Step:
        if isinstance(node, p.Return):
            value = yield from self.evaluate(node.expression, frame)
            raise _Return(value)
        yield from super().simple(node, frame)

    def evaluate(self, expression: str, frame: Frame | None) -> Step:
        from marmotdb.sql.routines.inlining import inline
        text = substitute(expression, frame) if frame is not None else expression
        value = yield inline(text, self.known, (self.routine.name.lower(),))
        return value


def _run(steps: Step, connection: apsw.Connection, caller: Any) -> object:
    send: object = None
    error: BaseException | None = None
    count = 0
    while True:
        try:
            expression = steps.throw(error) if error is not None else steps.send(send)
        except StopIteration as stop:
            return stop.value
        send, error = None, None
        count += 1
        if count % POLL_STEPS == 0 and _stopped(caller):
            steps.close()
            raise apsw.InterruptError("interrupted")  # the caller's statement stops
        try:
            send = _value(connection, expression)
        except MarmotError as exc:
            error = exc


def _stopped(caller: Any) -> bool:
    """The calling statement's budget is spent, or its connection was interrupted."""
    progress = getattr(caller, "progress", None)
    if progress is not None:
        for _ in range(POLL_STEPS):  # as many progress ticks as the steps since the last look
            if progress():
                return True
    outer = getattr(caller, "connection", None)
    return outer is not None and outer.is_interrupted


def _value(connection: apsw.Connection, expression: str) -> object:
    from marmotdb.sql.translate import translate
    translation, bound = translate(f"SELECT {expression} AS routine_value", _EmptySchema())
    try:
        rows: list[Any] = []
        for statement in translation.statements:
            rows = connection.execute(statement, bound).fetchall()
    except apsw.Error as exc:
        raise errors.from_sqlite(exc) from None
    return rows[0][0] if rows else None


def _pure(node: p.Node) -> bool:
    if not isinstance(node, _ALLOWED_NODES):
        return False
    return all(_pure_expression(e) for e in _expressions(node)) and \
        all(_pure(child) for child in _children(node))


def _expressions(node: p.Node) -> list[str]:
    if isinstance(node, p.Declare):
        return [node.default] if node.default is not None else []
    if isinstance(node, p.Assign):
        return [target for target, _ in node.pairs] + [value for _, value in node.pairs]
    if isinstance(node, (p.If, p.Case)):
        subject = [node.subject] if isinstance(node, p.Case) and node.subject else []
        return subject + [c for c, _ in node.branches if c is not None]
    if isinstance(node, p.Loop):
        return [node.condition] if node.condition else []
    if isinstance(node, p.Return):
        return [node.expression]
    if isinstance(node, p.Signal):
        return [value for _, value in node.settings]
    return []


def _children(node: p.Node) -> list[p.Node]:
    if isinstance(node, (p.Block, p.Loop)):
        return list(node.body)
    if isinstance(node, (p.If, p.Case)):
        return [child for _, body in node.branches for child in body]
    if isinstance(node, p.Handler):
        return [node.body]
    return []


def _pure_expression(text: str) -> bool:
    """No subquery (a table) and no ``@var`` / ``@@var`` (the session)."""
    for token in lexer.tokens(text):
        if token.kind == lexer.WORD and token.text.upper() == "SELECT":
            return False
        if token.text.startswith("@"):
            return False
    return True


class _Forward:
    """The scratch connection's function context: the calling session's, set per call."""

    def __init__(self) -> None:
        self.target: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "target":
            object.__setattr__(self, name, value)
        else:
            setattr(self.target, name, value)


def _scratch() -> tuple[apsw.Connection, _Forward]:
    from marmotdb.sql.functions import registry as functions
    connection = apsw.Connection(":memory:")
    forward = _Forward()
    functions.register_functions(connection, forward)
    return connection, forward


class _EmptySchema:
    """translate.SchemaView of the scratch connection: it has no tables."""

    database = "__marmot_routine"

    def table_sql(self, table: str) -> str | None:
        return None

    def columns(self, table: str) -> list[tuple[str, str]] | None:
        return None

    def mysql_ddl(self, table: str) -> str | None:
        return None

    def schema_key(self) -> tuple[str]:
        return ("__marmot_routine",)
