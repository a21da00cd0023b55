"""Accounts and grants stored as replicated rows (DESIGN.md here has the long form).

Accounts live in two internal tables of the hidden database ``__marmot_system``:

    __marmot_accounts (user, host) -> credential   hashes only (mysql/auth.make_credential)
    __marmot_grants   (user, host, db, tbl) -> privileges   comma-joined MySQL names;
                      db = tbl = '*' is *.*, tbl = '*' is db.*

Both are in ``storage.internal_tables.REPLICATED``: captured as row images and committed
through the distributed commit like a user's rows, so CREATE USER on one node is a write set
the others apply (and catch-up and snapshots carry). User statements never reach them (the
authorizer refuses every ``__marmot_*`` table); only the account statements write them, on the
database's write connection inside a trusted scope (``write_*`` below).

Host matching (``host_matches``): ``%`` matches any client; ``_`` and ``%`` inside a host are
MySQL's LIKE wildcards (``192.168.1.%``); ``localhost`` matches loopback clients (127.0.0.1,
::1); anything else matches the client's address literally. Not matched: DNS host names
(the server does no name resolution), ``ip/netmask`` forms, anonymous ('') users.
When several accounts of a user match, the most specific host wins (no wildcard before
wildcards, longer literal prefix first), as MySQL sorts mysql.user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import apsw

from marmotdb.storage.internal_tables import ACCOUNTS, GRANTS

ACCOUNTS_DATABASE = "__marmot_system"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"})


@dataclass(frozen=True, slots=True)
class StoredAccount:
    user: str
    host: str
    credential: str


def host_matches(pattern: str, client: str) -> bool:
    if pattern == "%":
        return True
    if pattern.lower() == "localhost":
        return client in _LOOPBACK
    if "%" in pattern or "_" in pattern:
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                        for c in pattern.lower())
        return re.fullmatch(regex, client.lower()) is not None
    return pattern.lower() == client.lower()


def specificity(host: str) -> tuple[int, int]:
    """Sort key, smaller first: literal hosts before patterns, longer prefixes first."""
    wild = min((i for i, c in enumerate(host) if c in "%_"), default=-1)
    return (0, -len(host)) if wild < 0 else (1, -wild)


def read_accounts(conn: apsw.Connection) -> list[StoredAccount]:
    return [StoredAccount(u, h, c) for u, h, c in conn.execute(
        f"SELECT user, host, credential FROM {ACCOUNTS}")]


def read_grants(conn: apsw.Connection) -> dict[tuple[str, str], dict[tuple[str, str],
                                                                        frozenset[str]]]:
    grants: dict[tuple[str, str], dict[tuple[str, str], frozenset[str]]] = {}
    for user, host, db, tbl, privs in conn.execute(
            f"SELECT user, host, db, tbl, privileges FROM {GRANTS}"):
        names = frozenset(p for p in str(privs).split(",") if p)
        grants.setdefault((user, host), {})[(db, tbl)] = names
    return grants


def account_exists(conn: apsw.Connection, user: str, host: str) -> bool:
    return bool(conn.execute(f"SELECT 1 FROM {ACCOUNTS} WHERE user = ? AND host = ?",
                             (user, host)).fetchall())


def write_account(conn: apsw.Connection, user: str, host: str, credential: str) -> None:
    conn.execute(f"INSERT OR REPLACE INTO {ACCOUNTS}(user, host, credential) VALUES (?, ?, ?)",
                 (user, host, credential))


def delete_account(conn: apsw.Connection, user: str, host: str) -> None:
    conn.execute(f"DELETE FROM {ACCOUNTS} WHERE user = ? AND host = ?", (user, host))
    conn.execute(f"DELETE FROM {GRANTS} WHERE user = ? AND host = ?", (user, host))


def read_privileges(conn: apsw.Connection, user: str, host: str, db: str, tbl: str
                    ) -> frozenset[str]:
    rows = conn.execute(f"SELECT privileges FROM {GRANTS} WHERE user = ? AND host = ? AND "
                        "db = ? AND tbl = ?", (user, host, db, tbl)).fetchall()
    return frozenset(p for p in str(rows[0][0]).split(",") if p) if rows else frozenset()


def write_privileges(conn: apsw.Connection, user: str, host: str, db: str, tbl: str,
                     privileges: frozenset[str]) -> None:
    if not privileges:
        conn.execute(f"DELETE FROM {GRANTS} WHERE user = ? AND host = ? AND db = ? AND tbl = ?",
                     (user, host, db, tbl))
        return
    conn.execute(f"INSERT OR REPLACE INTO {GRANTS}(user, host, db, tbl, privileges) "
                 "VALUES (?, ?, ?, ?, ?)", (user, host, db, tbl, ",".join(sorted(privileges))))


def rename_account(conn: apsw.Connection, old: tuple[str, str], new: tuple[str, str]) -> None:
    """Rows are deleted and inserted under the new key (a key change is two row images)."""
    (credential,) = conn.execute(f"SELECT credential FROM {ACCOUNTS} WHERE user = ? AND "
                                 "host = ?", old).fetchall()[0]
    grants = conn.execute(f"SELECT db, tbl, privileges FROM {GRANTS} WHERE user = ? AND "
                          "host = ?", old).fetchall()
    delete_account(conn, *old)
    write_account(conn, *new, credential)
    for db, tbl, privs in grants:
        conn.execute(f"INSERT INTO {GRANTS}(user, host, db, tbl, privileges) "
                     "VALUES (?, ?, ?, ?, ?)", (*new, db, tbl, privs))
