"""The internal tables replication keeps beside the data, in the same SQLite file.

Keeping them in the data's file is what lets one SQLite transaction cover a row, its version
and the commit-log record: after a crash the three never disagree. Every name starts with
``__marmot_``; the SQL layer refuses user access to them and change capture ignores them.

    __marmot_row_versions   (tbl, pk) -> version (ts, node) and whether the row is deleted
                            (a tombstone). pk is the key's canonical msgpack bytes.
    __marmot_commit_log     committed write sets in local commit order (seq), with
                            (origin, origin_seq) unique; AUTOINCREMENT so a trimmed seq is
                            never reused and log readers' cursors stay valid.
    __marmot_applied        origin -> highest contiguous origin_seq applied (the vector).
    __marmot_auto_increment (tbl, claim) -> node, lo, hi, next_claim: the AUTO_INCREMENT
                            ranges nodes claimed (txn/DESIGN.md §9). The one internal table
                            that is captured and replicated as row images, like a user table
                            (``REPLICATED``): a claim is an ordinary write set.
    __marmot_accounts       (user, host) -> credential, and
    __marmot_grants         (user, host, db, tbl) -> privileges: accounts (marmotdb/accounts.py),
                            replicated like the claims; rows only in ``__marmot_system``.
    __marmot_ddl_locks      db -> node, owner, token, expires_ms, statement, schema_version:
                            the per-database cluster DDL lock leases (marmotdb/ddl/DESIGN.md;
                            schema_version: the database's as its last holder's DDL left it),
                            replicated like the accounts; rows only in ``__marmot_system``.
    __marmot_databases      name -> dropped, generation: which databases exist cluster-wide
                            (CREATE/DROP DATABASE, marmotdb/ddl/database_records.py), likewise.
    __marmot_pending_branch (txn_id, db) -> write_set: in database A, the promise to finish
                            a transaction's branch in database B, committed with A's rows
                            (txn/DESIGN.md §10.2); node-local, never captured nor replicated.
    __marmot_reemit         (tbl, pk): rows this node's own late writes touched, to ship again
                            after a peer's DDL they were not ordered before (storage/reemit.py,
                            ddl/DESIGN.md §11); node-local, never captured nor replicated.

Public API::

    ensure_internal_tables(conn)    idempotent; run once per database file at open
"""

from __future__ import annotations

import apsw

ROW_VERSIONS = "__marmot_row_versions"
COMMIT_LOG = "__marmot_commit_log"
APPLIED = "__marmot_applied"
AUTO_INCREMENT_CLAIMS = "__marmot_auto_increment"
ACCOUNTS = "__marmot_accounts"
GRANTS = "__marmot_grants"
DDL_LOCKS = "__marmot_ddl_locks"
DATABASES = "__marmot_databases"
PENDING_BRANCHES = "__marmot_pending_branch"
REEMIT = "__marmot_reemit"
# Internal, yet captured like user tables: claims, accounts (marmotdb/accounts.py) and DDL
# lock leases (marmotdb/ddl/; only the hidden __marmot_system database holds rows of these).
REPLICATED = frozenset({AUTO_INCREMENT_CLAIMS, ACCOUNTS, GRANTS, DDL_LOCKS, DATABASES})

_DDL = f"""
CREATE TABLE IF NOT EXISTS {ROW_VERSIONS}(
    tbl TEXT NOT NULL,
    pk BLOB NOT NULL,
    ts INTEGER NOT NULL,
    node INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {ROW_VERSIONS}_tombstones
    ON {ROW_VERSIONS}(ts, node) WHERE deleted = 1;
CREATE TABLE IF NOT EXISTS {COMMIT_LOG}(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    origin INTEGER NOT NULL,
    origin_seq INTEGER NOT NULL,
    commit_ts INTEGER NOT NULL,
    write_set BLOB NOT NULL,
    UNIQUE (origin, origin_seq)
);
CREATE TABLE IF NOT EXISTS {APPLIED}(
    origin INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS {AUTO_INCREMENT_CLAIMS}(
    tbl TEXT NOT NULL,
    claim INTEGER NOT NULL,
    node INTEGER NOT NULL,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    next_claim INTEGER,
    PRIMARY KEY (tbl, claim)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {ACCOUNTS}(
    user TEXT NOT NULL,
    host TEXT NOT NULL,
    credential TEXT NOT NULL,
    PRIMARY KEY (user, host)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {GRANTS}(
    user TEXT NOT NULL,
    host TEXT NOT NULL,
    db TEXT NOT NULL,
    tbl TEXT NOT NULL,
    privileges TEXT NOT NULL,
    PRIMARY KEY (user, host, db, tbl)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {DDL_LOCKS}(
    db TEXT NOT NULL PRIMARY KEY,
    node INTEGER NOT NULL,
    owner INTEGER NOT NULL,
    token INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    statement TEXT NOT NULL,
    schema_version INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {DATABASES}(
    name TEXT NOT NULL PRIMARY KEY,
    dropped INTEGER NOT NULL,
    generation INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {PENDING_BRANCHES}(
    txn_id INTEGER NOT NULL,
    db TEXT NOT NULL,
    write_set BLOB NOT NULL,
    PRIMARY KEY (txn_id, db)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {REEMIT}(
    tbl TEXT NOT NULL,
    pk BLOB NOT NULL,
    key_columns TEXT NOT NULL DEFAULT '',
    image BLOB,
    PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
"""


def ensure_internal_tables(conn: apsw.Connection) -> None:
    if not conn.execute(f"SELECT 1 FROM sqlite_schema WHERE name = '{REEMIT}'"
                        ).fetchall():  # the newest one: older files get it at their next open
        with conn:
            conn.execute(_DDL)
    _ensure_lock_schema_version(conn)
    _ensure_reemit_columns(conn)


def _ensure_reemit_columns(conn: apsw.Connection) -> None:
    """``__marmot_reemit.key_columns`` and ``image`` (added after the table): older
    files get them, their obligations with '' and NULL (the key columns unknown: named by
    the table's current key)."""
    present = {name for (name,) in conn.execute(f"SELECT name FROM pragma_table_xinfo("
                                                f"'{REEMIT}')").fetchall()}
    for column, definition in (("key_columns", "TEXT NOT NULL DEFAULT ''"),
                               ("image", "BLOB")):
        if column not in present:
            with conn:
                conn.execute(f"ALTER TABLE {REEMIT} ADD COLUMN {column} {definition}")


def _ensure_lock_schema_version(conn: apsw.Connection) -> None:
    """``__marmot_ddl_locks.schema_version`` (added after the table): older files get it."""
    if not conn.execute(f"SELECT 1 FROM pragma_table_xinfo('{DDL_LOCKS}') "
                        "WHERE name = 'schema_version'").fetchall():
        with conn:
            conn.execute(f"ALTER TABLE {DDL_LOCKS} ADD COLUMN schema_version INTEGER "
                         "NOT NULL DEFAULT 0")
