"""Which databases and tables a sink publishes: include/exclude globs (cdc/DESIGN.md §4).

Patterns are ``fnmatch`` globs (``*``, ``?``, ``[abc]``), matched case-insensitively (database
and table names are lower case in marmotdb, ``lower_case_table_names = 1``). A table pattern
matches either the bare table name or ``db.table``. Empty include lists mean "everything";
an exclude wins over an include. Schema-change events of a database pass when the database
does.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase


def _matches(patterns: Sequence[str], *names: str) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns for name in names)


class TableFilter:
    def __init__(self, include_databases: Sequence[str] = (), exclude_databases: Sequence[str] = (),
                 include_tables: Sequence[str] = (), exclude_tables: Sequence[str] = ()):
        lower = lambda patterns: tuple(p.lower() for p in patterns)  # noqa: E731
        self.include_databases = lower(include_databases)
        self.exclude_databases = lower(exclude_databases)
        self.include_tables = lower(include_tables)
        self.exclude_tables = lower(exclude_tables)
        self._tables: dict[tuple[str, str], bool] = {}  # decisions, bounded below

    def database(self, database: str) -> bool:
        name = database.lower()
        if self.include_databases and not _matches(self.include_databases, name):
            return False
        return not _matches(self.exclude_databases, name)

    def table(self, database: str, table: str) -> bool:
        ident = (database, table)
        found = self._tables.get(ident)
        if found is None:
            found = self._decide(database.lower(), table.lower())
            if len(self._tables) >= 4096:
                self._tables.clear()
            self._tables[ident] = found
        return found

    def _decide(self, database: str, table: str) -> bool:
        if not self.database(database):
            return False
        names = (table, f"{database}.{table}")
        if self.include_tables and not _matches(self.include_tables, *names):
            return False
        return not _matches(self.exclude_tables, *names)
