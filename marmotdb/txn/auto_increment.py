"""AUTO_INCREMENT values that do not collide across nodes (Galera's auto_increment_control).

Each member of a cluster of ``N`` takes the values congruent to its *offset* (its rank among
the member ids, from 1) modulo ``N``: before an INSERT into a table with an AUTO_INCREMENT
column runs on a replicated database, the table's ``sqlite_sequence`` entry is raised so that
SQLite's next value (one above the larger of that entry and the table's highest key) is the
next one in this node's class. Two nodes inserting at once therefore pick different keys and
do not conflict; values stay small (they grow N times faster than on one node, as in Galera);
an explicit id is untouched; LAST_INSERT_ID() is what SQLite assigned.

Limits: only the first row of a multi-row INSERT is steered (SQLite numbers the rest +1), and
a change of membership moves the classes; either can make two nodes pick one key, which the
distributed commit turns into a conflict (1213; an autocommit statement runs again), never into
a lost or duplicated row. Rejected for now: ranges claimed through committed transactions
(Marmot v2's narrow AUTO_INCREMENT): it needs every INSERT rewritten to carry explicit ids.
"""

from __future__ import annotations

import apsw


def steer(conn: apsw.Connection, table: str, offset: int, increment: int) -> None:
    """Raise ``table``'s sqlite_sequence so its next AUTO_INCREMENT value is the next one
    congruent to ``offset`` modulo ``increment`` (runs on the write connection, trusted)."""
    if increment <= 1:
        return
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ? COLLATE NOCASE",
                       (table,)).fetchone()
    seq = int(row[0]) if row is not None else 0
    (top,) = conn.execute(f'SELECT max(rowid) FROM "{table.replace(chr(34), chr(34) * 2)}"'
                          ).fetchone()
    base = max(seq, int(top or 0))
    following = base + 1 + (offset - (base + 1)) % increment
    if following - 1 == seq:
        return
    if row is None:
        conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)",
                     (table, following - 1))
    else:
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ? COLLATE NOCASE",
                     (following - 1, table))
