"""Replica audit for the real-process fault tests: settle the cluster, stop it, read the files.

``settle`` waits (admin API) until every node reports nothing in doubt, nothing to catch up
and the same applied vectors. ``audit`` then reads each stopped node's files directly — not
through the server that might be wrong — and checks the convergence invariants of DESIGN §4.1:

    identical     per-table checksums (storage/checksum.py), row versions and applied vectors
                  included, equal on every node: byte-identical replicas
    one outcome   the commit logs hold the same (origin, origin seq) entries with the same
                  bytes on every node, a write set or an abort marker: never committed on one
                  node and aborted on another, and no gap
    nothing left  no write set, promise or acceptance left in any txn store: every instance
                  was decided and applied everywhere (recovery finished)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import apsw

from marmotdb.hlc import Timestamp
from marmotdb.storage.checksum import TableChecksum, database_checksums
from marmotdb.storage.commitlog import iter_log
from marmotdb.storage.writeset import decode_write_set
from marmotdb.txn.txn_store import FILE_NAME as TXN_STORE_FILE
from marmotdb.torture.cluster import LocalCluster

LogKey = tuple[int, int]  # (origin, origin seq)
# The audit compares whole commit logs (as the simulator's checker does): clusters it audits
# do not trim them while the test runs (retention.py trims every 10 s by default, each node
# at its own moment).
AUDITED_SERVE_ARGS = ["--cluster-log-trim-interval-ms=86400000"]


@dataclasses.dataclass
class ReplicaFiles:
    node_id: int
    checksums: dict[str, TableChecksum]
    log: dict[LogKey, bytes]
    txn_store_rows: int  # write sets + acceptor records not yet forgotten
    tables: dict[str, list[tuple[Any, ...]]]


def _self_entry(cluster: LocalCluster, node_id: int) -> dict[str, Any]:
    return next(m for m in cluster.admin(node_id, "GET", "/cluster/members") if m["is_self"])


def settled(cluster: LocalCluster, database: str = "app") -> bool:
    entries = [_self_entry(cluster, node_id) for node_id in cluster.ids()]
    return (all(e["in_doubt"] == 0 and e["catching_up"] is False and not e["behind_txns"]
                for e in entries)
            and all(e["applied"].get(database) == entries[0]["applied"].get(database)
                    for e in entries))


def settle(cluster: LocalCluster, timeout_s: float = 60.0,
           databases: tuple[str, ...] = ("app",)) -> float:
    """Wait until the cluster is one membership and every node agrees it is done (with equal
    applied vectors of each of ``databases``)."""
    cluster.until(cluster.converged, timeout_s, "every node sees every node ALIVE")
    def views() -> str:
        return "\n".join(str(_self_entry(cluster, i)) for i in cluster.ids())
    try:
        return cluster.until(lambda: all(settled(cluster, db) for db in databases), timeout_s,
                             "nothing in doubt, nobody catching up, equal applied vectors")
    except AssertionError as exc:
        raise AssertionError(f"{views()}\n{exc}") from None


def read_files(data_dir: Path, node_id: int, tables: tuple[str, ...],
               database: str = "app") -> ReplicaFiles:
    conn = apsw.Connection(str(data_dir / "databases" / f"{database}.db"))
    try:
        checksums = database_checksums(conn, include_internal=True)
        log = {(e.origin, e.origin_seq): e.write_set for e in iter_log(conn)}
        rows = {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1")]
                for t in tables}
    finally:
        conn.close()
    store = apsw.Connection(str(data_dir / TXN_STORE_FILE))
    try:
        left = sum(store.execute(f"SELECT COUNT(*) FROM {t}").fetchall()[0][0]
                   for t in ("batch_write_sets", "acceptor"))
    finally:
        store.close()
    return ReplicaFiles(node_id, checksums, log, left, rows)


def audit(cluster: LocalCluster, tables: tuple[str, ...] = (),
          databases: tuple[str, ...] = ("app",)) -> list[ReplicaFiles]:
    """Settle, stop every node cleanly, check the invariants above on the files of each of
    ``databases``; return the first database's replicas (``tables``' rows read too; a table
    named ``database.table`` is read from that database) for the caller's own checks."""
    settle(cluster, databases=databases)
    codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), f"unclean exits {codes}"
    found = []
    for db in databases:
        try:
            found.append(_compare(cluster, _tables_of(tables, db, db == databases[0]), db))
        except AssertionError as exc:
            raise AssertionError(f"database {db}: {exc}") from None
    return found[0]


def _tables_of(tables: tuple[str, ...], database: str, default: bool) -> tuple[str, ...]:
    """``tables``' names in ``database``: its ``database.table`` ones, and the unqualified ones
    when it is the first (default) database."""
    return tuple(t.split(".", 1)[1] if "." in t else t for t in tables
                 if t.startswith(database + ".") or ("." not in t and default))


def _compare(cluster: LocalCluster, tables: tuple[str, ...], database: str
             ) -> list[ReplicaFiles]:
    replicas = [read_files(Path(cluster.record(i).data_dir), i, tables, database)
                for i in cluster.ids()]
    first = replicas[0]
    for replica in replicas[1:]:
        differ = {t for t in first.checksums.keys() | replica.checksums.keys()
                  if first.checksums.get(t) != replica.checksums.get(t)}
        assert not differ, (f"node {replica.node_id} differs from node {first.node_id} in "
                            f"{sorted(differ)}: {[replica.checksums.get(t) for t in differ]} "
                            f"vs {[first.checksums.get(t) for t in differ]}")
        split = {k for k in first.log.keys() & replica.log.keys()
                 if first.log[k] != replica.log[k]}
        assert not split, f"log entries decided differently on nodes {first.node_id}, " \
                          f"{replica.node_id}: {sorted(split)[:10]}"
        missing = first.log.keys() ^ replica.log.keys()
        assert not missing, f"log entries on one of nodes {first.node_id}, " \
                            f"{replica.node_id} only: {sorted(missing)[:10]}"
    left = {r.node_id: r.txn_store_rows for r in replicas if r.txn_store_rows}
    assert not left, f"txn store records never forgotten (node: rows): {left}"
    return replicas


def lww_winner(replica: ReplicaFiles, table: str, key: tuple[Any, ...]
               ) -> tuple[Timestamp, int, tuple[Any, ...] | None]:
    """From the commit log alone: the (commit timestamp, origin node, after image) of the
    committed change to ``table``'s row ``key`` with the highest HLC timestamp — the one
    last-write-wins must have kept (None image: a delete). An abort marker changes nothing."""
    best: tuple[Timestamp, int, tuple[Any, ...] | None] | None = None
    for encoded in replica.log.values():
        write_set = decode_write_set(encoded)
        for change in write_set.changes:
            if change.table == table and key in (tuple(change.new_key or ()),
                                                  tuple(change.old_key or ())):
                image = tuple(change.after) if change.after is not None and \
                    tuple(change.new_key or ()) == key else None
                if best is None or write_set.commit_ts >= best[0]:  # later change, same txn
                    best = (write_set.commit_ts, write_set.origin, image)
    assert best is not None, f"no committed change to {table} {key}"
    return best
