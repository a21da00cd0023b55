"""Users: accounts with their stored credentials and privileges, for login and checks.

A user is a name and host, a credential string (from ``marmotdb.mysql.auth.make_credential``:
hashes only, never the password) and privileges (marmotdb/accounts/privileges.py). Config
users give grants as levels per database or ``*``: ``r`` (read) < ``rw`` (read and write rows)
< ``admin`` (everything, WITH GRANT OPTION); root has ``*: admin``.

Users come from three places: ``[[auth.users]]`` in the config, ``<data_dir>/users.json``
which holds the root user created on first start (written with mode 0600), and the accounts
stored by CREATE USER / GRANT (marmotdb/accounts/store.py, replicated rows). The first two
seed the cluster (marmotdb/accounts/DESIGN.md): such a *config account* is ``'name'@'%'`` and
exists until SQL changes an account of that name; the first such change stores the account
(credential and privileges copied), and from then on the stored rows alone decide, so a
restart with the same config never overwrites what SQL did. DROP USER of a config account
stores a tombstone (credential ``!dropped``) for the same reason.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw

from marmotdb.accounts import store as accounts
from marmotdb.errors import MarmotError
from marmotdb.accounts.privileges import Privileges

LEVELS = {"r": 1, "rw": 2, "admin": 3}
ROOT = "root"
USERS_FILE = "users.json"
DROPPED = "!dropped"  # a stored config account's tombstone: the config one is gone too
# () -> (look-up connection, its binding, change token or None) | None: see ServerState
AccountsReader = Callable[[], tuple[apsw.Connection, Any, object] | None]


class UserConfigError(MarmotError):
    """A configured user or grant is malformed."""


@dataclass(slots=True)
class User:
    name: str
    credential: str
    grants: dict[str, str] = field(default_factory=dict)  # config levels: db -> r|rw|admin
    host: str = "%"
    privileges: Privileges | None = None  # None: from ``grants``
    stored: bool = False  # an account of the store, not (only) of the config

    def __post_init__(self) -> None:
        if self.privileges is None:
            self.privileges = Privileges.from_levels(self.grants)

    @property
    def held(self) -> Privileges:
        assert self.privileges is not None
        return self.privileges

    def has(self, privilege: str, database: str | None = None, table: str | None = None
            ) -> bool:
        return self.held.has(privilege, database, table)

    def can(self, database: str | None, level: str) -> bool:
        """The old levels as privilege checks: r = SELECT, rw = INSERT/UPDATE/DELETE,
        admin = CREATE on a database, SUPER or CONNECTION_ADMIN server-wide."""
        if level == "r":
            return self.has("SELECT", database) or (
                database is not None and self.held.any_in(database))
        if level == "rw":
            return any(self.has(p, database) for p in ("INSERT", "UPDATE", "DELETE"))
        if database is None:
            return self.has("SUPER") or self.has("CONNECTION_ADMIN")
        return self.has("CREATE", database)

    def visible(self, databases: Iterable[str]) -> list[str]:
        return [d for d in databases if self.held.any_in(d)]

    def grant_lines(self) -> list[str]:
        return self.held.grant_lines(self.name, self.host)


def parse_grants(entries: Iterable[str], user: str) -> dict[str, str]:
    grants: dict[str, str] = {}
    for entry in entries:
        database, _, level = entry.partition(":")
        if level not in LEVELS or not database:
            raise UserConfigError(f"user {user}: grant {entry!r} must be '<db|*>:<r|rw|admin>'")
        grants[database.lower()] = level
    return grants


class Users:
    """The accounts of this node: config accounts under the stored ones (module docstring)."""

    def __init__(self, users: Iterable[User]):
        self._config = {u.name: u for u in users}
        self._reader: AccountsReader | None = None
        self._version: object = None  # the store's change token when last read
        self._stored: dict[str, list[User]] = {}  # name -> its accounts, most specific first
        self.generation = 0  # bumped whenever the stored accounts changed (sessions re-check)

    def reading(self, reader: AccountsReader) -> Users:
        """A copy that also reads stored accounts through ``reader`` (a trusted connection
        to one node's store)."""
        copy = Users(self._config.values())
        copy._reader = reader
        return copy

    def refresh(self) -> int:
        """Re-read the store if anything committed there since (the reader's change token);
        returns the generation."""
        if self._reader is None:
            return self.generation
        store = self._reader()
        if store is None:  # no account stored on this node yet
            return self.generation
        conn, binding, token = store
        if token is None or token == self._version:  # a write not committed yet, or none
            return self.generation
        with binding.trusted_scope():
            self._stored = _stored_users(conn)
        self._version = token
        self.generation += 1
        return self.generation

    def get(self, name: str, host: str = "%") -> User | None:
        """The account ``name`` logs in as from ``host`` (best host match), or None."""
        self.refresh()
        stored = self._stored.get(name)
        if stored is not None:
            for user in stored:
                if accounts.host_matches(user.host, host):
                    return None if user.credential == DROPPED else user
            return None
        return self._config.get(name)

    def exact(self, name: str, host: str) -> User | None:
        """The account 'name'@'host' as CREATE/DROP/GRANT name it (no host matching)."""
        self.refresh()
        stored = self._stored.get(name)
        if stored is not None:
            found = next((u for u in stored if u.host == host), None)
            return None if found is None or found.credential == DROPPED else found
        config = self._config.get(name)
        return config if config is not None and host == "%" else None

    def configured(self, name: str) -> User | None:
        """The config account ``name`` (users.json, [[auth.users]]), whatever the store says."""
        return self._config.get(name)

    def all(self) -> list[User]:
        self.refresh()
        found = [u for users in self._stored.values() for u in users if u.credential != DROPPED]
        return found + [u for n, u in self._config.items() if n not in self._stored]

    def credential(self, name: str, host: str = "%") -> str | None:
        user = self.get(name, host)
        return user.credential if user else None

    @classmethod
    def load(cls, data_dir: Path, configured: list[dict[str, object]], root_password: str,
             make_credential: Callable[[str], str], generate_password: Callable[[], str],
             announce: Callable[[str], None]) -> Users:
        """Read users.json (creating root on first start) and merge the configured users."""
        path = Path(data_dir) / USERS_FILE
        if path.exists():
            stored = json.loads(path.read_text())
        else:
            password = root_password or generate_password()
            if not root_password:
                announce(password)
            stored = [{"name": ROOT, "credential": make_credential(password),
                       "grants": ["*:admin"]}]
            _write_private(path, json.dumps(stored, indent=2))
        users = [_user_from(entry) for entry in stored]
        users += [_user_from(entry) for entry in configured]
        return cls(users)


def _user_from(entry: dict[str, object]) -> User:
    name = entry.get("name")
    credential = entry.get("credential")
    if not isinstance(name, str) or not isinstance(credential, str) or not name:
        raise UserConfigError(f"user entry needs 'name' and 'credential' strings: {entry!r}")
    grants = entry.get("grants", [])
    if not isinstance(grants, list):
        raise UserConfigError(f"user {name}: grants must be a list")
    return User(name, credential, parse_grants(grants, name))


def _stored_users(conn: apsw.Connection) -> dict[str, list[User]]:
    grants = accounts.read_grants(conn)
    stored: dict[str, list[User]] = {}
    for row in accounts.read_accounts(conn):
        held = Privileges(grants.get((row.user, row.host), {}))
        stored.setdefault(row.user, []).append(
            User(row.user, row.credential, host=row.host, privileges=held, stored=True))
    for users in stored.values():
        users.sort(key=lambda u: accounts.specificity(u.host))
    return stored


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
