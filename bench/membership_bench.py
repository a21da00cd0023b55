"""Membership benchmark in the deterministic simulator: detection, convergence, gossip bytes.

For each cluster size (3, 5, 9, 17 by default) and several seeds, on a healthy simulated LAN
(0.1-1.5 ms one-way delay, jitter, 0.5% duplication, 1% strong reordering, ±500 ppm drift) with
the default (LAN) ``SwimConfig``:

- formation: all nodes start within 2 s through seed nodes; time from the last start until all
  agree on the member list;
- detection: one random node crashes after 40 s; time until the first survivor suspects it,
  the first declares it DEAD, and every survivor sees it as not live;
- join: a new node joins the stable cluster; time until every member sees it ALIVE;
- partition heal: the cluster splits in halves for 40 s; time from the heal until all agree;
- gossip bytes: every byte of every frame sent (framing and HMAC included), per node per
  second, measured over 60 s of steady state (no changes: probes only) and over the whole run.

Times are simulated time, so they measure the protocol, not this machine. Invariant violations
(a false death, for example) abort the run with the seed.

    python bench/membership_bench.py                    # sizes 3,5,9,17; 10 seeds each
    python bench/membership_bench.py --sizes 3,5 --seeds 20
"""

from __future__ import annotations

import argparse
import statistics
import time

from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.membership import MemberEvent
from marmotdb.cluster.messages import MemberState
from marmotdb.sim.invariants import MembershipInvariants
from marmotdb.sim.network import HEALTHY, LinkFault
from marmotdb.sim.world import World

SECOND_US = 1_000_000
SAMPLE_US = 50_000
DRIFT_PPM = 500


class Bench:
    def __init__(self, seed: int, size: int, config: SwimConfig):
        self.world = World(seed, config)
        self.rng = self.world.rng_for("bench")
        self.config = config
        excuse_us = (config.suspicion_max_ms(size + 1) + 2 * config.probe_interval_ms) * 1000
        self.checker = MembershipInvariants(self.world, excuse_us, sample_interval_us=10**12)
        self.ids = list(range(1, size + 1))
        self.joiner_id = size + 1
        for node_id in [*self.ids, self.joiner_id]:
            self.world.add_machine(node_id, self.rng.randint(-DRIFT_PPM, DRIFT_PPM))
        self.first: dict[tuple[int, MemberState], int] = {}
        self.world.member_listeners.append(self._on_event)

    def _on_event(self, observer: int, event: MemberEvent, now_us: int) -> None:
        if event.current is not None:
            self.first.setdefault((event.node_id, event.current), now_us)

    def wait_until(self, condition, limit_us: int) -> int:  # type: ignore[no-untyped-def]
        """Advance in small steps until ``condition()``; return the time it became true."""
        deadline = self.world.now_us + limit_us
        while self.world.now_us < deadline:
            if condition():
                return self.world.now_us
            self.world.run_until(self.world.now_us + SAMPLE_US)
        raise RuntimeError(f"seed {self.world.seed}: condition not met in {limit_us / 1e6}s")

    def form(self) -> float:
        last_start = 0
        for index, node_id in enumerate(self.ids):
            earlier = self.ids[:index]
            seeds = self.rng.sample(earlier, min(len(earlier), 2))
            start_us = 0 if index == 0 else self.rng.randint(1, 2 * SECOND_US)
            last_start = max(last_start, start_us)
            self.world.at(start_us, self.world.start, node_id, seeds)
        self.world.run_until(last_start)
        return (self.wait_until(self.checker.agreed, 60 * SECOND_US) - last_start) / 1e6

    def steady_bytes_per_node_s(self, duration_us: int) -> float:
        before = sum(m.bytes_sent for m in self.world.machines.values())
        self.world.run_until(self.world.now_us + duration_us)
        after = sum(m.bytes_sent for m in self.world.machines.values())
        return (after - before) / len(self.ids) / (duration_us / 1e6)

    def crash_one(self) -> tuple[float, float, float]:
        victim = self.rng.choice(self.ids)
        crashed_us = self.world.now_us
        self.world.crash(victim)

        def nobody_sees_it() -> bool:
            return all((r := m.swim.members.get(victim)) is None or not r.is_live
                       for m in self.world.machines.values() if m.swim is not None)

        all_us = self.wait_until(nobody_sees_it, 120 * SECOND_US)
        suspect_us = self.first[(victim, MemberState.SUSPECT)]
        dead_us = self.first[(victim, MemberState.DEAD)]
        self.ids.remove(victim)
        return ((suspect_us - crashed_us) / 1e6, (dead_us - crashed_us) / 1e6,
                (all_us - crashed_us) / 1e6)

    def join(self) -> float:
        started_us = self.world.now_us
        self.world.start(self.joiner_id, [self.rng.choice(self.ids)])
        self.ids.append(self.joiner_id)
        return (self.wait_until(self.checker.agreed, 60 * SECOND_US) - started_us) / 1e6

    def partition_and_heal(self, duration_us: int) -> float:
        order = sorted(self.ids)
        self.rng.shuffle(order)
        left, right = order[: len(order) // 2], order[len(order) // 2:]
        pairs = [(a, b) for a in left for b in right] + [(b, a) for a in left for b in right]
        record = self.world.open_fault("partition", frozenset(order))
        for source, target in pairs:
            self.world.set_link(source, target, LinkFault(cut=True))
        self.world.run_until(self.world.now_us + duration_us)
        for source, target in pairs:
            self.world.set_link(source, target, HEALTHY)
        self.world.close_fault(record)
        healed_us = self.world.now_us
        return (self.wait_until(self.checker.agreed, 120 * SECOND_US) - healed_us) / 1e6


def run_seed(seed: int, size: int, config: SwimConfig) -> dict[str, float]:
    bench = Bench(seed, size, config)
    result = {"formation_s": bench.form()}
    bench.world.run_until(20 * SECOND_US)
    result["steady_bytes_node_s"] = bench.steady_bytes_per_node_s(60 * SECOND_US)
    suspect_s, first_dead_s, all_dead_s = bench.crash_one()
    result.update(suspect_s=suspect_s, first_dead_s=first_dead_s, all_dead_s=all_dead_s)
    bench.world.run_until(bench.world.now_us + 10 * SECOND_US)
    result["join_s"] = bench.join()
    bench.world.run_until(bench.world.now_us + 10 * SECOND_US)
    result["heal_s"] = bench.partition_and_heal(40 * SECOND_US)
    total_bytes = sum(m.bytes_sent for m in bench.world.machines.values())
    result["avg_bytes_node_s"] = total_bytes / (size + 1) / (bench.world.now_us / 1e6)
    return result


COLUMNS = [
    ("formation_s", "formation s"), ("suspect_s", "1st suspect s"),
    ("first_dead_s", "1st DEAD s"), ("all_dead_s", "DEAD everywhere s"),
    ("join_s", "join agreed s"), ("heal_s", "heal agreed s"),
    ("steady_bytes_node_s", "steady B/node/s"), ("avg_bytes_node_s", "run avg B/node/s"),
]


def describe(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):.1f} / {p95:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="3,5,9,17")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    config = SwimConfig.lan()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"SwimConfig.lan(); {args.seeds} seeds per size; cells are median / p95")
    print("detection bound (config): " + ", ".join(
        f"n={n}: {config.detection_bound_ms(n) / 1000:.0f}s" for n in sizes))
    print("| nodes | " + " | ".join(title for _, title in COLUMNS) + " | wall s |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for size in sizes:
        started = time.perf_counter()
        runs = [run_seed(seed, size, config) for seed in range(1, args.seeds + 1)]
        cells = [describe([r[key] for r in runs]) for key, _ in COLUMNS]
        wall = time.perf_counter() - started
        print(f"| {size} | " + " | ".join(cells) + f" | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
