"""CDC end to end: a 3-node cluster of real processes publishing to a real nats-server.

A mixed workload (inserts, updates, primary-key changes, deletes, multi-row transactions, DDL)
runs on every node. Mid-stream the broker is stopped — writes go on, unblocked — and the node
publishing origin 3 is killed with SIGKILL while its changes are still unpublished, so the
lowest live node takes its origin over; then the broker comes back, node 3 restarts, and
everything drains. A consumer reads the stream, deduplicates by position, checks per-origin
order, checks that exactly the committed changes were published (the records made from every
node's commit log, nothing more, nothing missing), and rebuilds the tables from the events
alone: they equal the cluster's.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pymysql
import pytest

from marmotdb.cdc.envelope import Envelopes
from marmotdb.cdc.position import Position
from marmotdb.sql.catalog import snapshot as catalog_snapshot
from marmotdb.storage import commitlog
from marmotdb.storage.writeset import decode_write_set
from tests.cdc.nats_broker import NatsBroker, read_stream_sync
from tests.runtime.client_load import connect, create_database
from marmotdb.torture.cluster import LocalCluster

pytestmark = pytest.mark.integration
PREFIX = "shopcdc"
STREAM = "SHOPCDC"
TABLES = ("orders", "items")


def write_config(path: Path, url: str) -> Path:
    path.write_text(f"""
[cluster]
log_trim_interval_ms = 600000  # the check reads every node's whole log at the end

[cdc]
cursor_report_interval_ms = 300
status_interval_ms = 300

[[cdc.sinks]]
name = "nats-main"
kind = "nats"
url = "{url}"
prefix = "{PREFIX}"
exclude_tables = ["app.scratch"]
linger_ms = 5
publish_timeout_ms = 2000
retry_initial_ms = 50
retry_max_ms = 500
snapshot_mode = "initial"
""")
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[NatsBroker]:
    b = NatsBroker(tmp_path / "nats").start()
    yield b
    b.stop()


@pytest.fixture
def cluster(tmp_path: Path, broker: NatsBroker) -> Iterator[LocalCluster]:
    config = write_config(tmp_path / "cdc.toml", broker.url)
    c = LocalCluster(tmp_path / "cluster", 3, serve_args=["--config", str(config)])
    try:
        c.start()
        yield c
    finally:
        c.stop()


class Workload:
    """Writes on one node: its own key range, a mix of statement kinds; counts what it did."""

    def __init__(self, cluster: LocalCluster, node_id: int, seed: int):
        self.cluster, self.node_id = cluster, node_id
        self.rng = random.Random(seed)
        self.base = node_id * 1_000_000
        self.next_id = 0
        self.live: list[int] = []
        self.errors: list[Any] = []
        self.statements = 0

    def run(self, rounds: int) -> None:
        with connect(self.cluster, self.node_id) as conn, conn.cursor() as cur:
            for _ in range(rounds):
                try:
                    self.step(conn, cur)
                    self.statements += 1
                except pymysql.MySQLError as exc:
                    if exc.args[0] != 1213:  # a conflict is a refused write, nothing else
                        self.errors.append(exc)
                    conn.rollback()

    def new_id(self) -> int:
        self.next_id += 1
        return self.base + self.next_id

    def step(self, conn: Any, cur: Any) -> None:
        kind = self.rng.random()
        table = self.rng.choice(TABLES)
        if kind < 0.35 or len(self.live) < 3:
            key = self.new_id()
            cur.execute(f"INSERT INTO {table} (id, n, label) VALUES (%s, %s, %s)",
                        (key, self.rng.randint(0, 99), f"n{self.node_id}-{key}"))
            self.live.append((table, key))
        elif kind < 0.6:
            table, key = self.rng.choice(self.live)
            cur.execute(f"UPDATE {table} SET n = n + 1, label = %s WHERE id = %s",
                        (f"u{self.rng.randint(0, 999)}", key))
        elif kind < 0.7:  # a primary-key change: delete + tombstone + create downstream
            index = self.rng.randrange(len(self.live))
            table, key = self.live[index]
            new = self.new_id()
            cur.execute(f"UPDATE {table} SET id = %s WHERE id = %s", (new, key))
            self.live[index] = (table, new)
        elif kind < 0.82:
            table, key = self.live.pop(self.rng.randrange(len(self.live)))
            cur.execute(f"DELETE FROM {table} WHERE id = %s", (key,))
        else:  # a multi-row transaction over both tables
            conn.begin()
            keys = [self.new_id() for _ in range(3)]
            for key in keys:
                cur.execute("INSERT INTO orders (id, n, label) VALUES (%s, 1, 'txn')", (key,))
            cur.execute("INSERT INTO items (id, n, label) VALUES (%s, 2, 'txn')", (keys[0],))
            cur.execute("INSERT INTO scratch (id) VALUES (%s)", (keys[0],))
            cur.execute("UPDATE orders SET n = n + 10 WHERE id = %s", (keys[1],))
            conn.commit()
            self.live += [("orders", k) for k in keys] + [("items", keys[0])]


def run_everywhere(workloads: dict[int, Workload], nodes: list[int], rounds: int) -> None:
    threads = [threading.Thread(target=workloads[n].run, args=(rounds,)) for n in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for n in nodes:
        assert not workloads[n].errors, workloads[n].errors[:3]


def cluster_rows(cluster: LocalCluster, node_id: int, table: str) -> dict[int, tuple]:
    with connect(cluster, node_id) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT id, n, label, note FROM {table}")
        return {row[0]: tuple(row) for row in cur.fetchall()}


def agreed(cluster: LocalCluster) -> bool:
    try:
        views = [[cluster_rows(cluster, n, table) for table in TABLES] for n in cluster.ids()]
    except pymysql.MySQLError:  # a replica still catching up (the ALTER not applied yet)
        return False
    return all(view == views[0] for view in views)


def published_everything(cluster: LocalCluster) -> bool:
    """Every live node measured no lag, twice, more than a status interval apart (a single
    answer may predate the last writes)."""
    for attempt in range(2):
        for node_id in cluster.live_ids():
            status = cluster.admin(node_id, "GET", "/cdc")
            if not status or status[0]["state"] != "streaming" or status[0]["lag_entries"]:
                return False
        if not attempt:
            time.sleep(0.7)
    return True


def expected_records(cluster: LocalCluster) -> dict[str, Any]:
    """Every record the committed write sets make, from every node's own commit log."""
    out: dict[str, Any] = {}
    for record in cluster.state.nodes:
        path = Path(record.data_dir) / "databases" / "app.db"
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        envelopes = Envelopes(PREFIX, lambda db, t: catalog_snapshot.snapshot(conn, db).table(t))
        envelopes.filter.exclude_tables = ("app.scratch",)
        for entry in commitlog.iter_log(conn):
            for r in envelopes.records(decode_write_set(entry.write_set), 0):
                out[r.position] = r
        conn.close()
    return out


def test_every_committed_change_is_published_once_after_dedup_through_kill_and_restarts(
        cluster: LocalCluster, broker: NatsBroker) -> None:
    # the initial snapshot is taken once the nodes see each other alive: an entry committed
    # before it is in the snapshot, not in the stream (cdc/DESIGN.md §4)
    cluster.until(lambda: published_everything(cluster), 30, "the sink streaming everywhere")
    create_database(cluster)
    with connect(cluster, 1) as conn, conn.cursor() as cur:
        for table in TABLES:
            cur.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, n INT, label VARCHAR(40))")
        cur.execute("CREATE TABLE scratch (id BIGINT PRIMARY KEY)")  # filtered out
    workloads = {n: Workload(cluster, n, seed=n) for n in cluster.ids()}
    run_everywhere(workloads, [1, 2, 3], 40)

    broker.stop()                                   # the broker goes away mid-stream
    started = time.monotonic()
    run_everywhere(workloads, [1, 2, 3], 25)        # writes are not blocked by the sink
    assert time.monotonic() - started < 60
    cluster.kill9(3)                                # node 3's origin is not fully published
    cluster.until(lambda: cluster.all_see(3, "DEAD", [1, 2]), 30, "node 3 seen DEAD")
    with connect(cluster, 2) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE orders ADD COLUMN note VARCHAR(20)")
        cur.execute("ALTER TABLE items ADD COLUMN note VARCHAR(20)")
    run_everywhere(workloads, [1, 2], 20)
    broker.start()                                  # same port, same store
    cluster.until(lambda: published_everything(cluster), 60, "nodes 1, 2 published")
    takeover = cluster.admin(1, "GET", "/cdc")[0]  # the lowest live node took origin 3 over
    assert takeover["owned_origins"]["app"] == [1, 3], takeover
    cluster.restart(3)
    run_everywhere(workloads, [1, 2, 3], 15)
    cluster.until(lambda: published_everything(cluster), 60, "every node published")
    cluster.until(lambda: agreed(cluster), 30, "every replica holds the same rows")
    expected = [cluster_rows(cluster, 1, table) for table in TABLES]

    committed = expected_records(cluster)
    messages = read_stream_sync(broker.url, STREAM, expect_min=len(committed))
    seen: dict[str, Any] = {}
    last: dict[str, tuple[int, int]] = {}
    for msg in messages:
        position = msg.headers["Marmot-Position"]
        if position in seen:
            continue  # a duplicate: at-least-once, dropped by position
        seen[position] = msg
        parsed = Position.parse(position)
        if parsed.origin:  # per origin ("file"), first occurrences arrive in order
            assert parsed.order() > last.get(parsed.file, (0, -1)), position
            last[parsed.file] = parsed.order()
    stream_positions = {p for p, m in seen.items() if Position.parse(p).origin}
    assert stream_positions == set(committed), (
        f"missing {sorted(set(committed) - stream_positions)[:5]}, "
        f"extra {sorted(stream_positions - set(committed))[:5]}")
    for position, record in committed.items():  # the same bytes, ts_ms aside
        msg = seen[position]
        assert msg.subject == record.topic
        if record.value is None:
            assert msg.headers.get("Marmot-Tombstone") == "true"
        else:
            got, want = json.loads(msg.data)["payload"], json.loads(record.value)["payload"]
            # tableChanges describe the table as the catalog had it when published
            for drop in ("ts_ms", "ts_us", "ts_ns", "tableChanges"):
                got.pop(drop, None), want.pop(drop, None)
            assert got == want, position
    assert not any(m.subject.endswith(".scratch") for m in messages)

    rebuilt = rebuild(seen.values())
    for table, rows in zip(TABLES, expected):
        assert rebuilt[table] == rows, table


def rebuild(messages: Any) -> dict[str, dict[int, tuple]]:
    """The tables from the events alone: per key, the event with the highest commit version,
    then origin, then row within the transaction, decides (cdc/DESIGN.md §2)."""
    winners: dict[tuple[str, int], tuple[tuple[int, int, int], dict | None]] = {}
    for msg in messages:
        if not msg.data:
            continue  # tombstone
        payload = json.loads(msg.data)["payload"]
        if "op" not in payload:
            continue  # schema-change event
        table = msg.subject.rsplit(".", 1)[1]
        key = json.loads(msg.headers["Marmot-Key"])["payload"]["id"]
        source = payload["source"]
        version = (source["commit_ts"] or 0, source["server_id"], source["row"])
        row = payload["after"]
        if (table, key) not in winners or winners[(table, key)][0] < version:
            winners[(table, key)] = (version, row)
    tables: dict[str, dict[int, tuple]] = {t: {} for t in TABLES}
    for (table, key), (_, row) in winners.items():
        if row is not None:
            tables[table][key] = (row["id"], row["n"], row["label"], row.get("note"))
    return tables
