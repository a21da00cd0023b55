"""Per-table checksums for auditing that replicas agree.

Each row (with its rowid first for tables keyed by rowid) is encoded with msgpack, which keeps
SQLite's types apart (1, 1.0, '1' and x'31' all differ), hashed with BLAKE2b to 128 bits, and
the hashes are *added* modulo 2^128. Addition makes the checksum independent of row order
(replicas store the same rows in different physical orders: a TEXT primary key in a rowid
table gets a different rowid on each node) while still counting duplicates; with 128-bit row
hashes an accidental match of two different tables is out of reach. The row count travels
beside the sum so a report can say "5 rows missing" rather than just "different".

One full scan per table, in the caller's thread; run it in a worker thread for big tables.
Internal tables are skipped unless asked for; ``__marmot_row_versions`` is where versions
live, so including it also audits that replicas agree on versions and tombstones.

Public API::

    TableChecksum(table, rows, digest)        digest: 32 hex digits
    table_checksum(conn, table) -> TableChecksum
    database_checksums(conn, include_internal=False) -> dict[str, TableChecksum]
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import apsw
import msgspec

from marmotdb.storage.apply_plan import quote_identifier
from marmotdb.storage.internal_tables import APPLIED, COMMIT_LOG, ROW_VERSIONS
from marmotdb.storage.schema import INTERNAL_PREFIX

_MODULUS = 1 << 128
# Node-local bookkeeping: differs between agreeing replicas (local commit order).
_NOT_AUDITED = frozenset({COMMIT_LOG})


class TableChecksum(NamedTuple):
    table: str
    rows: int
    digest: str


def _has_rowid_key(conn: apsw.Connection, table: str) -> bool:
    """True if rows are identified by rowid (no primary key; not WITHOUT ROWID)."""
    has_pk = conn.execute("SELECT 1 FROM pragma_table_info(?, 'main') WHERE pk > 0",
                          (table,)).fetchall()
    return not has_pk


def table_checksum(conn: apsw.Connection, table: str) -> TableChecksum:
    select = "rowid, *" if _has_rowid_key(conn, table) else "*"
    encode = msgspec.msgpack.Encoder().encode
    blake2b = hashlib.blake2b
    total = rows = 0
    for row in conn.execute(f"SELECT {select} FROM {quote_identifier(table)}"):
        total += int.from_bytes(blake2b(encode(row), digest_size=16).digest(), "little")
        rows += 1
    return TableChecksum(table, rows, format(total % _MODULUS, "032x"))


def database_checksums(conn: apsw.Connection,
                       include_internal: bool = False) -> dict[str, TableChecksum]:
    sql = ("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
           "ESCAPE '\\' ORDER BY name")
    tables = [name for (name,) in conn.execute(sql)]
    wanted = [t for t in tables if t not in _NOT_AUDITED and
              (include_internal and t in (ROW_VERSIONS, APPLIED)
               or not t.startswith(INTERNAL_PREFIX))]
    return {table: table_checksum(conn, table) for table in wanted}
