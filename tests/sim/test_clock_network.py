"""Virtual clocks and the simulated network, on their own."""

from __future__ import annotations

import random

from marmotdb.sim.clock import VirtualClock
from marmotdb.sim.network import LinkFault, NetworkProfile, SimNetwork


def test_drift_and_jumps() -> None:
    clock = VirtualClock(drift_ppm=10_000)  # 1% fast
    assert clock.local_us(1_000_000) == 1_010_000
    clock.jump(1_000_000, -500_000)
    assert clock.local_us(1_000_000) == 510_000
    assert clock.local_us(2_000_000) == 1_520_000
    clock.set_drift(2_000_000, -10_000)
    assert clock.local_us(3_000_000) == 2_510_000


def test_inverse_gives_the_earliest_global_time() -> None:
    rng = random.Random(5)
    for _ in range(500):
        clock = VirtualClock(drift_ppm=rng.randint(-90_000, 90_000),
                             offset_us=rng.randint(-10**7, 10**7))
        now = rng.randint(0, 10**8)
        target_ms = clock.local_ms(now) + rng.randint(-50, 50_000)
        at = clock.global_us_when(target_ms, now)
        assert at >= now and clock.local_ms(at) >= target_ms
        assert at == now or clock.local_ms(at - 1) < target_ms


def test_cut_links_deliver_nothing_one_way_only() -> None:
    network = SimNetwork(random.Random(1))
    network.set_fault(1, 2, LinkFault(cut=True))
    assert network.route(1, 2, False, 0) == [] and network.route(1, 2, True, 0) == []
    assert len(network.route(2, 1, False, 0)) >= 1


def test_loss_drops_datagrams_and_delays_reliable_frames_in_order() -> None:
    network = SimNetwork(random.Random(2), NetworkProfile(duplicate_rate=0.0))
    network.set_fault(1, 2, LinkFault(drop_rate=0.3))
    delivered = sum(len(network.route(1, 2, False, 0)) for _ in range(10_000))
    assert 6500 < delivered < 7500
    times = [network.route(1, 2, True, t)[0] for t in range(0, 100_000, 100)]
    assert times == sorted(times) and len(times) == 1000


def test_duplicates_and_reordering_happen() -> None:
    network = SimNetwork(random.Random(3), NetworkProfile(duplicate_rate=0.05,
                                                          reorder_rate=0.05))
    routes = [network.route(1, 2, False, t * 10) for t in range(5000)]
    assert any(len(r) == 2 for r in routes)
    arrivals = [r[0] for r in routes]
    assert arrivals != sorted(arrivals)
