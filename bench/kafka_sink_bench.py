"""Raw KafkaSink throughput and publish latency against a real broker (Tansu, memory storage).

    python bench/kafka_sink_bench.py                       # 100,000 records, calls of 1,000
    python bench/kafka_sink_bench.py --records 200000 --call-records 1000 --partitions 6
    python bench/kafka_sink_bench.py --bootstrap 127.0.0.1:9092   # an existing broker

What is measured: the sink alone, no cluster and no publisher. Records look like the ones the
publisher hands a sink for sysbench's table (marmotdb/cdc): topic ``bench.sbtest.sbtest1``, key =
the Debezium key JSON of one of ``--rows`` ids, value = an update envelope of about 600 bytes
(``schema`` left out, as with schemas.enable=false; ``before`` and ``after`` with sysbench's
columns), one position per record. They are built before the clock starts. ``publish`` is called
with ``--call-records`` at a time, one call after the other, as the publisher does per sink.

Reported: records/s over the whole run; the latency of one ``publish`` call (hand over to every
acks=all acknowledgement) p50/p99/max; CPU of this process per record (the sink's cost on a
node's event loop, client side only: the broker runs in its own process). The broker shares the
machine's cores with this process, so numbers are indicative, more so when other work runs.
Exit code 0 only if every record was acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marmotdb.cdc.sink import SinkRecord  # noqa: E402
from marmotdb.config import SinkConfig  # noqa: E402
from marmotdb.runtime.cdc_kafka import KafkaSink  # noqa: E402

TOPIC = "bench.sbtest.sbtest1"


def envelope(row_id: int, n: int) -> bytes:
    row = {"id": row_id, "k": 5000 + n % 1000,
           "c": f"{n:011d}-" * 8, "pad": f"{row_id:011d}-" * 5}
    after = dict(row, k=row["k"] + 1)
    payload = {"before": row, "after": after, "op": "u", "ts_ms": 1796600000000 + n,
               "ts_us": (1796600000000 + n) * 1000,
               "source": {"version": "marmotdb-0.1.0", "connector": "mysql", "name": "bench",
                          "ts_ms": 1796600000000 + n, "snapshot": "false", "db": "sbtest",
                          "table": "sbtest1", "server_id": 1, "file": "marmot-1",
                          "pos": n, "row": 0, "txId": f"1-{n}"}}
    return orjson.dumps({"payload": payload})


def make_records(count: int, rows: int) -> list[SinkRecord]:
    return [SinkRecord(TOPIC, b'{"payload":{"id":%d}}' % (n % rows + 1), envelope(n % rows + 1, n),
                       f"1-{n:012d}") for n in range(count)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(bootstrap: str, args: argparse.Namespace) -> dict[str, float]:
    records = make_records(args.records, args.rows)
    sink = KafkaSink(SinkConfig(name="bench", kind="kafka", servers=[bootstrap],
                                partitions=args.partitions, in_flight_max=args.in_flight))
    await sink.start()
    await sink.publish(records[:1])  # topic created and metadata known before the clock runs
    call_ms: list[float] = []
    cpu_started, started = time.process_time(), time.perf_counter()
    for i in range(0, len(records), args.call_records):
        call_started = time.perf_counter()
        await sink.publish(records[i:i + args.call_records])
        call_ms.append((time.perf_counter() - call_started) * 1000)
    elapsed_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    await sink.close()
    return {"records": len(records), "value_bytes_mean": statistics.mean(
                len(r.value or b"") for r in records[:1000]),
            "records_per_s": len(records) / elapsed_s, "elapsed_s": elapsed_s,
            "call_p50_ms": percentile(call_ms, 0.50), "call_p99_ms": percentile(call_ms, 0.99),
            "call_max_ms": max(call_ms), "cpu_us_per_record": cpu_s * 1e6 / len(records)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--call-records", type=int, default=SinkConfig.records_max,
                        help="records per publish call (the sink's records_max)")
    parser.add_argument("--rows", type=int, default=10_000, help="distinct keys")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=SinkConfig.in_flight_max,
                        help="the sink's in_flight_max: records unacknowledged at most")
    parser.add_argument("--bootstrap", default="", help="use this broker, start none")
    args = parser.parse_args()
    broker = None
    if not args.bootstrap:
        from tests.cdc.kafka_broker import KafkaBroker
        broker = KafkaBroker(Path(tempfile.mkdtemp(prefix="kafka-bench-")))
        broker.start()
    try:
        result = asyncio.run(run(args.bootstrap or broker.bootstrap_servers, args))
    finally:
        if broker is not None:
            broker.stop()
    print(f"KafkaSink -> {'Tansu (memory)' if broker else args.bootstrap}: "
          f"{result['records']:,} records of ~{result['value_bytes_mean']:.0f} B, "
          f"calls of {args.call_records}, {args.partitions} partitions")
    print(f"  {result['records_per_s']:,.0f} records/s ({result['elapsed_s']:.2f} s)")
    print(f"  publish call latency p50 {result['call_p50_ms']:.1f} ms, "
          f"p99 {result['call_p99_ms']:.1f} ms, max {result['call_max_ms']:.1f} ms")
    print(f"  client CPU {result['cpu_us_per_record']:.1f} us/record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
