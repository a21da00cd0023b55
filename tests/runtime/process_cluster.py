"""Helpers for tests that run real ``marmotdb serve`` processes as one cluster
(marmotdb.torture.cluster.LocalCluster): a shared module-scoped cluster, PyMySQL sessions on a
node, reads that wait for asynchronous learns, and a kill -9 under writers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql

from marmotdb.torture.cluster import HOST, LocalCluster


def running_cluster(base: Path, nodes: int = 3) -> Iterator[LocalCluster]:
    """A started cluster for a module-scoped fixture; every node must exit cleanly after."""
    cluster = LocalCluster(base, nodes)
    try:
        cluster.start()
        yield cluster
    finally:
        codes = cluster.stop()
    assert all(code == 0 for code in codes.values()), f"unclean exits {codes}"


def connect(cluster: LocalCluster, node_id: int, **options: Any) -> pymysql.Connection[Any]:
    return pymysql.connect(host=HOST, port=cluster.record(node_id).mysql_port, user="root",
                           password=cluster.state.root_password, autocommit=True,
                           connect_timeout=10, read_timeout=30, **options)


def query(cluster: LocalCluster, node_id: int, sql: str,
          database: str | None = None) -> list[tuple[Any, ...]]:
    with connect(cluster, node_id, database=database) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def everywhere(cluster: LocalCluster, sql: str, expected: list[tuple[Any, ...]],
               database: str | None = None, timeout_s: float = 15) -> None:
    """Every node answers ``expected`` (learns are asynchronous: wait a little)."""
    cluster.until(lambda: all(query(cluster, i, sql, database) == expected
                              for i in cluster.ids()),
                  timeout_s, f"{sql} = {expected} on every node")


def kill9_under_writers(cluster: LocalCluster, node_id: int, writers: int, acknowledged_min: int,
                        write: Callable[[Any, int, int], None],
                        database: str | None = None) -> set[int]:
    """``writers`` sessions on ``node_id`` call ``write(cursor, key, writer)`` with distinct
    keys until the node is killed (-9) once ``acknowledged_min`` of them returned; the node is
    started again. Returns the keys whose ``write`` returned (acknowledged to the client)."""
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w: int) -> None:
        try:
            with connect(cluster, node_id, database=database) as conn, conn.cursor() as cur:
                for i in range(10_000):
                    if stop.is_set():
                        return
                    key = w * 100_000 + i
                    write(cur, key, w)
                    with lock:
                        acknowledged.append(key)
        except pymysql.err.MySQLError:
            return  # the node died under us: this write's outcome is unknown to the client

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    cluster.until(lambda: len(acknowledged) >= acknowledged_min, 60,
                  "writes acknowledged before the kill")
    cluster.kill9(node_id)
    stop.set()
    for thread in threads:
        thread.join(30)
    cluster.restart(node_id)
    cluster.until(cluster.converged, 30, f"node {node_id} back")
    return set(acknowledged)


def read_or_retry(read: Callable[[], bool]) -> bool:
    """``read()``, or False when a restarted node's read waited for its catch-up (1205,
    bounded): the caller asks again (``cluster.until``)."""
    try:
        return read()
    except pymysql.err.OperationalError as exc:
        assert exc.args[0] == 1205, exc
        return False
