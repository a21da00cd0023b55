"""The account statements: CREATE/ALTER/DROP/RENAME USER, SET PASSWORD, GRANT, REVOKE.

Theory of operation
-------------------
``parse(text, head)`` reads one statement into a ``Change``: a function of the accounts
store's write connection (marmotdb/accounts.py) plus the privilege the issuer needs. The
session (``run``) checks that privilege, commits any open transaction (account statements
commit implicitly, as in MySQL), takes the turn of the hidden ``__marmot_system`` database and
runs the change there as one autocommit transaction at QUORUM, whatever the session's write
level: an account is a replicated row like any other (marmotdb/accounts/DESIGN.md). Every
check that reads the store (does the account exist, which privileges are held) runs inside
that transaction on the write connection, so two nodes creating the same user at once
conflict (1213) rather than both succeeding.

Not supported, refused with 1235 naming them: roles (CREATE ROLE, GRANT role TO, DEFAULT
ROLE, SET ROLE), resource limits (WITH MAX_…), password expiry/history/reuse options,
ACCOUNT LOCK, REQUIRE SSL/X509/…, column privileges, GRANT PROXY, dynamic privileges other
than CONNECTION_ADMIN, ``IDENTIFIED … AS 'hash'``, ``TO RANDOM``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import apsw

from marmotdb import errors
from marmotdb.accounts import store as accounts
from marmotdb.mysql.auth import (
    ANY_PLUGIN,
    SUPPORTED_PLUGINS,
    make_credential,
    parse_credential,
)
from marmotdb.accounts.privileges import information_rows
from marmotdb.sql.text import lexer
from marmotdb.sql.results import Ok, Result
from marmotdb.txn.pending import Pending, chain
from marmotdb.txn.pipeline import Mode
from marmotdb.txn.transaction import Transaction
from marmotdb.users import DROPPED, User

if TYPE_CHECKING:
    from marmotdb.sql.session import Session

HEADS = frozenset({"CREATE", "ALTER", "DROP", "RENAME", "SET", "GRANT", "REVOKE"})
_STARTS = {("CREATE", "USER"), ("ALTER", "USER"), ("DROP", "USER"), ("RENAME", "USER"),
           ("SET", "PASSWORD"), ("GRANT",), ("REVOKE",), ("CREATE", "ROLE"), ("DROP", "ROLE"),
           ("SET", "ROLE"), ("SET", "DEFAULT")}
# Words after an account's authentication that start an option we do not support.
_UNSUPPORTED_OPTIONS = {"REQUIRE": "REQUIRE", "WITH": "resource limits", "PASSWORD":
                        "password expiry and history options", "ACCOUNT": "ACCOUNT LOCK",
                        "DEFAULT": "DEFAULT ROLE", "COMMENT": "user comments",
                        "ATTRIBUTE": "user attributes", "FAILED_LOGIN_ATTEMPTS":
                        "FAILED_LOGIN_ATTEMPTS", "PASSWORD_LOCK_TIME": "PASSWORD_LOCK_TIME"}
Account = tuple[str, str]
Write = Callable[[apsw.Connection, "Session"], Ok]


@dataclass(slots=True)
class Change:
    """What a statement does to the store, and what the issuer must hold (global)."""

    write: Write
    needs: str = "CREATE USER"  # "" = none, or ``authorize`` checks (GRANT, own password)
    authorize: Callable[[Session], None] | None = None  # before the transaction starts
    warnings: list[tuple[str, int, str]] = field(default_factory=list)


def handles(head: tuple[str, ...]) -> bool:
    return tuple(head[:2]) in _STARTS or tuple(head[:1]) in _STARTS


def not_supported(construct: str) -> errors.MarmotError:
    return errors.error(errors.ER_NOT_SUPPORTED_YET,
                        f"This version of marmotdb doesn't yet support '{construct}'")


def syntax_error(near: str) -> errors.MarmotError:
    return errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; check the "
                        "manual that corresponds to your MySQL server version for the right "
                        f"syntax to use near '{near[:80]}' at line 1")


def cannot_user(operation: str, failed: list[Account]) -> errors.MarmotError:
    names = ",".join(f"'{u}'@'{h}'" for u, h in failed)
    return errors.error(errors.ER_CANNOT_USER, f"Operation {operation} failed for {names}")


class Reader:
    """The statement's tokens with the small look-ahead these statements need."""

    def __init__(self, text: str, backslash_escapes: bool = True):
        self._tokens = [t for t in lexer.tokens(text, backslash_escapes=backslash_escapes)
                        if t.kind not in lexer.BLANK_KINDS and t.kind != lexer.SEMICOLON]
        self._at = 0
        self._text = text
        self._escapes = backslash_escapes

    def peek(self, ahead: int = 0) -> lexer.Token | None:
        at = self._at + ahead
        return self._tokens[at] if at < len(self._tokens) else None

    def word(self, ahead: int = 0) -> str:
        token = self.peek(ahead)
        return token.text.upper() if token is not None and token.kind == lexer.WORD else ""

    def accept(self, *words: str) -> bool:
        if all(self.word(i) == w for i, w in enumerate(words)):
            self._at += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise self.error()

    def mentions(self, word: str) -> bool:
        """Does ``word`` appear (as a word) anywhere after the current token?"""
        return any(t.kind == lexer.WORD and t.text.upper() == word
                   for t in self._tokens[self._at:])

    def accept_op(self, op: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == lexer.OP and token.text == op:
            self._at += 1
            return True
        return False

    def error(self) -> errors.MarmotError:
        token = self.peek()
        return syntax_error(self._text[token.start:] if token is not None else "")

    def done(self) -> bool:
        return self.peek() is None

    def finish(self) -> None:
        if not self.done():
            raise self.error()

    def name(self) -> str:
        """An identifier or a string (account parts, database and table names)."""
        token = self.peek()
        if token is None:
            raise self.error()
        self._at += 1
        if token.kind == lexer.STRING:
            return str(lexer.string_value(token.text, backslash_escapes=self._escapes))
        if token.kind == lexer.QUOTED:
            return lexer.quoted_name(token.text)
        if token.kind == lexer.WORD:
            return token.text
        raise syntax_error(self._text[token.start:])

    def string(self) -> str:
        token = self.peek()
        if token is None or token.kind != lexer.STRING:
            raise self.error()
        self._at += 1
        return str(lexer.string_value(token.text, backslash_escapes=self._escapes))

    def account(self, session: Session) -> Account:
        """'user'@'host' (host '%' when left out), CURRENT_USER[()]."""
        if self.accept("CURRENT_USER"):
            if self.accept_op("("):
                if not self.accept_op(")"):
                    raise self.error()
            record = session.user_record
            return record.name, record.host
        user = self.name()
        token = self.peek()
        if token is None or token.kind != lexer.VAR:
            return user, "%"
        self._at += 1
        rest = token.text[1:]
        if not rest:  # 'u' @ 'h': the host is the next token
            return user, self.name()
        if rest[0] in "'\"":
            return user, str(lexer.string_value(rest, backslash_escapes=self._escapes))
        return user, lexer.quoted_name(rest) if rest[0] == "`" else rest

    def accounts(self, session: Session) -> list[Account]:
        found = [self.account(session)]
        while self.accept_op(","):
            found.append(self.account(session))
        return found


def parse(text: str, head: tuple[str, ...], session: Session) -> Change:
    reader = Reader(text, session.variables.backslash_escapes)
    first = reader.word()
    if reader.accept("CREATE", "ROLE") or reader.accept("DROP", "ROLE") or \
            reader.accept("SET", "ROLE") or reader.accept("SET", "DEFAULT", "ROLE"):
        raise not_supported("roles")
    if reader.accept("CREATE", "USER"):
        return _create_user(reader, session)
    if reader.accept("DROP", "USER"):
        return _drop_user(reader, session)
    if reader.accept("ALTER", "USER"):
        return _alter_user(reader, session)
    if reader.accept("RENAME", "USER"):
        return _rename_user(reader, session)
    if reader.accept("SET", "PASSWORD"):
        return _set_password(reader, session)
    from marmotdb.sql.accounts import grants as grant_statements  # GRANT / REVOKE: their own module

    if first == "GRANT":
        return grant_statements.parse_grant(reader, session)
    if first == "REVOKE":
        return grant_statements.parse_revoke(reader, session)
    raise reader.error()


def run(session: Session, text: str, head: tuple[str, ...]) -> Result | Pending:
    """Parse, check the issuer's privilege, commit the open transaction, then write the
    change as one autocommit transaction of ``__marmot_system`` at QUORUM."""
    change = parse(text, head, session)
    if change.needs:
        session._require(None, change.needs)
    if change.authorize is not None:  # with the grants committed before this statement
        change.authorize(session)
    server = session.server
    pipeline = server.pipeline(server.accounts_database())
    txn = Transaction(session.connection_id, explicit=False)

    def write() -> Result | Pending:
        try:
            with pipeline.trusted():
                result = txn.run(lambda conn: change.write(conn, session))
        except BaseException:
            txn.rollback()
            raise
        return chain(txn.commit(result, "QUORUM"), done)  # never ONE: a login depends on it

    def done(result: Ok) -> Ok:
        session.warnings = change.warnings
        return result
    return chain(session._end(commit=True), lambda _: chain(
        txn.begin_write(pipeline, Mode(), session._lock_wait_timeout_s), lambda _: write()))


# --- CREATE / DROP / ALTER / RENAME USER, SET PASSWORD --------------------------------------


def _authentication(reader: Reader) -> str | None:
    """IDENTIFIED [WITH plugin] BY 'pw' [WITH plugin] -> a credential; None: not given."""
    if not reader.accept("IDENTIFIED"):
        return None
    plugin = _plugin(reader) if reader.accept("WITH") else ANY_PLUGIN
    if reader.accept("AS"):  # only marmotdb's own credential strings (SHOW CREATE USER's)
        stored = reader.string()
        if parse_credential(stored) is None:
            raise not_supported("IDENTIFIED ... AS with another server's hash")
        return stored
    if reader.accept("BY", "RANDOM", "PASSWORD"):
        raise not_supported("IDENTIFIED BY RANDOM PASSWORD")
    password = ""
    if reader.accept("BY"):
        password = reader.string()
        if reader.word() == "WITH" and reader.word(1).lower() in SUPPORTED_PLUGINS:
            reader.accept("WITH")
            plugin = _plugin(reader)
    return make_credential(password, plugin)


def _plugin(reader: Reader) -> str:
    name = reader.name().lower()
    if name not in SUPPORTED_PLUGINS:
        raise errors.error(errors.ER_PLUGIN_IS_NOT_LOADED, f"Plugin '{name}' is not loaded")
    return name


def _options(reader: Reader) -> None:
    """Account options after the authentication: supported ones are no-ops, the rest 1235.
    Passwords never expire here (no default_password_lifetime), so EXPIRE NEVER is DEFAULT."""
    while not reader.done():
        if reader.accept("REQUIRE", "NONE") or reader.accept("ACCOUNT", "UNLOCK") or \
                reader.accept("PASSWORD", "EXPIRE", "DEFAULT") or \
                reader.accept("PASSWORD", "EXPIRE", "NEVER"):
            continue
        raise not_supported(_UNSUPPORTED_OPTIONS.get(reader.word(), reader.word() or "this"))


def _create_user(reader: Reader, session: Session) -> Change:
    guarded = reader.accept("IF", "NOT", "EXISTS")
    specs = [_account_spec(reader, session)]
    while reader.accept_op(","):
        specs.append(_account_spec(reader, session))
    _options(reader)
    change = Change(lambda conn, s: Ok())

    def write(conn: apsw.Connection, s: Session) -> Ok:
        existing = [account for account, _ in specs if _exists(conn, s, account)]
        if existing and not guarded:
            raise cannot_user("CREATE USER", existing)
        for account, credential in specs:
            if account in existing:
                change.warnings.append(("Note", errors.ER_USER_ALREADY_EXISTS, f"Authorization "
                                        f"ID '{account[0]}'@'{account[1]}' already exists."))
                continue
            accounts.write_account(conn, *account, credential or make_credential(""))
            accounts.write_privileges(conn, *account, "*", "*", frozenset())
        return Ok()
    change.write = write
    return change


def _account_spec(reader: Reader, session: Session) -> tuple[Account, str | None]:
    account = reader.account(session)
    _check_host(account)
    return account, _authentication(reader)


def _check_host(account: Account) -> None:
    user, host = account
    for value, what, longest in ((user, "user name", 32), (host, "host name", 255)):
        if len(value) > longest:
            raise errors.error(errors.ER_WRONG_STRING_LENGTH, f"String '{value}' is too long "
                               f"for {what} (should be no longer than {longest})")
    if "/" in host:
        raise not_supported("host netmasks ('ip/netmask')")


def _drop_user(reader: Reader, session: Session) -> Change:
    guarded = reader.accept("IF", "EXISTS")
    names = reader.accounts(session)
    reader.finish()
    change = Change(lambda conn, s: Ok())

    def write(conn: apsw.Connection, s: Session) -> Ok:
        missing = [a for a in names if not _exists(conn, s, a)]
        if missing and not guarded:
            raise cannot_user("DROP USER", missing)
        for account in names:
            if account in missing:
                change.warnings.append(("Note", errors.ER_USER_DOES_NOT_EXIST, f"Authorization "
                                        f"ID '{account[0]}'@'{account[1]}' does not exist."))
                continue
            accounts.delete_account(conn, *account)
            if account[1] == "%" and _config_name(s, account[0]):
                accounts.write_account(conn, *account, DROPPED)  # the config one goes too
        return Ok()
    change.write = write
    return change


def _alter_user(reader: Reader, session: Session) -> Change:
    guarded = reader.accept("IF", "EXISTS")
    if reader.accept("USER") and reader.accept_op("("):  # ALTER USER USER() IDENTIFIED BY
        reader.accept_op(")")
        record = session.user_record
        account: Account = (record.name, record.host)
    else:
        account = reader.account(session)
    credential = _authentication(reader)
    _options(reader)
    own = account == (session.user_record.name, session.user_record.host)
    return _password_change(account, credential, guarded, own, "ALTER USER")


def _set_password(reader: Reader, session: Session) -> Change:
    record = session.user_record
    account: Account = (record.name, record.host)
    if reader.accept("FOR"):
        account = reader.account(session)
    if reader.accept("TO", "RANDOM"):
        raise not_supported("SET PASSWORD ... TO RANDOM")
    if not reader.accept_op("="):
        raise reader.error()
    if reader.accept("PASSWORD"):
        raise not_supported("the PASSWORD() function")
    credential = make_credential(reader.string())
    reader.finish()
    own = account == (record.name, record.host)
    return _password_change(account, credential, False, own, "SET PASSWORD")


def _password_change(account: Account, credential: str | None, guarded: bool, own: bool,
                     operation: str) -> Change:
    change = Change(lambda conn, s: Ok(), needs="" if own else "CREATE USER")

    def write(conn: apsw.Connection, s: Session) -> Ok:
        if not _exists(conn, s, account):
            if guarded:
                change.warnings.append(("Note", errors.ER_USER_DOES_NOT_EXIST, f"Authorization "
                                        f"ID '{account[0]}'@'{account[1]}' does not exist."))
                return Ok()
            raise cannot_user(operation, [account])
        materialize(conn, s, account)
        if credential is not None:
            accounts.write_account(conn, *account, credential)
        return Ok()
    change.write = write
    return change


def _rename_user(reader: Reader, session: Session) -> Change:
    pairs: list[tuple[Account, Account]] = []
    while True:
        old = reader.account(session)
        reader.expect("TO")
        new = reader.account(session)
        _check_host(new)
        pairs.append((old, new))
        if not reader.accept_op(","):
            break
    reader.finish()

    def write(conn: apsw.Connection, s: Session) -> Ok:
        for old, new in pairs:
            if not _exists(conn, s, old) or _exists(conn, s, new):
                raise cannot_user("RENAME USER", [old])
            materialize(conn, s, old)
            accounts.rename_account(conn, old, new)
            if old[1] == "%" and _config_name(s, old[0]):  # the config one stays gone
                accounts.write_account(conn, *old, DROPPED)
        return Ok()
    return Change(write)


# --- SHOW GRANTS FOR, SHOW CREATE USER, INFORMATION_SCHEMA's privilege tables ---------------


def shown(session: Session, user: str | None, host: str | None) -> User:
    """The account a SHOW names (None: the session's own). Another one's needs global SELECT
    or CREATE USER (MySQL: SELECT on the mysql schema, which only global grants reach here),
    else 1044; a missing one is 1141."""
    own = session._fresh_grants()
    if user is None or (user, host) == (own.name, own.host):
        return own
    if not own.has("SELECT") and not own.has("CREATE USER"):
        raise errors.error(errors.ER_DBACCESS_DENIED_ERROR, f"Access denied for user "
                           f"'{session.user}'@'{session.host}' to database 'mysql'")
    record = session.server.users.exact(user, host or "%")
    if record is None:
        raise errors.error(errors.ER_NONEXISTING_GRANT, f"There is no such grant defined for "
                           f"user '{user}' on host '{host}'")
    return record


def create_user_statement(record: User) -> str:
    """SHOW CREATE USER: the stored credential string, which CREATE USER … AS takes back."""
    parsed = parse_credential(record.credential)
    plugin = parsed.plugin if parsed is not None and parsed.plugin != ANY_PLUGIN else \
        "caching_sha2_password"
    return (f"CREATE USER `{record.name}`@`{record.host}` IDENTIFIED WITH '{plugin}' AS "
            f"'{record.credential}' REQUIRE NONE PASSWORD EXPIRE DEFAULT ACCOUNT UNLOCK")


def privilege_rows(session: Session, level: str) -> list[tuple[str, ...]]:
    """INFORMATION_SCHEMA.USER_/SCHEMA_/TABLE_PRIVILEGES: one's own rows, every account's
    with global SELECT (privileges.information_rows)."""
    own = session._fresh_grants()
    accounts_shown = session.server.users.all() if own.has("SELECT") else [own]
    return [row for record in accounts_shown for row in information_rows(
        record.held, f"'{record.name}'@'{record.host}'", level)]


# --- the store, as one statement's transaction sees it --------------------------------------


def _config_name(session: Session, name: str) -> bool:
    return session.server.users.configured(name) is not None


def _exists(conn: apsw.Connection, session: Session, account: Account) -> bool:
    """Does the account exist: a stored row (not a tombstone), or a config account nobody
    changed by SQL yet (``'name'@'%'``)."""
    rows = conn.execute(f"SELECT credential FROM {accounts.ACCOUNTS} WHERE user = ? AND "
                        "host = ?", account).fetchall()
    if rows:
        return bool(rows[0][0] != DROPPED)
    if account[1] != "%" or not _config_name(session, account[0]):
        return False
    return not conn.execute(f"SELECT 1 FROM {accounts.ACCOUNTS} WHERE user = ?",
                            (account[0],)).fetchall()


def materialize(conn: apsw.Connection, session: Session, account: Account) -> None:
    """A config account about to be changed by SQL becomes stored rows (credential and
    privileges copied): from now on the store alone decides (users.py)."""
    if accounts.account_exists(conn, *account):
        return
    config = session.server.users.configured(account[0])
    if config is None:
        return
    accounts.write_account(conn, *account, config.credential)
    for (db, tbl), privs in config.held.held.items():
        accounts.write_privileges(conn, *account, db, tbl, privs)
