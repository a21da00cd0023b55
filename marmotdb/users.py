"""Users, their stored credentials and their database grants.

A user is a name, a credential string (from ``marmotdb.mysql.auth.make_credential``: hashes
only, never the password) and grants: a mapping from a database name or ``*`` to a level.
Levels are ordered: ``r`` (read) < ``rw`` (read and write rows) < ``admin`` (DDL, CREATE/DROP
DATABASE, everything). Root has ``*: admin``.

Users come from two places: ``[[auth.users]]`` in the config, and ``<data_dir>/users.json``
which holds the root user created on first start (written with mode 0600).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from marmotdb.errors import MarmotError

LEVELS = {"r": 1, "rw": 2, "admin": 3}
ROOT = "root"
USERS_FILE = "users.json"


class UserConfigError(MarmotError):
    """A configured user or grant is malformed."""


@dataclass(slots=True)
class User:
    name: str
    credential: str
    grants: dict[str, str] = field(default_factory=dict)

    def level(self, database: str | None) -> int:
        specific = self.grants.get(database.lower()) if database else None
        return max(LEVELS.get(specific or "", 0), LEVELS.get(self.grants.get("*", ""), 0))

    def can(self, database: str | None, level: str) -> bool:
        return self.level(database) >= LEVELS[level]

    def visible(self, databases: Iterable[str]) -> list[str]:
        return [d for d in databases if self.level(d) > 0]

    def grant_lines(self) -> list[str]:
        privileges = {"r": "SELECT", "rw": "SELECT, INSERT, UPDATE, DELETE",
                      "admin": "ALL PRIVILEGES"}
        return [f"GRANT {privileges[level]} ON {'*' if db == '*' else f'`{db}`'}.* "
                f"TO `{self.name}`@`%`" for db, level in sorted(self.grants.items())]


def parse_grants(entries: Iterable[str], user: str) -> dict[str, str]:
    grants: dict[str, str] = {}
    for entry in entries:
        database, _, level = entry.partition(":")
        if level not in LEVELS or not database:
            raise UserConfigError(f"user {user}: grant {entry!r} must be '<db|*>:<r|rw|admin>'")
        grants[database.lower()] = level
    return grants


class Users:
    """The user table of this node."""

    def __init__(self, users: Iterable[User]):
        self._by_name = {u.name: u for u in users}

    def get(self, name: str) -> User | None:
        return self._by_name.get(name)

    def credential(self, name: str) -> str | None:
        user = self._by_name.get(name)
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


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
