"""Membership invariants, checked from outside the nodes while a simulation runs.

Three properties (issue 5), each checked continuously:

1. No false death. Whenever any node declares a member DEAD while that member's machine is up,
   some fault must excuse it: a link or clock fault overlapping the last ``excuse_window_us``
   (suspicion can legitimately run that long after the fault), or a crash/restart of that very
   member. Drift, jitter, duplication, reordering and short pauses excuse nothing: a healthy
   network must never kill a healthy member, and a node stalled under load must not be killed
   for stalls shorter than the suspicion timeout, nor kill others when it wakes up.
2. Agreement (liveness). After formation, after a heal, after a restart, all up members must
   agree on the member list by a deadline: every up machine is ALIVE itself and sees exactly
   the up machines as ALIVE (no SUSPECT), and every down machine as not live. From the
   deadline on, the agreement must hold until the next fault ("no flapping"); before the
   deadline, transient disagreement (a late suspicion being refuted) is allowed.
3. Detection. A crashed member is seen as not live by every up member within
   ``SwimConfig.detection_bound_ms(n)`` of the crash.

The first violation stops the run with a typed reason; the runner prints the seed and the
replay command.
"""

from __future__ import annotations

import dataclasses

from marmotdb.cluster.membership import LIVE_STATES, MemberEvent
from marmotdb.cluster.messages import MemberState
from marmotdb.sim.world import World


@dataclasses.dataclass(frozen=True)
class Violation:
    kind: str  # "false-death", "no-agreement", "flapping", "slow-detection"
    message: str
    at_us: int

    def __str__(self) -> str:
        return f"[{self.kind}] at {self.at_us / 1e6:.3f}s: {self.message}"


class InvariantViolation(Exception):
    def __init__(self, violation: Violation):
        super().__init__(str(violation))
        self.violation = violation


@dataclasses.dataclass
class _Agreement:
    reason: str
    from_us: int
    by_us: int
    hold_until_us: int
    reached_us: int | None = None


class MembershipInvariants:
    def __init__(self, world: World, excuse_window_us: int, sample_interval_us: int = 250_000):
        self.world = world
        self.excuse_window_us = excuse_window_us
        self.sample_interval_us = sample_interval_us
        self._agreements: list[_Agreement] = []
        self._detections: dict[int, int] = {}  # crashed node -> deadline
        self.first_agreement_us: dict[str, int] = {}  # reason -> when it was reached
        self.detected_us: dict[int, int] = {}  # crashed node -> when all saw it not live
        world.member_listeners.append(self._on_member_event)
        world.at(0, self._sample)

    def expect_agreement(self, reason: str, from_us: int, by_us: int, hold_until_us: int) -> None:
        """From ``from_us``, all up members must agree by ``by_us``, then until ``hold_until_us``."""
        self._agreements.append(_Agreement(reason, from_us, by_us, hold_until_us))

    def expect_detection(self, node_id: int, by_us: int) -> None:
        self._detections[node_id] = by_us

    def agreed(self) -> bool:
        return self.disagreement() is None

    def disagreement(self) -> str | None:
        """None when all up members agree, else the first difference found (for messages)."""
        up = {m.node_id for m in self.world.machines.values() if m.is_up}
        for machine in self.world.machines.values():
            if machine.swim is None:
                continue
            if machine.swim.state is not MemberState.ALIVE:
                return f"{machine.node_id} is itself {machine.swim.state.name}"
            view = {m.node_id: m.state for m in machine.swim.members if m.state in LIVE_STATES}
            if set(view) != up:
                return f"{machine.node_id} sees live {sorted(view)}, up are {sorted(up)}"
            suspects = sorted(n for n, s in view.items() if s is not MemberState.ALIVE)
            if suspects:
                return f"{machine.node_id} still holds {suspects} as not ALIVE"
        return None

    def _on_member_event(self, observer_id: int, event: MemberEvent, now_us: int) -> None:
        if event.current is not MemberState.DEAD:
            return
        subject = self.world.machines.get(event.node_id)
        if subject is None or not subject.is_up:
            return
        if self.world.excused(event.node_id, now_us - self.excuse_window_us, now_us):
            return
        self._fail("false-death", f"{observer_id} declared {event.node_id} DEAD while it was up "
                                  "and no fault excuses it", now_us)

    def _sample(self) -> None:
        now_us = self.world.now_us
        self._check_detections(now_us)  # first: the more specific message
        self._check_agreements(now_us)
        self.world.at(now_us + self.sample_interval_us, self._sample)

    def _check_agreements(self, now_us: int) -> None:
        active = [a for a in self._agreements if a.from_us <= now_us <= a.hold_until_us]
        if not active:
            return
        problem = self.disagreement()
        for agreement in active:
            if problem is None:
                if agreement.reached_us is None:
                    agreement.reached_us = now_us  # start of the current agreed stretch
                    if now_us <= agreement.by_us:
                        self.first_agreement_us[agreement.reason] = now_us
                continue
            if now_us <= agreement.by_us:
                agreement.reached_us = None  # transient disagreement before the deadline is fine
            elif agreement.reached_us is None:
                self._fail("no-agreement", f"no agreement after {agreement.reason} by "
                                           f"{agreement.by_us / 1e6:.1f}s: {problem}", now_us)
            else:
                self._fail("flapping", f"agreement after {agreement.reason} broke: {problem}",
                           now_us)

    def _check_detections(self, now_us: int) -> None:
        for node_id, by_us in list(self._detections.items()):
            machine = self.world.machines[node_id]
            if machine.is_up:
                del self._detections[node_id]  # restarted before anyone had to notice
                continue
            observers = [m.swim for m in self.world.machines.values()
                         if m.swim is not None and m.swim.state is MemberState.ALIVE]
            seen_live = [s.node_id for s in observers
                         if (r := s.members.get(node_id)) is not None and r.is_live]
            if not seen_live:
                self.detected_us[node_id] = now_us
                del self._detections[node_id]
            elif now_us > by_us:
                self._fail("slow-detection", f"crashed {node_id} still live at {seen_live}",
                           now_us)

    def _fail(self, kind: str, message: str, now_us: int) -> None:
        raise InvariantViolation(Violation(kind, message, now_us))
