"""DdlProgress: where a long DDL is, for PROCESSLIST's State and the log (ddl/DESIGN.md).

A DDL over a big table (a table rebuild copying every row, CREATE INDEX sorting them) runs on
a writer thread for seconds (txn/DESIGN.md §2.1). SQLite reports no row counts while one
statement runs, so progress is counted in the DDL's own SQLite steps — a rebuild is rename,
create, copy, drop, re-create indexes — each named by what it does, with the rows of the
table it works on. The writer thread calls ``step`` before each statement; the loop reads
``state`` (one str assignment: no lock needed) for PROCESSLIST; each step and the end are
logged with the elapsed time, read from the clock the caller passes (the runtime's).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

logger = logging.getLogger("marmotdb.ddl")

# the translator's statement shapes -> what that step does
_STEPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r'^INSERT INTO "[^"]+"(?: \([^)]*\))? SELECT .* FROM "__marmot_old_'), "copying rows"),
    (re.compile(r'^CREATE (?:UNIQUE )?INDEX'), "building an index"),
    (re.compile(r'^ALTER TABLE "[^"]+" RENAME TO "__marmot_old_'), "renaming the old table away"),
    (re.compile(r'^CREATE TABLE'), "creating the table"),
    (re.compile(r'^DROP TABLE'), "dropping a table"),
    (re.compile(r'^ALTER TABLE'), "altering the table"),
    (re.compile(r'^CREATE TRIGGER'), "re-creating triggers"),
    (re.compile(r'^PRAGMA'), "preparing"),
)


def step_name(statement: str) -> str:
    for pattern, name in _STEPS:
        if pattern.match(statement):
            return name
    return "bookkeeping"


class DdlProgress:
    def __init__(self, connection_id: int, text: str, rows: int,
                 clock_s: Callable[[], float]):
        self.connection_id = connection_id
        self.text = text[:200]
        self.rows = rows  # the largest rowid of the table it works on: the rows it moves
        self._clock_s = clock_s
        self._started_s = clock_s()
        self.state = "altering table: starting"

    def step(self, index: int, count: int, statement: str) -> None:
        """Before statement ``index`` (0-based) of ``count``, on the writer thread."""
        name = step_name(statement)
        what = f"{name} ({self.rows} rows)" if name in ("copying rows", "building an index") \
            else name
        self.state = f"altering table: step {index + 1} of {count}: {what}"
        logger.info("connection %d DDL %r: step %d of %d, %s, %.1f s in", self.connection_id,
                    self.text, index + 1, count, what, self._clock_s() - self._started_s)

    def finished(self, ok: bool) -> None:
        logger.info("connection %d DDL %r %s after %.1f s", self.connection_id, self.text,
                    "done" if ok else "failed", self._clock_s() - self._started_s)
