"""LOAD DATA LOCAL INFILE: MySQL's statement, its file format, and the rows it writes.

Theory of operation
-------------------
Only the LOCAL form exists: the client sends the file over the connection (the protocol's
0xFB request, mysql/connection.py ``request_local_infile``), after both sides opted in (the
client's CLIENT_LOCAL_FILES capability and the server's ``local_infile`` variable, MySQL's
error 3948 otherwise). The server-side form reads the server's files and is refused with
MySQL's 1290 (``--secure-file-priv``).

``parse_load_data`` reads the statement with the lexer into a ``LoadSpec`` (FIELDS
TERMINATED/[OPTIONALLY] ENCLOSED/ESCAPED BY, LINES STARTING/TERMINATED BY, IGNORE n LINES, the
column and @variable list, SET assignments, REPLACE/IGNORE, CHARACTER SET).

``Loader`` turns the file, fed packet by packet and cut into records by ``file_format.py``,
into ordinary statements the session runs
one after another: ``INSERT IGNORE INTO t (cols) VALUES (…), …`` of ``batch_rows`` rows (with
LOCAL, MySQL treats data and duplicate-key errors as warnings, the same as IGNORE, because it
cannot stop the client mid-file; REPLACE replaces instead). In autocommit mode the batches are
wrapped in BEGIN … COMMIT, so the load is one transaction, committed and replicated once, as
one InnoDB statement would be; on an error the rest of the file is read and dropped (the
client must finish sending it) and the transaction rolled back. Memory is bounded: the loader
holds one incomplete record (at most ``record_bytes_max``, max_allowed_packet: 1153 beyond)
and one batch; the file is never held whole (the transaction's write set grows with the rows,
as any transaction's does). SET expressions and @variables are evaluated per
row by writing each row's values into the expression text as literals.

Every batch has the same number of rows (the last excepted), so the shape cache translates the
INSERT once per load.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from marmotdb import errors
from marmotdb.sql.text import lexer
from marmotdb.sql.load_data.file_format import RecordReader

ER_OPTION_PREVENTS_STATEMENT = 1290
ER_CLIENT_LOCAL_FILES_DISABLED = 3948
ER_WARN_TOO_FEW_RECORDS = 1261
ER_WARN_TOO_MANY_RECORDS = 1262
WARNINGS_MAX = 64  # kept for SHOW WARNINGS (MySQL's max_error_count); all are counted
BATCH_ROWS = 50  # rows per INSERT: measured fastest per row (500 was half as fast), bounds memory



def _syntax(near: str) -> errors.MarmotError:
    return errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check the "
                        "manual that corresponds to your MySQL server version for the right "
                        f"syntax to use near '{near[:80]}'")


@dataclass(slots=True)
class LoadSpec:
    """What one LOAD DATA statement asks for."""

    local: bool
    filename: str
    table: str
    database: str | None = None
    duplicates: str = "IGNORE"  # 'IGNORE' | 'REPLACE'
    charset: str = "utf8mb4"
    fields_terminated: str = "\t"
    enclosed: str = ""
    optionally: bool = False
    escaped: str = "\\"
    lines_starting: str = ""
    lines_terminated: str = "\n"
    ignore_lines: int = 0
    targets: list[str] | None = None  # column names and @variables, None: every column
    assignments: list[tuple[str, str]] = field(default_factory=list)  # (column, expression)


# ---------------------------------------------------------------- the statement

class _Words:
    """The statement's tokens without blanks, read front to back."""

    def __init__(self, sql: str):
        self.sql = sql
        self.tokens = [t for t in lexer.tokens(sql) if t.kind not in lexer.BLANK_KINDS
                       and t.kind != lexer.SEMICOLON]
        self.at = 0

    def peek(self, ahead: int = 0) -> str:
        index = self.at + ahead
        return self.tokens[index].text.upper() if index < len(self.tokens) else ""

    def take(self, *words: str) -> bool:
        if self.peek() in words:
            self.at += 1
            return True
        return False

    def expect(self, *words: str) -> str:
        word = self.peek()
        if word not in words:
            raise _syntax(self.rest())
        self.at += 1
        return word

    def string(self) -> str:
        if self.at >= len(self.tokens) or self.tokens[self.at].kind != lexer.STRING:
            raise _syntax(self.rest())
        value = lexer.string_value(self.tokens[self.at].text)
        self.at += 1
        return value if isinstance(value, str) else value.decode("latin-1")

    def name(self) -> str:
        if self.at >= len(self.tokens):
            raise _syntax("")
        token = self.tokens[self.at]
        self.at += 1
        if token.kind == lexer.QUOTED:
            return lexer.quoted_name(token.text)
        if token.kind in (lexer.WORD, lexer.VAR):
            return token.text
        raise _syntax(self.rest(-1))

    def rest(self, back: int = 0) -> str:
        index = self.at + back
        return self.sql[self.tokens[index].start:] if index < len(self.tokens) else ""

    def done(self) -> bool:
        return self.at >= len(self.tokens)


def parse_load_data(sql: str) -> LoadSpec:
    """``LOAD DATA …`` as a LoadSpec; 1064 for bad syntax, 1235 for LOAD XML."""
    words = _Words(sql)
    words.expect("LOAD")
    if words.peek() == "XML":
        raise errors.error(errors.ER_NOT_SUPPORTED_YET,
                           "This version of marmotdb doesn't yet support 'LOAD XML'")
    words.expect("DATA")
    words.take("LOW_PRIORITY", "CONCURRENT")
    local = words.take("LOCAL")
    words.expect("INFILE")
    spec = LoadSpec(local, words.string(), "")
    if words.take("REPLACE"):
        spec.duplicates = "REPLACE"
    else:
        words.take("IGNORE")
    words.expect("INTO")
    words.expect("TABLE")
    spec.table = words.name()
    if words.peek() == ".":
        words.at += 1
        spec.database, spec.table = spec.table, words.name()
    if words.take("PARTITION"):
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'LOAD DATA … PARTITION'")
    _options(words, spec)
    return spec


def _options(words: _Words, spec: LoadSpec) -> None:
    if words.take("CHARACTER"):
        words.expect("SET")
        spec.charset = words.name().lower()
    elif words.take("CHARSET"):
        spec.charset = words.name().lower()
    if words.take("FIELDS", "COLUMNS"):
        _field_options(words, spec)
    if words.take("LINES"):
        while words.peek() in ("STARTING", "TERMINATED"):
            which = words.expect("STARTING", "TERMINATED")
            words.expect("BY")
            if which == "STARTING":
                spec.lines_starting = words.string()
            else:
                spec.lines_terminated = words.string()
    if words.take("IGNORE"):
        token = words.tokens[words.at] if not words.done() else None
        if token is None or token.kind != lexer.NUMBER or not token.text.isdigit():
            raise _syntax(words.rest())
        words.at += 1
        spec.ignore_lines = int(token.text)
        words.expect("LINES", "ROWS")
    if words.peek() == "(":
        spec.targets = _targets(words)
    if words.take("SET"):
        spec.assignments = _assignments(words)
    if not words.done():
        raise _syntax(words.rest())
    if not spec.fields_terminated and not spec.enclosed:
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'LOAD DATA with fixed-width rows (empty FIELDS TERMINATED "
                           "BY)'")
    if not spec.lines_terminated:
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'LOAD DATA with empty LINES TERMINATED BY'")


def _field_options(words: _Words, spec: LoadSpec) -> None:
    while True:
        if words.take("TERMINATED"):
            words.expect("BY")
            spec.fields_terminated = words.string()
        elif words.peek() in ("OPTIONALLY", "ENCLOSED"):
            spec.optionally = words.take("OPTIONALLY")
            words.expect("ENCLOSED")
            words.expect("BY")
            spec.enclosed = words.string()
            if len(spec.enclosed) > 1:
                raise errors.error(1083, "Field separator argument is not what is expected; "
                                   "check the manual")
        elif words.take("ESCAPED"):
            words.expect("BY")
            spec.escaped = words.string()
            if len(spec.escaped) > 1:
                raise errors.error(1083, "Field separator argument is not what is expected; "
                                   "check the manual")
        else:
            return


def _targets(words: _Words) -> list[str]:
    words.expect("(")
    names: list[str] = []
    if words.take(")"):
        return names
    while True:
        names.append(words.name())
        if words.take(")"):
            return names
        words.expect(",")


def _assignments(words: _Words) -> list[tuple[str, str]]:
    """``col = expr, …``: each expression is kept as MySQL text (split at top-level commas)."""
    assignments: list[tuple[str, str]] = []
    while not words.done():
        column = words.name()
        words.expect("=")
        start = words.tokens[words.at].start if not words.done() else len(words.sql)
        depth, end = 0, len(words.sql)
        while not words.done():
            text = words.tokens[words.at].text
            if text == "(":
                depth += 1
            elif text == ")":
                depth -= 1
            elif text == "," and depth == 0:
                end = words.tokens[words.at].start
                break
            end = words.tokens[words.at].end
            words.at += 1
        expression = words.sql[start:end].strip()
        if not expression:
            raise _syntax(words.rest())
        assignments.append((column, expression))
        if not words.take(","):
            break
    return assignments


# ---------------------------------------------------------------- the statements

def quote_literal(value: str | None, backslash_escapes: bool) -> str:
    """A value as a MySQL string literal under the session's quoting rules."""
    if value is None:
        return "NULL"
    if backslash_escapes:
        value = value.replace("\\", "\\\\").replace("\x00", "\\0")
    return "'" + value.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class _Expression:
    """A SET expression with the row's @variables and columns written in as literals."""

    def __init__(self, text: str, columns: set[str]):
        self.pieces: list[tuple[str, str]] = []  # ('text', sql) | ('var', name) | ('col', name)
        tokens = [t for t in lexer.tokens(text)]
        for index, token in enumerate(tokens):
            following = next((t for t in tokens[index + 1:] if t.kind != lexer.SPACE), None)
            previous = tokens[index - 1] if index else None
            if token.kind == lexer.VAR and not token.text.startswith("@@"):
                self.pieces.append(("var", token.text[1:].strip("`'\"").lower()))
            elif token.kind in (lexer.WORD, lexer.QUOTED) and _column_name(token) in columns \
                    and not (following is not None and following.text == "(") \
                    and not (previous is not None and previous.text == "."):
                self.pieces.append(("col", _column_name(token)))
            else:
                self.pieces.append(("text", token.text))

    def render(self, values: dict[str, str | None], variables: dict[str, str | None],
               backslash_escapes: bool) -> str:
        out = []
        for kind, text in self.pieces:
            if kind == "text":
                out.append(text)
            elif kind == "var" and text in variables:
                out.append(quote_literal(variables[text], backslash_escapes))
            elif kind == "var":
                out.append("@" + text)  # a session variable, not one of the row's
            else:
                out.append(quote_literal(values.get(text), backslash_escapes))
        return "(" + "".join(out) + ")"


def _column_name(token: lexer.Token) -> str:
    return (lexer.quoted_name(token.text) if token.kind == lexer.QUOTED else token.text).lower()


@dataclass(slots=True)
class LocalInfile:
    """A statement's answer that asks the client for ``filename`` first (the runtime sends the
    0xFB request and runs ``loader``'s statements as the file arrives)."""

    filename: str
    loader: Loader
    warnings: int = 0


@dataclass(slots=True)
class LoadOutcome:
    """What the loader tells the client: MySQL's counts and info line."""

    affected_rows: int
    warnings: int
    info: str


class Loader:
    """The statements one LOAD DATA LOCAL runs, fed the file packet by packet (see the module
    docstring). ``feed``/``finish`` return statements to run in order; each one's result goes
    to ``on_result`` (an Ok-like with affected_rows and warnings) or ``on_error`` before the
    next is run; ``outcome`` gives the answer once ``finish``'s statements have run."""

    def __init__(self, spec: LoadSpec, table_columns: list[str], *, wrap_transaction: bool,
                 backslash_escapes: bool, record_bytes_max: int, batch_rows: int = BATCH_ROWS):
        self.spec = spec
        self.backslash_escapes = backslash_escapes
        self.batch_rows = batch_rows
        self.wrap = wrap_transaction
        self.reader = RecordReader(spec, record_bytes_max)
        self._decoder = _decoder(spec.charset)
        targets = spec.targets if spec.targets is not None else list(table_columns)
        known = {c.lower() for c in table_columns}
        for name in [t for t in targets if not t.startswith("@")] + [c for c, _ in
                                                                      spec.assignments]:
            if name.lower() not in known:
                raise errors.error(errors.ER_BAD_FIELD_ERROR,
                                   f"Unknown column '{name}' in 'field list'")
        self.targets = [(t[1:].strip("`'\"").lower(), True) if t.startswith("@")
                        else (t, False) for t in targets]
        columns = {t.lower() for t, is_var in self.targets if not is_var}
        self.expressions = [(c, _Expression(e, columns)) for c, e in spec.assignments]
        self.insert_head = self._insert_head(table_columns)
        self.batch: list[str] = []
        self.records = 0
        self.affected = 0
        self.warnings = 0
        self.messages: list[tuple[str, int, str]] = []  # what SHOW WARNINGS shows after
        self.error: errors.MarmotError | None = None
        self.started = False

    def _insert_head(self, table_columns: list[str]) -> str:
        verb = "REPLACE" if self.spec.duplicates == "REPLACE" else "INSERT IGNORE"
        names = [n for n, is_var in self.targets if not is_var] + [c for c, _ in
                                                                   self.expressions]
        table = (_identifier(self.spec.database) + "." if self.spec.database else "") + \
            _identifier(self.spec.table)
        return f"{verb} INTO {table} ({', '.join(_identifier(n) for n in names)}) VALUES "

    # -------------------------------------------------------------- input
    def feed(self, data: bytes) -> list[str]:
        if self.error is not None:
            return []  # the client must finish sending; nothing more is written
        try:
            return self._rows(self.reader.feed(self._decoder.decode(data)), final=False)
        except errors.MarmotError as exc:
            return self.on_error(exc)

    def finish(self) -> list[str]:
        statements: list[str] = []
        if self.error is None:
            try:
                statements = self._rows(self.reader.feed(self._decoder.decode(b"", final=True)),
                                        final=False)
                statements += self._rows(self.reader.finish(), final=True)
            except errors.MarmotError as exc:
                statements = self.on_error(exc)
        if self.error is not None:
            return ["ROLLBACK"] if self.wrap and self.started else []
        if self.wrap and self.started:
            statements.append("COMMIT")
        return statements

    def _rows(self, records: Iterator[list[str | None]], final: bool) -> list[str]:
        statements = []
        for record in records:
            self.records += 1
            self.batch.append(self._row(record))
            if len(self.batch) >= self.batch_rows:
                statements += self._flush()
        if final and self.batch:
            statements += self._flush()
        return statements

    def _flush(self) -> list[str]:
        statement = self.insert_head + ", ".join(self.batch)
        self.batch = []
        if self.wrap and not self.started:
            self.started = True
            return ["BEGIN", statement]
        return [statement]

    def _warn(self, code: int, message: str) -> None:
        self.warnings += 1
        if len(self.messages) < WARNINGS_MAX:
            self.messages.append(("Warning", code, message))

    def _row(self, record: list[str | None]) -> str:
        if len(record) < len(self.targets):
            self._warn(ER_WARN_TOO_FEW_RECORDS,
                       f"Row {self.records} doesn't contain data for all columns")
        elif len(record) > len(self.targets):
            self._warn(ER_WARN_TOO_MANY_RECORDS, f"Row {self.records} was truncated; it "
                       "contained more data than there were input columns")
        values: dict[str, str | None] = {}
        variables: dict[str, str | None] = {}
        literals = []
        for index, (name, is_var) in enumerate(self.targets):
            present = index < len(record)
            value = record[index] if present else None
            if is_var:
                variables[name] = value
                continue
            values[name.lower()] = value
            literals.append(quote_literal(value, self.backslash_escapes) if present
                            else "DEFAULT")
        for _, expression in self.expressions:
            literals.append(expression.render(values, variables, self.backslash_escapes))
        return "(" + ", ".join(literals) + ")"

    # -------------------------------------------------------------- results
    def on_result(self, statement: str, affected_rows: int, warnings: int,
                  messages: list[tuple[str, int, str]] | None = None) -> None:
        """A statement's Ok: its counts, and the session's warnings after it (the batch's)."""
        if statement.startswith(("INSERT", "REPLACE")):
            self.affected += affected_rows
            self.warnings += warnings
            room = WARNINGS_MAX - len(self.messages)
            self.messages.extend((messages or [])[:max(room, 0)])

    def on_error(self, error: errors.MarmotError) -> list[str]:
        if self.error is None:
            self.error = error
        return []

    def outcome(self) -> LoadOutcome:
        if self.error is not None:
            raise self.error
        replaced = self.spec.duplicates == "REPLACE"
        deleted = max(self.affected - self.records, 0) if replaced else 0
        skipped = 0 if replaced else max(self.records - self.affected, 0)
        info = (f"Records: {self.records}  Deleted: {deleted}  Skipped: {skipped}  "
                f"Warnings: {self.warnings}")
        return LoadOutcome(self.affected, self.warnings, info)


def _decoder(charset: str) -> Any:
    """Bytes of the file to text: latin1 as latin1, anything else as UTF-8 whose invalid bytes
    survive as surrogates (bound back to the same bytes, as the protocol's text is)."""
    name = "latin-1" if charset in ("latin1", "ascii") else "utf-8"
    return codecs.getincrementaldecoder(name)(errors="surrogateescape")
