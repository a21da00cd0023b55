"""Cluster nemesis: the seeded fault schedule of a distributed-commit run, one per scenario.

A scenario fills the fault window ``[start_us, heal_us)`` with back-to-back *episodes*, each
drawn from the scenario's menu, and leaves everything healed at ``heal_us`` (links healthy,
every crashed node restarted, no crash armed). Every choice comes from the run's plan stream,
so the seed alone replays the schedule.

    loss        some links (or all) drop 5-40% of frames and add up to 50 ms: the txn
                messages ride TCP, so a loss is a retransmission 200 ms later, never a gap
    halves      the members split in two sides that cannot talk (both directions)
    isolate     one member cut off from all others
    bridge      two sides that cannot talk, and one member that talks to both
    one-way     one member can send but not receive, or receive but not send
    duplicate   the txn frames travel as datagrams from here to the heal (a fault TCP never
                makes): some links duplicate 10-40% of them and delay them by up to 20 ms,
                so they overtake each other; none is lost
    clock       a member's clock jumps by ±50 ms..5 s, or its drift changes to up to ±5%
    crash       a member is killed (kill -9) at a random instant, at a pipeline fault point,
                right after sending its n-th Prepare/Votes/Accept/Accepted/Learn frame, or at
                its disk's n-th write/sync; restarted from its files at the episode's end

Scenarios (``SCENARIOS``): ``cluster-calm`` (no fault: background jitter, reordering across
links and clock drift only), ``cluster-lossy`` (loss), ``cluster-duplicate`` (duplicate),
``cluster-partition`` (halves, isolate, bridge, one-way), ``cluster-clock``,
``cluster-crash``, ``cluster-chaos`` (all but duplicate: the txn frames ride TCP) and
``cluster-ddl`` (crashes, isolation and loss while one client runs DDL under the workload).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from marmotdb.sim.cluster_world import CrashTrigger
from marmotdb.sim.network import HEALTHY, LinkFault
from marmotdb.txn.messages import MESSAGE_TYPES
from marmotdb.txn.pipeline import FAULT_POINTS

if TYPE_CHECKING:
    from marmotdb.sim.cluster_runner import ClusterRun

EPISODE_US = (300_000, 2_500_000)
CUT = LinkFault(cut=True)
TXN_TAGS = sorted(MESSAGE_TYPES)
Links = list[tuple[int, int]]


def _both_ways(side_a: list[int], side_b: list[int]) -> Links:
    return [(a, b) for a in side_a for b in side_b] + [(b, a) for a in side_a for b in side_b]


def _cut_links(run: ClusterRun, links: Links, fault: LinkFault, start_us: int,
               end_us: int) -> None:
    for source, target in links:
        run.world.at(start_us, run.world.set_link, source, target, fault)
        run.world.at(end_us, run.world.set_link, source, target, HEALTHY)


def loss(run: ClusterRun, start_us: int, end_us: int) -> None:
    ids = run.ids
    links = [(a, b) for a in ids for b in ids if a != b]
    if run.rng.random() < 0.5:
        links = run.rng.sample(links, run.rng.randint(1, len(links)))
    fault = LinkFault(drop_rate=run.rng.choice([0.05, 0.2, 0.4]),
                      extra_delay_us_max=run.rng.choice([0, 5_000, 50_000]))
    _cut_links(run, links, fault, start_us, end_us)


def duplicate(run: ClusterRun, start_us: int, end_us: int) -> None:
    ids = run.ids
    links = [(a, b) for a in ids for b in ids if a != b]
    links = run.rng.sample(links, run.rng.randint(1, len(links)))
    fault = LinkFault(duplicate_rate=run.rng.choice([0.1, 0.2, 0.4]),
                      extra_delay_us_max=run.rng.choice([1_000, 20_000]))
    run.world.at(start_us, setattr, run.world, "datagrams", True)
    _cut_links(run, links, fault, start_us, end_us)


def halves(run: ClusterRun, start_us: int, end_us: int) -> None:
    ids = run.rng.sample(run.ids, len(run.ids))
    cut = run.rng.randint(1, len(ids) - 1)
    _cut_links(run, _both_ways(ids[:cut], ids[cut:]), CUT, start_us, end_us)


def isolate(run: ClusterRun, start_us: int, end_us: int) -> None:
    victim = run.rng.choice(run.ids)
    others = [n for n in run.ids if n != victim]
    _cut_links(run, _both_ways([victim], others), CUT, start_us, end_us)


def bridge(run: ClusterRun, start_us: int, end_us: int) -> None:
    rest = run.rng.sample(run.ids, len(run.ids))[1:]  # the first talks to both sides
    cut = run.rng.randint(1, len(rest) - 1)
    _cut_links(run, _both_ways(rest[:cut], rest[cut:]), CUT, start_us, end_us)


def one_way(run: ClusterRun, start_us: int, end_us: int) -> None:
    victim = run.rng.choice(run.ids)
    others = [n for n in run.ids if n != victim]
    links = [(victim, o) for o in others] if run.rng.random() < 0.5 \
        else [(o, victim) for o in others]
    _cut_links(run, links, CUT, start_us, end_us)


def clock(run: ClusterRun, start_us: int, end_us: int) -> None:
    for _ in range(run.rng.randint(1, 3)):
        at_us = run.rng.randint(start_us, end_us)
        victim = run.rng.choice(run.ids)
        if run.rng.random() < 0.7:
            delta_us = run.rng.choice((-1, 1)) * run.rng.randint(50_000, 5_000_000)
            run.world.at(at_us, run.world.jump_clock, victim, delta_us)
        else:
            drift_ppm = run.rng.randint(-50_000, 50_000)
            run.world.at(at_us, _set_drift, run, victim, drift_ppm)


def _set_drift(run: ClusterRun, node_id: int, drift_ppm: int) -> None:
    run.world.machines[node_id].clock.set_drift(run.world.now_us, drift_ppm)


def crash(run: ClusterRun, start_us: int, end_us: int) -> None:
    victim = run.rng.choice(run.ids)
    how = run.rng.choice(["time", "point", "send", "io"])
    if how == "time":
        run.world.at(run.rng.randint(start_us, end_us), run.world.crash, victim)
    else:
        run.world.at(start_us, run.world.crash_on, victim, _trigger(run, how))
    run.world.at(end_us, _restart, run, victim)


def _trigger(run: ClusterRun, how: str) -> CrashTrigger:
    if how == "point":
        return CrashTrigger("point", run.rng.choice(FAULT_POINTS), run.rng.randint(1, 6))
    if how == "send":
        return CrashTrigger("send", run.rng.choice(TXN_TAGS), run.rng.randint(1, 12))
    return CrashTrigger("io", "disk", run.rng.randint(1, 200))


def _restart(run: ClusterRun, node_id: int) -> None:
    """The episode ends: a crash armed but not reached is disarmed by a kill -9 now."""
    machine = run.world.machines[node_id]
    if machine.trigger is not None or machine.disk.crash_at_io is not None:
        run.world.crash(node_id, "episode end")
    run.world.restart(node_id)


Episode = Callable[["ClusterRun", int, int], None]
EPISODES: dict[str, Episode] = {
    "loss": loss, "duplicate": duplicate, "halves": halves, "isolate": isolate,
    "bridge": bridge, "one-way": one_way, "clock": clock, "crash": crash,
}
SCENARIOS: dict[str, tuple[str, ...]] = {
    "cluster-calm": (),
    "cluster-lossy": ("loss",),
    "cluster-duplicate": ("duplicate",),
    "cluster-partition": ("halves", "isolate", "bridge", "one-way"),
    "cluster-clock": ("clock",),
    "cluster-crash": ("crash",),
    "cluster-chaos": tuple(e for e in EPISODES if e != "duplicate"),
    # DDL under the bank workload (cluster_workloads.DDL_CYCLE), nodes crashing and cut off
    "cluster-ddl": ("crash", "isolate", "loss"),
}


def schedule(run: ClusterRun, scenario: str, start_us: int, heal_us: int) -> list[str]:
    """Fill ``[start_us, heal_us)`` with the scenario's episodes; heal everything at
    ``heal_us``. Returns the episodes' names, in order (for the run's description)."""
    menu = SCENARIOS[scenario]
    names: list[str] = []
    at_us = start_us
    while menu and at_us < heal_us:
        end_us = min(heal_us, at_us + run.rng.randint(*EPISODE_US))
        name = run.rng.choice(menu)
        EPISODES[name](run, at_us, end_us)
        names.append(name)
        at_us = end_us + run.rng.randint(0, 500_000)
    run.world.at(heal_us, heal, run)
    return names


def heal(run: ClusterRun) -> None:
    run.world.heal_links()
    run.world.datagrams = False
    for node_id in run.ids:
        machine = run.world.machines[node_id]
        machine.trigger, machine.disk.crash_at_io = None, None
        run.world.restart(node_id)
