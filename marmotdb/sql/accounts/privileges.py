"""What privilege a statement needs, and MySQL's error when the account lacks it.

The session asks ``Session._require(database, privilege, tables)`` before running a statement
(marmotdb/accounts/DESIGN.md has the table of statements and privileges); the tables here map
statement kinds and DDL heads to MySQL's privilege names, and ``denial`` words the refusal as
MySQL does: 1142 naming a table, 1044 a database, 1227 a global privilege.
"""

from __future__ import annotations

from marmotdb import errors
from marmotdb.sql.text.lexer import words
from marmotdb.sql.translate import Kind
from marmotdb.users import User

# What each writing statement kind needs (MySQL: REPLACE needs INSERT and DELETE).
WRITE_PRIVILEGES = {Kind.INSERT: ("INSERT",), Kind.REPLACE: ("INSERT", "DELETE"),
                    Kind.UPDATE: ("UPDATE",), Kind.DELETE: ("DELETE",)}
# The old levels some checks still name: r = SELECT, rw = a write (INSERT), admin = CREATE.
LEVEL_PRIVILEGE = {"r": "SELECT", "rw": "INSERT", "admin": "CREATE"}
# DDL heads -> privilege (the first two keywords, else the first).
_DDL_PRIVILEGES = {("CREATE", "VIEW"): "CREATE VIEW", ("CREATE", "INDEX"): "INDEX",
                   ("CREATE", "UNIQUE"): "INDEX", ("CREATE", "TRIGGER"): "TRIGGER",
                   ("DROP", "TRIGGER"): "TRIGGER", ("DROP", "INDEX"): "INDEX",
                   ("CREATE", "OR"): "CREATE VIEW", ("CREATE", "DEFINER"): "CREATE VIEW",
                   ("CREATE",): "CREATE", ("DROP",): "DROP", ("ALTER",): "ALTER",
                   ("TRUNCATE",): "DROP", ("RENAME",): "ALTER"}


def ddl_privilege(text: str) -> str:
    head = tuple(w.upper() for w in words(text, 2))
    return _DDL_PRIVILEGES.get(head, _DDL_PRIVILEGES.get(head[:1], "CREATE"))


def holds(record: User, database: str | None, privilege: str, tables: tuple[str, ...]) -> bool:
    """At the database level (or above), or on every one of ``tables`` there."""
    return record.has(privilege, database) or bool(
        tables and database and all(record.has(privilege, database, t) for t in tables))


def denial(record: User, account: str, database: str | None, privilege: str,
           tables: tuple[str, ...]) -> errors.MarmotError:
    """``account`` is the session's 'user'@'client host', as MySQL words it."""
    if tables and database:
        table = next(t for t in tables if not record.has(privilege, database, t))
        return errors.error(errors.ER_TABLEACCESS_DENIED_ERROR, f"{privilege} command denied "
                            f"to user {account} for table '{table}'")
    if database:
        return errors.error(errors.ER_DBACCESS_DENIED_ERROR,
                            f"Access denied for user {account} to database '{database}'")
    return errors.error(errors.ER_SPECIFIC_ACCESS_DENIED_ERROR, f"Access denied; you need (at "
                        f"least one of) the {privilege} privilege(s) for this operation")
