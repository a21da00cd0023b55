"""Running a stored procedure: a generator per CALL, driven through the session's statements.

Theory of operation
-------------------
A routine's statements are the session's own statements: every SQL statement of the body and
every expression (as ``SELECT <expr>``) runs through ``Session.execute`` with the local
variables substituted as literals (MySQL gives locals precedence over column names). A write
may wait (its turn, the group commit) and return a ``Pending``; so the interpreter is a
generator that *yields* each statement's text and receives its result, and ``drive`` runs it:
a plain result is sent straight back, a ``Pending`` suspends the drive until it resolves, an
error is thrown into the generator, where a handler of the block in scope may catch it.

Control flow uses exceptions inside the generator: ``_Leave``/``_Iterate`` find their label,
``_Exit`` unwinds to the block that declared an EXIT handler. Each drive step counts; every
``STEPS_PER_SLICE`` steps the drive gives the event loop back (a ``Pending`` resolved by a
1 ms timer), and a KILL QUERY of the session stops the CALL at its next step with 1317. Nested
CALLs run in the same generator; recursion is bounded by max_sp_recursion_depth (1456).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from decimal import Decimal
from typing import Any

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.sql.text import lexer
from marmotdb.sql.catalog.expr import sql_literal
from marmotdb.sql.results import LongRead, LongWrite, Ok, Rows
from marmotdb.sql.routines import program as p
from marmotdb.sql.routines.definition import Routine
from marmotdb.txn.pending import Pending

STEPS_PER_SLICE = 200  # statements run before the event loop gets a turn (~0.1 s of them)
# The pause between slices: a timer due "now" would run in the same pass of the node's timer
# loop, which would never hand the event loop back.
SLICE_PAUSE_S = 0.001
ER_SP_FETCH_NO_DATA = 1329
ER_TOO_MANY_ROWS = 1172
ER_SP_RECURSION_LIMIT = 1456
ER_SP_WRONG_NO_OF_ARGS = 1318
ER_SP_NOT_VAR_ARG = 1414
ER_SP_UNDECLARED_VAR = 1327
ER_SP_BADRETURN = 1313
ER_SP_BADSELECT = 1312

Step = Generator[str, Any, Any]


class _Leave(Exception):
    def __init__(self, label: str):
        self.label = label.lower()


class _Iterate(_Leave):
    pass


class _Exit(Exception):
    def __init__(self, frame: Frame):
        self.frame = frame


class _Return(Exception):
    def __init__(self, value: Any):
        self.value = value


def no_data() -> MarmotError:
    return MarmotError("No data - zero rows fetched, selected, or processed",
                       code=ER_SP_FETCH_NO_DATA, sqlstate="02000")


class Frame:
    """The scope of one BEGIN … END: its variables, handlers and cursors."""

    def __init__(self, parent: Frame | None, shielded: Frame | None = None):
        self.parent = parent
        self.shielded = shielded  # a handler's body: its own block's handlers do not apply
        self.variables: dict[str, Any] = {}
        self.types: dict[str, str] = {}  # declared type of each variable
        self.handlers: list[p.Handler] = []
        self.cursors: dict[str, list[tuple[Any, ...]] | str] = {}

    def owner(self, name: str) -> Frame | None:
        key = name.lower()
        frame: Frame | None = self
        while frame is not None:
            if key in frame.variables:
                return frame
            frame = frame.parent
        return None

    def cursor_owner(self, name: str) -> Frame:
        frame: Frame | None = self
        while frame is not None:
            if name.lower() in frame.cursors:
                return frame
            frame = frame.parent
        raise errors.error(1324, f"Undefined CURSOR: {name}")

    def handler_for(self, exc: MarmotError) -> tuple[p.Handler, Frame] | None:
        frame: Frame | None = self
        skipped = self.shielded
        while frame is not None:
            if frame is skipped:
                frame = frame.parent
                continue
            skipped = frame.shielded or skipped
            for handler in frame.handlers:
                if any(_matches(condition, exc) for condition in handler.conditions):
                    return handler, frame
            frame = frame.parent
        return None


def _matches(condition: str, exc: MarmotError) -> bool:
    state = exc.sqlstate
    if condition == "NOT FOUND":
        return state.startswith("02")
    if condition == "SQLWARNING":
        return state.startswith("01")
    if condition == "SQLEXCEPTION":
        return not state.startswith(("00", "01", "02"))
    if condition.startswith("SQLSTATE "):  # five digits too, e.g. '23000': not an errno
        return condition[9:] == state
    return condition.isdigit() and int(condition) == exc.code


def substitute(text: str, frame: Frame) -> str:
    """``text`` with each name of a local variable in scope replaced by its value."""
    toks = [t for t in lexer.tokens(text)]
    significant = [t for t in toks if t.kind not in lexer.BLANK_KINDS]
    replace: dict[int, str] = {}
    for i, tok in enumerate(significant):
        if tok.kind not in (lexer.WORD, lexer.QUOTED):
            continue
        name = lexer.quoted_name(tok.text) if tok.kind == lexer.QUOTED else tok.text
        owner = frame.owner(name)
        if owner is None:
            continue
        before = significant[i - 1].text.upper() if i else ""
        after = significant[i + 1].text if i + 1 < len(significant) else ""
        if before in (".", "AS") or after in ("(", "."):
            continue
        replace[tok.start] = sql_literal(owner.variables[name.lower()])
    if not replace:
        return text
    return "".join(replace.get(t.start, t.text) if t.kind in (lexer.WORD, lexer.QUOTED)
                   else t.text for t in toks)


class Invocation:
    """One client CALL: its result sets, and the generator that runs the procedure."""

    def __init__(self, session: Any, lookup: Callable[[str | None, str, str], Routine | None],
                 depth_max: int):
        self.session = session
        self.lookup = lookup
        self.depth_max = depth_max
        self.results: list[Rows] = []
        self.affected_rows = 0
        self.active: dict[str, int] = {}  # routine -> how many CALLs of it are running
        self.procedures: list[str] = []  # db.name of the running CALLs, innermost last
        self.warnings: list[tuple[str, int, str]] = []

    # ------------------------------------------------------------------ statements
    def call(self, node: p.Call, caller: Frame | None) -> Step:
        routine = self.lookup(node.database, "PROCEDURE", node.name)
        if routine is None:
            where = node.database or self.session.current_database
            raise errors.error(errors.ER_SP_DOES_NOT_EXIST,
                               f"PROCEDURE {where}.{node.name} does not exist")
        if len(node.args) != len(routine.params):
            raise errors.error(ER_SP_WRONG_NO_OF_ARGS, f"Incorrect number of arguments for "
                               f"PROCEDURE {routine.name}; expected {len(routine.params)}, "
                               f"got {len(node.args)}")
        key = routine.name.lower()
        if self.active.get(key, 0) > self.depth_max:
            raise errors.error(ER_SP_RECURSION_LIMIT, f"Recursive limit {self.depth_max} (as "
                               "set by the max_sp_recursion_depth variable) was exceeded for "
                               f"routine {routine.name}")
        frame = Frame(None)
        outs: list[tuple[str, str]] = []
        for param, arg in zip(routine.params, node.args):
            if param.mode in ("OUT", "INOUT"):
                target = arg.strip()
                if not _assignable(target, caller):
                    raise errors.error(ER_SP_NOT_VAR_ARG, f"OUT or INOUT argument "
                                       f"{routine.params.index(param) + 1} for routine "
                                       f"{routine.name} is not a variable or NEW pseudo-"
                                       "variable in BEFORE trigger")
                outs.append((param.name, target))
            value = None if param.mode == "OUT" else (yield from self.evaluate(arg, caller))
            frame.variables[param.name.lower()] = _coerce(value, param.type)
            frame.types[param.name.lower()] = param.type
        self.active[key] = self.active.get(key, 0) + 1
        self.procedures.append(f"{node.database or self.session.current_database}.{routine.name}")
        try:
            body = routine_program(routine)
            try:
                yield from self.run(body, frame)
            except _Leave:
                pass
            except _Exit:
                pass
        finally:
            self.active[key] -= 1
            self.procedures.pop()
        for name, target in outs:
            yield from self.assign(target, frame.variables[name.lower()], caller)

    def run(self, node: p.Node, frame: Frame) -> Step:
        if isinstance(node, p.Block):
            yield from self.block(node, frame)
        elif isinstance(node, (p.If, p.Case)):
            yield from self.branches(node, frame)
        elif isinstance(node, p.Loop):
            yield from self.loop(node, frame)
        elif isinstance(node, p.Jump):
            raise (_Iterate if node.kind == "ITERATE" else _Leave)(node.label)
        else:
            yield from self.guarded(node, frame)

    def block(self, node: p.Block, parent: Frame) -> Step:
        frame = Frame(parent)
        try:
            for statement in node.body:
                if isinstance(statement, p.Declare):
                    yield from self.guarded(statement, frame)
                elif isinstance(statement, p.Handler):
                    frame.handlers.append(statement)
                elif isinstance(statement, p.Cursor):
                    frame.cursors[statement.name.lower()] = statement.select
                else:
                    yield from self.run(statement, frame)
        except _Leave as leave:
            if type(leave) is _Iterate or node.label is None or \
                    leave.label != node.label.lower():
                raise
        except _Exit as exit_:
            if exit_.frame is not frame:
                raise

    def branches(self, node: p.If | p.Case, frame: Frame) -> Step:
        subject = None
        if isinstance(node, p.Case) and node.subject is not None:
            subject = yield from self.evaluate(node.subject, frame)
        for condition, body in node.branches:
            if condition is not None:
                if isinstance(node, p.Case) and node.subject is not None:
                    value = yield from self.evaluate(condition, frame)
                    chosen = subject is not None and value is not None and \
                        (yield from self.evaluate(f"{sql_literal(subject)} = {sql_literal(value)}",
                                                  frame))
                else:
                    chosen = yield from self.evaluate(condition, frame)
                if not _true(chosen):
                    continue
            for statement in body:
                yield from self.run(statement, frame)
            return
        if isinstance(node, p.Case):
            raise errors.error(1339, "Case not found for CASE statement")

    def loop(self, node: p.Loop, frame: Frame) -> Step:
        label = node.label.lower() if node.label else None
        while True:
            if node.kind == "WHILE" and not _true((yield from self.evaluate(
                    node.condition or "", frame))):
                return
            try:
                for statement in node.body:
                    yield from self.run(statement, frame)
            except _Leave as jump:
                if jump.label != label:
                    raise
                if type(jump) is _Leave:
                    return
                continue
            if node.kind == "REPEAT" and _true((yield from self.evaluate(
                    node.condition or "", frame))):
                return

    def guarded(self, node: p.Node, frame: Frame) -> Step:
        """A simple statement; an error it raises goes to a handler in scope, if any."""
        try:
            yield from self.simple(node, frame)
        except MarmotError as exc:
            found = frame.handler_for(exc)
            if found is None:
                if exc.code == ER_SP_FETCH_NO_DATA and isinstance(node, p.Sql):
                    self.warnings.append(("Warning", exc.code, exc.message))
                    return  # SELECT … INTO of no row: a warning, the variables unchanged
                raise
            handler, owner = found
            yield from self.run(handler.body, Frame(owner, shielded=owner))
            if handler.action == "EXIT":
                raise _Exit(owner) from None

    def simple(self, node: p.Node, frame: Frame) -> Step:
        kind = type(node)
        if kind is p.Sql:
            yield from self.statement(node, frame)  # type: ignore[arg-type]
        elif kind is p.Assign:
            for target, expression in node.pairs:  # type: ignore[union-attr]
                value = yield from self.evaluate(expression, frame)
                yield from self.assign(target, value, frame)
        elif kind is p.Declare:
            value = None
            if node.default is not None:  # type: ignore[union-attr]
                value = yield from self.evaluate(node.default, frame)  # type: ignore[union-attr]
            for name in node.names:  # type: ignore[union-attr]
                frame.variables[name.lower()] = _coerce(value, node.type)  # type: ignore[union-attr]
                frame.types[name.lower()] = node.type  # type: ignore[union-attr]
        elif kind is p.Signal:
            yield from self.signal(node, frame)  # type: ignore[arg-type]
        elif kind is p.CursorOp:
            yield from self.cursor(node, frame)  # type: ignore[arg-type]
        elif kind is p.Call:
            args = [substitute(a, frame) if not _assignable(a.strip(), frame) else a
                    for a in node.args]  # type: ignore[union-attr]
            yield from self.call(p.Call(node.name, node.database, args), frame)  # type: ignore[union-attr]
        elif kind is p.Return:
            raise errors.error(ER_SP_BADRETURN, "RETURN is only allowed in a FUNCTION")
        else:
            yield from self.run(node, frame)

    def statement(self, node: p.Sql, frame: Frame) -> Step:
        result = yield substitute(node.text, frame)
        if not node.into:
            if isinstance(result, Rows):
                if not getattr(self.session, "multi_results_flag", True):
                    # The client did not set CLIENT_MULTI_RESULTS: it could not read the
                    # result sets of a CALL (MySQL checks this when a set is produced).
                    name = self.procedures[-1] if self.procedures else "?"
                    raise errors.error(ER_SP_BADSELECT, f"PROCEDURE {name} can't return a "
                                       "result set in the given context")
                self.results.append(result)
            elif isinstance(result, Ok):
                self.affected_rows = result.affected_rows
            return
        rows = result.rows if isinstance(result, Rows) else []
        if not rows:
            raise no_data()
        if len(rows) > 1:
            raise errors.error(ER_TOO_MANY_ROWS, "Result consisted of more than one row")
        if len(rows[0]) != len(node.into):
            raise errors.error(1222, "The used SELECT statements have a different number of "
                               "columns")
        for target, value in zip(node.into, rows[0]):
            yield from self.assign(target, value, frame)

    def cursor(self, node: p.CursorOp, frame: Frame) -> Step:
        owner = frame.cursor_owner(node.name)
        key = node.name.lower()
        state = owner.cursors[key]
        opened = owner.cursors.get("\0" + key)
        if node.op == "OPEN":
            if opened is not None:
                raise errors.error(1325, "Cursor is already open")
            result = yield substitute(str(state), frame)
            owner.cursors["\0" + key] = list(result.rows) if isinstance(result, Rows) else []
        elif opened is None:
            raise errors.error(1326, "Cursor is not open")
        elif node.op == "CLOSE":
            del owner.cursors["\0" + key]
        else:
            assert isinstance(opened, list)
            if not opened:
                raise no_data()
            row = opened.pop(0)
            if len(row) != len(node.into):
                raise errors.error(1328, "Incorrect number of FETCH variables")
            for target, value in zip(node.into, row):
                yield from self.assign(target, value, frame)

    def signal(self, node: p.Signal, frame: Frame) -> Step:
        sqlstate = node.sqlstate or "45000"
        code = 1644 if node.sqlstate is None or not sqlstate.startswith(("01", "02")) else 1642
        if sqlstate.startswith("02"):
            code = 1643
        message = "Unhandled user-defined exception condition"
        for item, expression in node.settings:
            value = yield from self.evaluate(expression, frame)
            if item == "MESSAGE_TEXT":
                message = "" if value is None else str(value)
            elif item == "MYSQL_ERRNO":
                code = int(value)
        if node.resignal and node.sqlstate is None and not node.settings:
            raise errors.error(1645, "RESIGNAL when handler not active")
        raise MarmotError(message, code=code, sqlstate=sqlstate)

    # ------------------------------------------------------------------ values
    def evaluate(self, expression: str, frame: Frame | None) -> Step:
        text = substitute(expression, frame) if frame is not None else expression
        # the alias keeps the statement's shape independent of the values substituted, so
        # its translation is cached (a literal in an unnamed select list names the column)
        result = yield f"SELECT {text} AS routine_value"
        if not isinstance(result, Rows) or not result.rows:
            return None
        return result.rows[0][0]

    def assign(self, target: str, value: Any, frame: Frame | None) -> Step:
        owner = frame.owner(target) if frame is not None and not target.startswith("@") \
            else None
        if owner is not None:
            key = target.lower()
            owner.variables[key] = _coerce(value, owner.types.get(key, ""))
            return
        if not target.startswith("@") and not target.upper().startswith(
                ("GLOBAL", "SESSION", "LOCAL", "PERSIST")):
            raise errors.error(ER_SP_UNDECLARED_VAR, f"Undeclared variable: {target}")
        yield f"SET {target} = {sql_literal(value)}"


def _assignable(target: str, frame: Frame | None) -> bool:
    if target.startswith("@") and not target.startswith("@@"):
        return True
    return frame is not None and frame.owner(target.strip("`")) is not None


def _true(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (bytes, str)):
        try:
            return float(value if isinstance(value, str) else value.decode()) != 0
        except ValueError:
            return False
    return bool(value)


_INTEGER_TYPES = ("INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "MEDIUMINT", "BOOL",
                  "BOOLEAN", "SERIAL")


def _coerce(value: Any, type_text: str) -> Any:
    """A value stored into a variable of ``type_text``: integers are rounded to an integer,
    as MySQL's assignment does; other types keep what the expression gave."""
    word = type_text.split("(")[0].split()[0].upper() if type_text.strip() else ""
    if value is None or word not in _INTEGER_TYPES:
        return value
    try:
        number = Decimal(value.decode() if isinstance(value, bytes) else str(value).strip())
    except ArithmeticError:
        return 0
    return int(number.to_integral_value(rounding="ROUND_HALF_UP"))


_PROGRAMS: dict[str, p.Node] = {}


def routine_program(routine: Routine) -> p.Node:
    """The parsed body, cached by its text (bodies are immutable once stored)."""
    found = _PROGRAMS.get(routine.body)
    if found is None:
        if len(_PROGRAMS) > 512:
            _PROGRAMS.clear()
        found = _PROGRAMS[routine.body] = p.parse_body(routine.body)
    return found


def drive(invocation: Invocation, steps: Step, execute: Callable[[str], Any],
          interrupted: Callable[[], bool],
          call_later: Callable[[float, Callable[[], None]], Any] | None) -> Any:
    """Run ``steps`` to its end: the CALL's outcome, or a Pending of it (module docstring)."""
    return _Drive(steps, execute, interrupted, call_later).run(None, None)


_SUSPENDED: Any = object()


def _finished(long: LongRead) -> Any:
    """A long read or write inside a CALL runs here, to its end: the CALL's state lives in
    this drive, so it is not handed to a worker thread. Known limit: it holds the event loop
    meanwhile (neither KILL nor max_execution_time reach it before it ends). A write's
    ``resume`` commits it: its result, or a Pending of it."""
    job = long.job
    if isinstance(long, LongWrite):
        try:
            outcome: Any = job.run(None)
        except BaseException as exc:  # noqa: BLE001 - resume turns it into the answer
            outcome = exc
        return job.resume(outcome)
    try:
        return job.run()
    finally:
        job.finish()


class _Drive:
    """One CALL's drive. Every suspension resumes the same drive, which settles ONE Pending
    at the end (a Pending per suspension, each following the next, would unwind as deep as
    the CALL had waits)."""

    def __init__(self, steps: Step, execute: Callable[[str], Any],
                 interrupted: Callable[[], bool],
                 call_later: Callable[[float, Callable[[], None]], Any] | None):
        self.steps = steps
        self.execute = execute
        self.interrupted = interrupted
        self.call_later = call_later
        self.result: Pending | None = None  # once the drive first waits

    def run(self, send: Any, error: BaseException | None) -> Any:
        try:
            if isinstance(error, LongRead):  # a statement that waited, then ran long
                send, error = _finished(error), None
                if isinstance(send, Pending):
                    outcome = self._wait(send)
                else:
                    outcome = self._loop(send, error)
            else:
                outcome = self._loop(send, error)
        except BaseException as exc:  # noqa: BLE001 - the CALL's error, handed on
            if self.result is None:
                raise
            self.result.fail(exc)
            return None
        if outcome is _SUSPENDED:
            if self.result is None:
                self.result = Pending()
                return self.result
            return None
        if self.result is None:
            return outcome
        self.result.resolve(outcome)
        return None

    def _wait(self, outcome: Pending) -> Any:
        outcome.add_done_callback(lambda done: self.run(
            None if done.error() else done.result(), done.error()))
        return _SUSPENDED

    def _loop(self, send: Any, error: BaseException | None) -> Any:
        steps = self.steps
        count = 0
        while True:
            if self.interrupted():
                steps.close()
                raise errors.error(errors.ER_QUERY_INTERRUPTED, "Query execution was interrupted")
            try:
                request = steps.throw(error) if error is not None else steps.send(send)
            except StopIteration as stop:
                return stop.value
            send, error = None, None
            count += 1
            try:
                outcome = self.execute(request)
                if isinstance(outcome, Pending) and outcome.done():
                    outcome = outcome.result()
            except LongRead as long:
                try:
                    outcome = _finished(long)
                    if isinstance(outcome, Pending) and outcome.done():
                        outcome = outcome.result()
                except MarmotError as exc:
                    error = exc
                    continue
            except MarmotError as exc:
                error = exc
                continue
            if isinstance(outcome, Pending):
                return self._wait(outcome)
            if count % STEPS_PER_SLICE == 0 and self.call_later is not None:
                resumed = outcome
                self.call_later(SLICE_PAUSE_S, lambda: self.run(resumed, None))
                return _SUSPENDED
            send = outcome
