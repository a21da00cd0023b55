"""The catalog: answers the statements that are about the server rather than about data.

Theory of operation
-------------------
The executor calls ``answer(sql, ctx)`` for EVERY statement before translating it, so the
first look must be cheap: one regex match on the first keyword (after leading comments) decides
whether the statement can be ours at all. Only four families are:

* ``SET ...``          -> applied to ``ctx.variables`` (session/global system variables, user
                          variables, NAMES, CHARACTER SET, TRANSACTION); returns ``None``.
* ``SHOW ...``, ``DESCRIBE/DESC t``, ``EXPLAIN t``  -> a ``ResultSet`` (catalog_show.py).
* ``SELECT`` whose select list is only ``@@vars``, ``@user_vars``, literals and the connection
  functions (VERSION(), DATABASE(), USER(), CONNECTION_ID(), CONVERT_TZ(...) ...) with no FROM
  (or FROM DUAL) -> a ``ResultSet`` computed here without SQLite (catalog_expr.py).
* any ``SELECT`` touching ``INFORMATION_SCHEMA`` -> run on a private in-memory SQLite database
  into which the referenced INFORMATION_SCHEMA tables were materialised
  (information_schema.py).

Everything else returns the ``UNHANDLED`` sentinel and goes to the translator.
Errors are ``MarmotError`` subclasses with MySQL codes (1193 unknown system variable, 1231
wrong value, 1146 no such table, 1049 unknown database, ...).

The catalog never writes to a database and never sees the internal ``__marmot_*`` /
``sqlite_*`` tables' names leak into any answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from marmotdb.mysql.types import Column, ResultSet

if TYPE_CHECKING:
    import apsw

    from marmotdb.sql.variables import SessionVariables


class _Unhandled:
    """Sentinel type: the statement is not the catalog's."""

    _instance: _Unhandled | None = None

    def __new__(cls) -> _Unhandled:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNHANDLED"

    def __bool__(self) -> bool:
        return False


UNHANDLED = _Unhandled()


class CatalogContext(Protocol):
    """What the catalog needs from the executor's session (implemented by the executor).

    Attributes
      current_database  the session's default database (USE), or None
      user              the authenticated user name (without host)
      host              the client host as MySQL shows it in USER() / PROCESSLIST
      connection_id     CONNECTION_ID()
      variables         this session's SessionVariables (marmotdb.sql.variables)
      status            server status counters for SHOW STATUS (name -> value)
      warnings          the last statement's diagnostics: (level, code, message), level one of
                        'Note' | 'Warning' | 'Error' (SHOW ERRORS shows the 'Error' ones)
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

    def connection_for(self, db: str) -> apsw.Connection:
        """A read connection of a database; raises MarmotError 1049 when it does not exist."""
        ...

    def processlist(self) -> list[tuple]:
        """(id, user, host, db, command, time_s, state, info) for every client connection."""
        ...

    def grants(self) -> list[str]:
        """The GRANT lines of the current user, as SHOW GRANTS prints them."""
        ...

    def evaluate(self, select_sql: str) -> object:
        """Run ``SELECT <expr>`` through the normal query path and return its single value.

        Used only for SET values that are not plain literals / variables (e.g.
        ``SET @n = (SELECT COUNT(*) FROM t)`` or ``SET @t = NOW()``)."""
        ...


def answer(sql: str, ctx: CatalogContext) -> ResultSet | None | _Unhandled:
    """Answer one statement if it is the catalog's.

    Returns a ResultSet (SHOW, DESCRIBE, SELECT of @@vars/constants, INFORMATION_SCHEMA
    queries), None (SET statements, after applying them to ``ctx.variables``) or UNHANDLED.
    """
    raise NotImplementedError


def field_list(table: str, ctx: CatalogContext, wildcard: str | None = None) -> list[Column]:
    """COM_FIELD_LIST: the column definitions of ``table`` in the current database.

    ``wildcard`` is the optional LIKE pattern the command carries."""
    raise NotImplementedError
