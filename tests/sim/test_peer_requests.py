"""Request/response through the simulated network: drops, delays, duplicates and a crash,
deterministic per seed. The machines run SWIM at the same time, on the same endpoints."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from marmotdb.cluster.config import SwimConfig
from marmotdb.peer import Completion, IncomingRequest, Outcome
from marmotdb.sim.network import LinkFault, NetworkProfile
from marmotdb.sim.world import Machine, World
from tests.peer.example import REGISTRY, Echo, EchoReply

MS_US = 1000
NODES = (1, 2, 3)
DEADLINE_MS = 25
RUN_US = 3_000_000


@dataclasses.dataclass(frozen=True)
class Record:
    node_id: int
    n: int
    outcome: Outcome
    reply: object
    sent_ms: int
    done_ms: int
    deadline_ms: int


def serve_echo(machine: Machine) -> None:
    endpoint = machine.endpoint
    assert endpoint is not None

    def echo(request: IncomingRequest, now_ms: int) -> None:
        assert isinstance(request.message, Echo)
        endpoint.reply(request, EchoReply(request.message.n))

    endpoint.on_request([Echo], echo)


def run(seed: int) -> tuple[list[Record], World, int]:
    profile = NetworkProfile(duplicate_rate=0.2)
    world = World(seed, SwimConfig.lan(), profile, registry=REGISTRY)
    world.endpoint_hooks.append(serve_echo)
    for node_id in NODES:
        world.add_machine(node_id)
        world.at(0, world.start, node_id, [n for n in NODES if n < node_id][:1])
    # Slow, lossy links from 1 to 2 (both ways); 3 crashes half-way and comes back.
    for a, b in ((1, 2), (2, 1)):
        world.at(0, world.set_link, a, b, LinkFault(drop_rate=0.3, extra_delay_us_max=40_000))
    world.at(RUN_US // 2, world.crash, 3)
    world.at(RUN_US // 2 + 500_000, world.restart, 3, [1])
    records: list[Record] = []
    plan = random.Random(f"{seed}:plan")
    issued = 0
    for step in range(RUN_US // (10 * MS_US)):
        for node_id in NODES:
            target = plan.choice([n for n in NODES if n != node_id])
            issued += 1
            world.at(step * 10 * MS_US, world.call, node_id,
                     _asker(world, target, issued, plan.random() < 0.5, records))
    world.run_until(RUN_US + 100 * MS_US)
    return records, world, issued


def _asker(world: World, target: int, n: int, reliable: bool,
           records: list[Record]) -> Callable[[Machine, int], None]:
    def ask(machine: Machine, now_ms: int) -> None:
        assert machine.endpoint is not None
        deadline_ms = now_ms + DEADLINE_MS

        def done(completion: Completion) -> None:
            records.append(Record(machine.node_id, n, completion.outcome, completion.reply,
                                  completion.sent_ms, completion.done_ms, deadline_ms))

        machine.endpoint.request(world.machines[target].addr, Echo(n), deadline_ms, now_ms,
                                 done, reliable=reliable)

    return ask


def test_requests_end_exactly_once_by_their_deadline_with_their_own_reply() -> None:
    records, world, issued = run(seed=5)
    outcomes = {r.outcome for r in records}
    assert outcomes == {Outcome.REPLIED, Outcome.TIMED_OUT}
    assert len({r.n for r in records}) == len(records)  # each request ended once
    # Every request ended, except those of the crashed machine's previous life.
    assert issued - len(records) < 100
    for record in records:
        assert record.done_ms <= record.deadline_ms
        if record.outcome is Outcome.REPLIED:
            assert record.reply == EchoReply(record.n)  # matched to its own request
    stats = [m.endpoint.stats for m in world.machines.values() if m.endpoint is not None]
    assert sum(s.late_replies for s in stats) > 0  # delayed past 25 ms on the slow link
    assert sum(s.duplicate_replies for s in stats) > 0  # duplicated datagrams
    # Membership ran on the same endpoints the whole time and agrees after the restart.
    for machine in world.machines.values():
        assert machine.swim is not None
        assert {m.node_id for m in machine.swim.live_members()} == set(NODES)


def test_the_same_seed_replays_the_same_outcomes_and_trace() -> None:
    first, first_world, _ = run(seed=9)
    second, second_world, _ = run(seed=9)
    assert first == second and first_world.trace_hash() == second_world.trace_hash()
    other, other_world, _ = run(seed=10)
    assert other != first and other_world.trace_hash() != first_world.trace_hash()
