"""What the catalog needs from the executor's session: the ``CatalogContext`` protocol.

Every catalog module takes a ``CatalogContext`` and none needs the dispatcher (dispatch.py)
for it, so the protocol has a module of its own at the bottom of the package's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import apsw

    from marmotdb.sql.variables.scopes import SessionVariables


class CatalogContext(Protocol):
    """What the catalog needs from the executor's session (implemented by the executor).

    Attributes
      current_database  the session's default database (USE), or None
      user              the authenticated user name (without host)
      host              the client host as MySQL shows it in USER() / PROCESSLIST
      connection_id     CONNECTION_ID()
      variables         this session's SessionVariables (marmotdb.sql.variables.scopes)
      status            server status counters for SHOW STATUS (name -> value)
      warnings          the last statement's diagnostics: (level, code, message), level one of
                        'Note' | 'Warning' | 'Error' (SHOW ERRORS shows the 'Error' ones)

    Read when present (``getattr`` with a default): ``temporary_table(db, name)`` (the
    session's temporary table as a ``TableModel``, or None: DESCRIBE, SHOW COLUMNS/INDEX/
    CREATE TABLE see it, SHOW TABLES and INFORMATION_SCHEMA do not, as in MySQL 8),
    ``in_transaction`` (bool; SET TRANSACTION
    without a scope is refused with 1568 inside one), ``last_insert_id`` (int; for
    ``@@last_insert_id`` / ``@@identity``) and ``is_admin`` (bool; SET GLOBAL needs it, else
    1227; without it, ``user_record.can(None, "admin")`` of marmotdb.users.User is asked).
    """

    current_database: str | None
    user: str
    host: str
    connection_id: int
    variables: SessionVariables
    status: dict[str, object]
    warnings: list[tuple[str, int, str]]

    def databases(self) -> list[str]:
        """Databases visible to this user, sorted (never information_schema: added here)."""
        ...

    def system_databases(self) -> list[str]:
        """The selectable system databases this user sees (information_schema always; mysql
        with a privilege on it, as MySQL)."""
        ...

    def connection_for(self, db: str) -> apsw.Connection:
        """A read connection of a database; raises MarmotError 1049 when it does not exist."""
        ...

    def processlist(self) -> list[tuple]:
        """(id, user, host, db, command, time_s, state, info) for every client connection."""
        ...

    def grants(self, user: str | None = None, host: str | None = None) -> list[str]:
        """The GRANT lines of an account (None, None: the current one), as SHOW GRANTS
        prints them; 1141 for a missing account."""
        ...

    def create_user(self, user: str, host: str) -> str:
        """SHOW CREATE USER's statement for an account."""
        ...

    def evaluate(self, select_sql: str) -> object:
        """Run ``SELECT <expr>`` through the normal query path and return its single value.

        Used only for SET values that are not plain literals / variables (e.g.
        ``SET @n = (SELECT COUNT(*) FROM t)`` or ``SET @t = NOW()``)."""
        ...
