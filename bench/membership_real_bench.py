"""Membership with real processes: convergence, failure detection and gossip traffic.

Theory of operation: for each SWIM profile and cluster size the harness starts N real
``marmotdb serve`` processes on loopback (the code behind ``marmotdb cluster up``, free ports,
nodes tied to this process) and measures

1. convergence: from launching the processes, and from the moment every admin API answered,
   until every node sees every node ALIVE (polled every 50 ms through the admin API);
2. gossip traffic in a quiet converged window of ``--quiet-s`` seconds: bytes and frames each
   node sent (UDP + TCP, from ``/metrics``), per node per second;
3. failure detection, ``--kills`` times: SIGKILL a random node other than node 1, then read
   from every survivor the wall-clock time at which it recorded the victim SUSPECT (first) and
   DEAD (``/cluster/events`` and ``state_since_ms``), so polling adds no error; then restart the
   victim and time until every node sees every node ALIVE again (rejoin).

All times in ms. Results are printed as a table and written to
``bench/results/membership_real_<timestamp>.json``. The simulator covers 9 and 17 nodes;
real processes stop at what 2 cores can host without starving the timers.

    python bench/membership_real_bench.py [--sizes 3,5] [--profiles local,lan] [--kills 3]
                                          [--quiet-s 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from marmotdb.runtime import cluster_cli
from marmotdb.torture.cluster import LocalCluster

RESULTS = REPO / "bench" / "results"
TRAFFIC_METRICS = ("marmotdb_peer_udp_bytes_sent_total", "marmotdb_peer_tcp_bytes_sent_total")
FRAME_METRICS = ("marmotdb_peer_udp_frames_sent_total", "marmotdb_peer_tcp_frames_sent_total")


def converge(cluster: LocalCluster) -> dict[str, float]:
    launched = time.monotonic()
    for record in cluster.state.nodes:
        cluster.processes[record.node_id] = cluster_cli.start_node(cluster.state, record, True)
    cluster.state.save(cluster.root)
    cluster_cli.wait_ready(cluster.state, cluster.processes)
    ready = time.monotonic()
    cluster.until(cluster.converged, 60, "formation")
    done = time.monotonic()
    return {"from_launch_ms": (done - launched) * 1000, "from_ready_ms": (done - ready) * 1000}


def traffic(cluster: LocalCluster, quiet_s: float) -> dict[str, float]:
    def totals(names: tuple[str, ...]) -> dict[int, float]:
        return {i: sum(cluster.metrics(i)[n] for n in names) for i in cluster.ids()}

    bytes_before, frames_before = totals(TRAFFIC_METRICS), totals(FRAME_METRICS)
    time.sleep(quiet_s)
    bytes_after, frames_after = totals(TRAFFIC_METRICS), totals(FRAME_METRICS)
    per_node = [(bytes_after[i] - bytes_before[i]) / quiet_s for i in cluster.ids()]
    frames = [(frames_after[i] - frames_before[i]) / quiet_s for i in cluster.ids()]
    return {"bytes_per_node_s_mean": statistics.mean(per_node),
            "bytes_per_node_s_max": max(per_node), "frames_per_node_s_mean": statistics.mean(frames)}


def detect(cluster: LocalCluster, victim: int) -> dict[str, float]:
    survivors = [i for i in cluster.ids() if i != victim]
    killed_at_ms = int(cluster.kill9(victim) * 1000)
    bound_s = cluster.swim.detection_bound_ms(len(cluster.ids())) / 1000
    cluster.until(lambda: cluster.all_see(victim, "DEAD", survivors), bound_s * 1.5,
                  f"node {victim} DEAD at every survivor")
    dead_ms = [cluster.members(o)[str(victim)]["state_since_ms"] - killed_at_ms
               for o in survivors]
    suspect_ms = [e["at_ms"] - killed_at_ms for o in survivors
                  for e in cluster.admin(o, "GET", "/cluster/events")
                  if e["node_id"] == victim and e["current"] == "SUSPECT"
                  and e["at_ms"] >= killed_at_ms]
    restarted = time.monotonic()  # rejoin includes the new process's start-up
    cluster.restart(victim)
    cluster.until(cluster.converged, 60, f"node {victim} rejoined")
    rejoin_s = time.monotonic() - restarted
    return {"first_suspect_ms": min(suspect_ms, default=float("nan")),
            "dead_first_ms": min(dead_ms), "dead_everywhere_ms": max(dead_ms),
            "rejoin_ms": rejoin_s * 1000, "bound_ms": bound_s * 1000}


def run_one(profile: str, size: int, kills: int, quiet_s: float, rng: random.Random
            ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="marmot-membench-") as tmp:
        cluster = LocalCluster(Path(tmp), size, timings={}, profile=profile)
        try:
            result: dict[str, Any] = {"profile": profile, "nodes": size,
                                      "convergence": converge(cluster)}
            result["traffic"] = traffic(cluster, quiet_s)
            result["detections"] = [detect(cluster, rng.randint(2, size)) for _ in range(kills)]
        finally:
            cluster.stop()
    return result


def summarize(result: dict[str, Any]) -> str:
    detections = result["detections"]

    def med(key: str) -> str:
        values = [d[key] for d in detections]
        return f"{statistics.median(values):>7.0f} ({min(values):.0f}-{max(values):.0f})"

    conv, tr = result["convergence"], result["traffic"]
    return (f"{result['profile']:<6} {result['nodes']:>5} {conv['from_launch_ms']:>9.0f} "
            f"{conv['from_ready_ms']:>9.0f} {med('first_suspect_ms'):>20} "
            f"{med('dead_everywhere_ms'):>20} {med('rejoin_ms'):>20} "
            f"{detections[0]['bound_ms']:>8.0f} {tr['bytes_per_node_s_mean']:>9.0f} "
            f"{tr['frames_per_node_s_mean']:>8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="3,5", help="cluster sizes, comma-separated")
    parser.add_argument("--profiles", default="local,lan", help="SWIM profiles to measure")
    parser.add_argument("--kills", type=int, default=3, help="kill -9 rounds per cluster")
    parser.add_argument("--quiet-s", type=float, default=20.0, help="traffic window")
    parser.add_argument("--seed", type=int, default=1, help="victim choice")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = [run_one(profile, int(size), args.kills, args.quiet_s, rng)
               for profile in args.profiles.split(",") for size in args.sizes.split(",")]
    print(f"{'prof':<6} {'nodes':>5} {'conv(ms)':>9} {'ready→c':>9} {'first SUSPECT ms':>20} "
          f"{'DEAD everywhere ms':>20} {'rejoin ms':>20} {'bound':>8} {'B/node/s':>9} "
          f"{'fr/n/s':>8}")
    for result in results:
        print(summarize(result))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"membership_real_{stamp}.json"
    path.write_text(json.dumps({"machine": platform.platform(), "python": sys.version,
                                "args": vars(args), "results": results}, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
