"""MySQL privileges of one account: global, per database and per table, with GRANT OPTION.

A privilege is MySQL's name in upper case (``SELECT``, ``CREATE VIEW``, ``GRANT OPTION``).
``Privileges`` holds three levels as MySQL does (``*.*``, ``db.*``, ``db.table``); a check
passes when any level that covers the object holds the privilege. ``ALL [PRIVILEGES]`` is the
set of every privilege the level can hold except GRANT OPTION, which only ``WITH GRANT
OPTION`` gives. ``USAGE`` is no privilege at all (an account with nothing granted shows
``GRANT USAGE ON *.* TO …``).

Config users (``[[auth.users]]``) keep their levels ``r``/``rw``/``admin``; ``from_levels``
turns them into privileges so one check serves both kinds of account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Privileges a table can hold (MySQL's table_priv set, plus SHOW VIEW / TRIGGER).
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES",
                    "INDEX", "ALTER", "CREATE VIEW", "SHOW VIEW", "TRIGGER")
DATABASE_PRIVILEGES = TABLE_PRIVILEGES + ("CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE",
                                          "CREATE ROUTINE", "ALTER ROUTINE", "EVENT")
GLOBAL_PRIVILEGES = DATABASE_PRIVILEGES + ("RELOAD", "SHUTDOWN", "PROCESS", "FILE",
                                           "SHOW DATABASES", "SUPER", "REPLICATION SLAVE",
                                           "REPLICATION CLIENT", "CREATE USER",
                                           "CREATE TABLESPACE", "CONNECTION_ADMIN")
GRANT_OPTION = "GRANT OPTION"
# The order SHOW GRANTS prints them in (MySQL's column order of mysql.user).
_ORDER = {name: i for i, name in enumerate(GLOBAL_PRIVILEGES)}
_ALIASES = {"ALL PRIVILEGES": "ALL", "SHOW SCHEMAS": "SHOW DATABASES",
            "SLAVE": "REPLICATION SLAVE"}
_LEVEL_PRIVILEGES = {
    "r": ("SELECT", "SHOW VIEW", "LOCK TABLES"),  # READ locks, as config readers had
    "rw": ("SELECT", "SHOW VIEW", "INSERT", "UPDATE", "DELETE", "LOCK TABLES",
           "CREATE TEMPORARY TABLES"),
}


class PrivilegeError(ValueError):
    """A privilege name MySQL does not have, or one the level cannot hold (1221 / 1144)."""


def normalize(name: str) -> str:
    """MySQL's spelling of a privilege named in a GRANT/REVOKE, or PrivilegeError."""
    spelled = " ".join(name.upper().split())
    spelled = _ALIASES.get(spelled, spelled)
    if spelled in ("ALL", "USAGE", GRANT_OPTION) or spelled in _ORDER:
        return spelled
    raise PrivilegeError(name)


def expand(names: Iterable[str], level: str) -> frozenset[str]:
    """The privileges ``names`` grant at ``level`` (``global``/``database``/``table``)."""
    allowed = {"global": GLOBAL_PRIVILEGES, "database": DATABASE_PRIVILEGES,
               "table": TABLE_PRIVILEGES}[level]
    result: set[str] = set()
    for name in names:
        if name == "ALL":
            result.update(allowed)
        elif name == GRANT_OPTION:
            result.add(GRANT_OPTION)
        elif name != "USAGE":
            if name not in allowed:
                raise PrivilegeError(name)
            result.add(name)
    return frozenset(result)


def ordered(privileges: Iterable[str], level: str) -> str:
    """The list SHOW GRANTS prints: ALL PRIVILEGES when the level's whole set is held."""
    held = set(privileges) - {GRANT_OPTION}
    full = {"global": GLOBAL_PRIVILEGES, "database": DATABASE_PRIVILEGES,
            "table": TABLE_PRIVILEGES}[level]
    if held >= set(full):
        return "ALL PRIVILEGES"
    return ", ".join(sorted(held, key=lambda p: _ORDER.get(p, 99))) or "USAGE"


Key = tuple[str, str]  # (database, table); ("*", "*") global, (db, "*") a database


@dataclass(slots=True)
class Privileges:
    """What one account holds: key -> privilege set (see the module docstring)."""

    held: dict[Key, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_levels(cls, grants: dict[str, str]) -> Privileges:
        held: dict[Key, frozenset[str]] = {}
        for database, level in grants.items():
            scope = "global" if database == "*" else "database"
            names = ("ALL", GRANT_OPTION) if level == "admin" else _LEVEL_PRIVILEGES[level]
            held[(database, "*")] = expand(names, scope)
        return cls(held)

    def has(self, privilege: str, database: str | None = None, table: str | None = None
            ) -> bool:
        held = self.held
        if privilege in held.get(("*", "*"), ()):
            return True
        if database is None:
            return False
        database = database.lower()
        if privilege in held.get((database, "*"), ()):
            return True
        return table is not None and privilege in held.get((database, table.lower()), ())

    def any_in(self, database: str) -> bool:
        """Anything at all on ``database`` or one of its tables (SHOW DATABASES, USE)."""
        database = database.lower()
        return any(privs - {GRANT_OPTION} and (db == "*" or db == database)
                   for (db, _), privs in self.held.items())

    def any_table(self, database: str, table: str) -> bool:
        return bool(self.held.get((database.lower(), table.lower()), frozenset())
                    - {GRANT_OPTION})

    def grant_lines(self, user: str, host: str) -> list[str]:
        """SHOW GRANTS: the global line first (USAGE if nothing), then databases, tables."""
        account = f"`{user}`@`{host}`"
        glob = self.held.get(("*", "*"), frozenset())
        lines = [_line(glob, "global", "*.*", account)]
        for (db, table), privs in sorted(self.held.items()):
            if (db, table) == ("*", "*") or not privs:
                continue
            level, on = ("database", f"`{db}`.*") if table == "*" else \
                ("table", f"`{db}`.`{table}`")
            lines.append(_line(privs, level, on, account))
        return lines


def information_rows(privileges: Privileges, grantee: str, level: str) -> list[tuple[str, ...]]:
    """INFORMATION_SCHEMA's rows of one account at ``level`` (USER_/SCHEMA_/TABLE_PRIVILEGES):
    one per privilege, GRANT OPTION as IS_GRANTABLE; USAGE when nothing is held globally."""
    rows: list[tuple[str, ...]] = []
    for (db, table), privs in sorted(privileges.held.items()):
        key_level = "global" if db == "*" else "database" if table == "*" else "table"
        if key_level != level:
            continue
        grantable = "YES" if GRANT_OPTION in privs else "NO"
        where = {"global": (), "database": (db,), "table": (db, table)}[level]
        rows += [(grantee, "def", *where, p, grantable)
                 for p in sorted(privs - {GRANT_OPTION}, key=lambda p: _ORDER.get(p, 99))]
    if level == "global" and not rows:
        rows.append((grantee, "def", "USAGE", "NO"))
    return rows


def _line(privs: frozenset[str], level: str, on: str, account: str) -> str:
    option = " WITH GRANT OPTION" if GRANT_OPTION in privs else ""
    return f"GRANT {ordered(privs, level)} ON {on} TO {account}{option}"
