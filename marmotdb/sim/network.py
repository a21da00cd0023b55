"""SimNetwork: a packet network that delays, drops, duplicates, reorders and partitions.

Every frame a node sends is routed here and turned into zero, one or two delivery times:

- Delay: every link has a base one-way delay drawn uniformly from the profile (a LAN by
  default), plus the extra delay of any fault on that link. Independent draws per packet
  reorder packets naturally; ``reorder_rate`` additionally holds a packet back by up to
  ``reorder_delay_us_max`` so reordering is frequent, not just possible.
- Best-effort frames (UDP) may be dropped (``drop_rate``) or duplicated (``duplicate_rate``).
- Reliable frames (TCP) are never duplicated; a "lost" reliable frame is retransmitted, i.e.
  delivered late by ``tcp_retransmit_delay_us`` per loss, and frames on one directed link are
  delivered in order (TCP's in-order stream).
- A cut link delivers nothing in that direction (a partition; asymmetric when only one
  direction is cut). Reliable frames on a cut link are lost (the connection fails).

Faults are per directed link ``(source_id, target_id)`` and can change at any time; the
scenario code sets and clears them. Randomness is the network's own seeded stream.
"""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True)
class NetworkProfile:
    delay_us_min: int = 100
    delay_us_max: int = 1_500
    duplicate_rate: float = 0.005
    reorder_rate: float = 0.01
    reorder_delay_us_max: int = 20_000
    tcp_retransmit_delay_us: int = 200_000
    tcp_losses_max: int = 5  # a reliable frame lost this many times in a row is given up


@dataclasses.dataclass(frozen=True)
class LinkFault:
    cut: bool = False
    drop_rate: float = 0.0
    extra_delay_us_max: int = 0
    duplicate_rate: float = 0.0


HEALTHY = LinkFault()


class SimNetwork:
    def __init__(self, rng: random.Random, profile: NetworkProfile | None = None):
        self.rng = rng
        self.profile = profile or NetworkProfile()
        self._faults: dict[tuple[int, int], LinkFault] = {}
        self._last_reliable_us: dict[tuple[int, int], int] = {}
        self.frames_dropped = 0
        self.frames_duplicated = 0

    def set_fault(self, source_id: int, target_id: int, fault: LinkFault) -> None:
        if fault == HEALTHY:
            self._faults.pop((source_id, target_id), None)
        else:
            self._faults[(source_id, target_id)] = fault

    def fault(self, source_id: int, target_id: int) -> LinkFault:
        return self._faults.get((source_id, target_id), HEALTHY)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def has_faults(self) -> bool:
        return bool(self._faults)

    def route(self, source_id: int, target_id: int, reliable: bool, now_us: int) -> list[int]:
        """Delivery times for one frame (empty when it is lost)."""
        fault = self.fault(source_id, target_id)
        if fault.cut:
            self.frames_dropped += 1
            return []
        if reliable:
            return [self._route_reliable(source_id, target_id, fault, now_us)]
        if self.rng.random() < fault.drop_rate:
            self.frames_dropped += 1
            return []
        times = [now_us + self._delay_us(fault)]
        if self.rng.random() < max(self.profile.duplicate_rate, fault.duplicate_rate):
            self.frames_duplicated += 1
            times.append(now_us + self._delay_us(fault))
        return times

    def _route_reliable(self, source_id: int, target_id: int, fault: LinkFault,
                        now_us: int) -> int:
        arrive_us = now_us + self._delay_us(fault)
        for _ in range(self.profile.tcp_losses_max):
            if self.rng.random() >= fault.drop_rate:
                break
            arrive_us += self.profile.tcp_retransmit_delay_us
        link = (source_id, target_id)
        arrive_us = max(arrive_us, self._last_reliable_us.get(link, 0))  # in-order stream
        self._last_reliable_us[link] = arrive_us
        return arrive_us

    def _delay_us(self, fault: LinkFault) -> int:
        delay = self.rng.randint(self.profile.delay_us_min, self.profile.delay_us_max)
        if fault.extra_delay_us_max:
            delay += self.rng.randint(0, fault.extra_delay_us_max)
        if self.rng.random() < self.profile.reorder_rate:
            delay += self.rng.randint(0, self.profile.reorder_delay_us_max)
        return delay
