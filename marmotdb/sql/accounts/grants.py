"""GRANT and REVOKE (sql/accounts/statements.py runs them; the module docstring there says how).

    GRANT priv[, priv…] ON {*.* | db.* | * | db.tbl | tbl} TO acct[, acct…] [WITH GRANT OPTION]
    REVOKE priv[, priv…] ON … FROM acct[, acct…]
    REVOKE ALL [PRIVILEGES], GRANT OPTION FROM acct[, acct…]

The issuer needs GRANT OPTION and every privilege it grants or revokes, at the statement's
level or above (MySQL), else 1045 (*.*), 1044 (db.*) or 1142 (a table). GRANT to a missing
account is 1410 (MySQL 8 creates no account by GRANT); REVOKE of a level where nothing is held
is 1141 (1147 for a table). A privilege the level cannot hold is 1221 (database) or 1144 (table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import apsw

from marmotdb import errors
from marmotdb.accounts import store as accounts
from marmotdb.accounts.privileges import GRANT_OPTION, PrivilegeError, expand, normalize
from marmotdb.sql.text import lexer
from marmotdb.sql.accounts.statements import (
    Account,
    Change,
    Reader,
    _exists,
    materialize,
    not_supported,
    syntax_error,
)
from marmotdb.sql.results import Ok

if TYPE_CHECKING:
    from marmotdb.sql.session import Session

Target = tuple[str, str, str]  # level, db, tbl


def parse_grant(reader: Reader, session: Session) -> Change:
    reader.expect("GRANT")
    if reader.accept("PROXY"):
        raise not_supported("GRANT PROXY")
    if not reader.mentions("ON"):
        raise not_supported("roles")  # GRANT role TO user
    names = _privilege_list(reader, "ON", "TO")
    reader.expect("ON")
    target = _target(reader, session)
    reader.expect("TO")
    grantees = reader.accounts(session)
    option = reader.accept("WITH", "GRANT", "OPTION")
    if reader.word() == "WITH":
        raise not_supported("resource limits")
    if reader.word() == "AS":
        raise not_supported("GRANT ... AS")
    reader.finish()
    level, db, tbl = target
    privileges = _expand(names, level)
    if option:
        privileges |= {GRANT_OPTION}

    def write(conn: apsw.Connection, s: Session) -> Ok:
        for account in grantees:
            if not _exists(conn, s, account):
                raise errors.error(errors.ER_CANT_CREATE_USER_WITH_GRANT,
                                   "You are not allowed to create a user with GRANT")
            materialize(conn, s, account)
            held = accounts.read_privileges(conn, *account, db, tbl)
            accounts.write_privileges(conn, *account, db, tbl, held | privileges)
        return Ok()
    return Change(write, needs="", authorize=lambda s: _authorize(s, target, privileges))


def parse_revoke(reader: Reader, session: Session) -> Change:
    reader.expect("REVOKE")
    if reader.accept("IF", "EXISTS"):
        raise not_supported("REVOKE IF EXISTS")
    if reader.accept("PROXY"):
        raise not_supported("REVOKE PROXY")
    if not reader.mentions("ON") and not reader.mentions("GRANT"):
        raise not_supported("roles")  # REVOKE role FROM user
    names = _privilege_list(reader, "ON", "FROM")
    everything = reader.word() == "FROM" and "ALL" in names and GRANT_OPTION in names
    target: Target = ("global", "*", "*")
    if not everything:
        if not reader.accept("ON"):
            raise not_supported("roles")
        target = _target(reader, session)
    reader.expect("FROM")
    grantees = reader.accounts(session)
    reader.finish()
    level, db, tbl = target
    privileges = _expand(names, level)

    def authorize(s: Session) -> None:
        if everything:
            _authorize(s, ("global", "*", "*"), frozenset({"CREATE USER"}))
        else:
            _authorize(s, target, privileges)

    def write(conn: apsw.Connection, s: Session) -> Ok:
        for account in grantees:
            if not _exists(conn, s, account):
                raise _no_such_grant(account)
            materialize(conn, s, account)
            if everything:
                for key in _keys(conn, account):
                    accounts.write_privileges(conn, *account, *key, frozenset())
                continue
            held = accounts.read_privileges(conn, *account, db, tbl)
            if not held and (db, tbl) != ("*", "*"):
                raise _no_such_grant(account, None if tbl == "*" else tbl)
            accounts.write_privileges(conn, *account, db, tbl, held - privileges)
        return Ok()
    return Change(write, needs="", authorize=authorize)


def _no_such_grant(account: Account, table: str | None = None) -> errors.MarmotError:
    if table is not None:
        return errors.error(errors.ER_NONEXISTING_TABLE_GRANT, f"There is no such grant "
                            f"defined for user '{account[0]}' on host '{account[1]}' on "
                            f"table '{table}'")
    return errors.error(errors.ER_NONEXISTING_GRANT, f"There is no such grant defined for "
                        f"user '{account[0]}' on host '{account[1]}'")


def _keys(conn: apsw.Connection, account: Account) -> list[tuple[str, str]]:
    return [(db, tbl) for db, tbl in conn.execute(
        f"SELECT db, tbl FROM {accounts.GRANTS} WHERE user = ? AND host = ?", account)]


def _privilege_list(reader: Reader, *ends: str) -> list[str]:
    """priv[, priv…] up to ON/TO/FROM: each one a phrase of words (CREATE TEMPORARY TABLES)."""
    names: list[str] = []
    words: list[str] = []
    while True:
        token = reader.peek()
        if token is None:
            raise reader.error()
        if token.kind == lexer.WORD and token.text.upper() in ends and words:
            break
        if token.kind == lexer.OP and token.text == "(":
            raise not_supported("column privileges")
        if token.kind == lexer.OP and token.text == ",":
            reader.accept_op(",")
            names.append(_name(words))
            words = []
            continue
        words.append(reader.name())
    names.append(_name(words))
    return names


def _name(words: list[str]) -> str:
    if not words:
        raise syntax_error(",")
    try:
        return normalize(" ".join(words))
    except PrivilegeError:
        raise syntax_error(" ".join(words)) from None


def _target(reader: Reader, session: Session) -> Target:
    """*.* | db.* | * | db.tbl | tbl (TABLE may precede; routines are not supported)."""
    if reader.accept("FUNCTION") or reader.accept("PROCEDURE"):
        raise not_supported("routine privileges")
    reader.accept("TABLE")
    if reader.word() in ("TO", "FROM"):
        raise reader.error()
    if reader.accept_op("*"):
        if reader.accept_op("."):
            if not reader.accept_op("*"):
                raise reader.error()
            return "global", "*", "*"
        return "database", _current(session), "*"
    first = reader.name().lower()
    if not reader.accept_op("."):
        return "table", _current(session), first
    if reader.accept_op("*"):
        return "database", first, "*"
    return "table", first, reader.name().lower()


def _current(session: Session) -> str:
    if session.current_database is None:
        raise errors.error(errors.ER_NO_DB_ERROR, "No database selected")
    return session.current_database


def _expand(names: list[str], level: str) -> frozenset[str]:
    try:
        return expand(names, level)
    except PrivilegeError:
        if level == "table":
            raise errors.error(errors.ER_ILLEGAL_GRANT_FOR_TABLE, "Illegal GRANT/REVOKE "
                               "command; please consult the manual to see which privileges "
                               "can be used") from None
        raise errors.error(errors.ER_WRONG_USAGE,
                           "Incorrect usage of DB GRANT and GLOBAL PRIVILEGES") from None


def _authorize(session: Session, target: Target, privileges: frozenset[str]) -> None:
    """The issuer holds GRANT OPTION and each privilege at the target's level or above."""
    level, db, tbl = target
    record = session._fresh_grants()
    scope = (None, None) if level == "global" else (db, None if tbl == "*" else tbl)
    if all(record.has(p, *scope) for p in privileges | {GRANT_OPTION}):
        return
    account = f"'{session.user}'@'{session.host}'"
    if level == "global":
        raise errors.error(errors.ER_ACCESS_DENIED_ERROR,
                           f"Access denied for user {account} (using password: YES)")
    if level == "database":
        raise errors.error(errors.ER_DBACCESS_DENIED_ERROR,
                           f"Access denied for user {account} to database '{db}'")
    raise errors.error(errors.ER_TABLEACCESS_DENIED_ERROR,
                       f"GRANT command denied to user {account} for table '{tbl}'")
