"""The nemesis: a fault schedule run by one thread beside the clients.

Schedule: ``quiet_s`` without a fault, then ``fault_s`` under one, again and again until
the load's last ``quiet_s + fault_s``, which stay fault-free; the faults of the chosen classes take turns
in an order drawn from the run's seed. Every fault writes a ``start`` line once it took effect (its
victims chosen) and a ``stop`` line once it is fully undone (a restarted node answering again), both
``process: "nemesis"``, ``type: "info"``, the value naming the fault and its nodes — the
fault windows the checker and the report shade.

    class       faults (history name)              undo
    partition   partition-halves, isolate, bridge,  heal (routes or fault-layer rules gone)
                flap (halves cut and healed every
                FLAP_S)
    kill        kill (one node; or the busiest     restart the killed nodes
                node: "coordinator": true),
                kill-all (every node at once)
    pause       pause (SIGSTOP one node)            SIGCONT
    clock       clock (restart one node under       restart it on the real clock (a jump back)
                libfaketime, offset +-CLOCK_S)
    disk-full   disk-full (fill the tmpfs data      remove the filler file
                folder of one node)
    loss        loss (every node drops LOSS_DROP    heal
                of datagrams, delays stream frames)

Each fault is an object with ``start``/``stop`` (and ``tick`` for flapping) taking the target,
so the Galera comparison runs the same table where its target has the lever
(``supports`` lists which).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from marmotdb.torture.history import History

FLAP_S = 1.0
CLOCK_S = (-5, -2, 2, 5)
LOSS_DROP, LOSS_DELAY_MS, LOSS_JITTER_MS = 0.3, 10, 40
TICK_S = 0.25


class Fault(Protocol):
    name: str
    lever: str  # the target method it needs (for the Galera table)

    def start(self, target: Any, rng: random.Random) -> dict[str, Any]: ...
    def tick(self, target: Any, rng: random.Random) -> None: ...
    def stop(self, target: Any) -> dict[str, Any]: ...


class _Partition:
    lever = "cut"

    def __init__(self, name: str, split: Callable[[list[str], random.Random],
                                                  tuple[list[str], list[str]]]):
        self.name, self.split = name, split
        self.sides: tuple[list[str], list[str]] = ([], [])

    def start(self, target: Any, rng: random.Random) -> dict[str, Any]:
        self.sides = self.split(target.node_names(), rng)
        target.cut(*self.sides)
        return {"fault": self.name, "sides": [sorted(s) for s in self.sides]}

    def tick(self, target: Any, rng: random.Random) -> None:
        pass

    def stop(self, target: Any) -> dict[str, Any]:
        target.heal()
        return {"fault": self.name}


def halves(nodes: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    shuffled = rng.sample(nodes, len(nodes))
    return shuffled[:len(nodes) // 2], shuffled[len(nodes) // 2:]


def isolated(nodes: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    alone = rng.choice(nodes)
    return [alone], [n for n in nodes if n != alone]


def bridged(nodes: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """Two sides that cannot talk, and one node (left out of both) that talks to each."""
    shuffled = rng.sample(nodes, len(nodes))
    rest = shuffled[1:]  # shuffled[0] is the bridge
    return rest[:len(rest) // 2], rest[len(rest) // 2:]


class _Flap(_Partition):
    def __init__(self) -> None:
        super().__init__("flap", halves)
        self.cut_now, self.next_toggle_s = False, 0.0
        self.clock_s = 0.0

    def start(self, target: Any, rng: random.Random) -> dict[str, Any]:
        self.cut_now, self.clock_s, self.next_toggle_s = True, 0.0, FLAP_S
        return super().start(target, rng) | {"period_s": FLAP_S}

    def tick(self, target: Any, rng: random.Random) -> None:
        self.clock_s += TICK_S
        if self.clock_s < self.next_toggle_s:
            return
        self.next_toggle_s += FLAP_S
        if self.cut_now:
            target.heal()
        else:
            target.cut(*self.sides)
        self.cut_now = not self.cut_now


class _Kill:
    lever = "kill"

    def __init__(self, name: str, how: str, busiest: Callable[[], str | None]):
        self.name, self.how, self.busiest = name, how, busiest
        self.victims: list[str] = []

    def start(self, target: Any, rng: random.Random) -> dict[str, Any]:
        nodes = target.node_names()
        if self.how == "all":
            self.victims = nodes
        elif self.how == "coordinator":
            self.victims = [self.busiest() or rng.choice(nodes)]
        else:
            self.victims = [rng.choice(nodes)]
        for node in self.victims:
            target.kill(node)
        detail = {"fault": self.name, "nodes": self.victims}
        return detail | ({"coordinator": True} if self.how == "coordinator" else {})

    def tick(self, target: Any, rng: random.Random) -> None:
        pass

    def stop(self, target: Any) -> dict[str, Any]:
        target.restart_many(self.victims)
        return {"fault": self.name, "nodes": self.victims}


class _Pause:
    name, lever = "pause", "pause"

    def __init__(self) -> None:
        self.victim = ""

    def start(self, target: Any, rng: random.Random) -> dict[str, Any]:
        self.victim = rng.choice(target.node_names())
        target.pause(self.victim)
        return {"fault": self.name, "nodes": [self.victim]}

    def tick(self, target: Any, rng: random.Random) -> None:
        pass

    def stop(self, target: Any) -> dict[str, Any]:
        target.resume(self.victim)
        return {"fault": self.name, "nodes": [self.victim]}


class _Clock:
    name, lever = "clock", "clock_env"

    def __init__(self) -> None:
        self.victim = ""

    def start(self, target: Any, rng: random.Random) -> dict[str, Any]:
        self.victim, offset_s = rng.choice(target.node_names()), rng.choice(CLOCK_S)
        target.restart(self.victim, env=target.clock_env(offset_s))
        return {"fault": self.name, "nodes": [self.victim], "offset_s": offset_s,
                "how": "restarted under libfaketime"}

    def tick(self, target: Any, rng: random.Random) -> None:
        pass

    def stop(self, target: Any) -> dict[str, Any]:
        target.restart(self.victim)
        return {"fault": self.name, "nodes": [self.victim], "offset_s": 0}


class _DiskFull:
    name, lever = "disk-full", "fill_disk"

    def __init__(self, node: str):
        self.victim = node

    def start(self, target: Any, rng: random.Random) -> dict[str, Any]:
        written = target.fill_disk(self.victim)
        return {"fault": self.name, "nodes": [self.victim], "filler_bytes": written}

    def tick(self, target: Any, rng: random.Random) -> None:
        pass

    def stop(self, target: Any) -> dict[str, Any]:
        target.free_disk(self.victim)
        return {"fault": self.name, "nodes": [self.victim]}


class _Loss:
    name, lever = "loss", "lose_packets"

    def start(self, target: Any, rng: random.Random) -> dict[str, Any]:
        target.lose_packets(LOSS_DROP, LOSS_DELAY_MS, LOSS_JITTER_MS)
        return {"fault": self.name, "nodes": target.node_names(), "drop": LOSS_DROP,
                "delay_ms": LOSS_DELAY_MS, "jitter_ms": LOSS_JITTER_MS,
                "how": "transport fault layer: datagrams dropped, stream frames delayed"}

    def tick(self, target: Any, rng: random.Random) -> None:
        pass

    def stop(self, target: Any) -> dict[str, Any]:
        target.heal()
        return {"fault": self.name}


CLASSES = ("partition", "kill", "pause", "clock", "disk-full", "loss")
DISK_FULL_NODE = "n2"


def faults_for(choice: str, busiest: Callable[[], str | None]) -> list[Fault]:
    """The faults of the classes named (comma-separated, or ``all``, or ``none``)."""
    table: dict[str, list[Fault]] = {
        "partition": [_Partition("partition-halves", halves), _Partition("isolate", isolated),
                      _Partition("bridge", bridged), _Flap()],
        "kill": [_Kill("kill", "one", busiest), _Kill("kill", "coordinator", busiest),
                 _Kill("kill-all", "all", busiest)],
        "pause": [_Pause()],
        "clock": [_Clock()],
        "disk-full": [_DiskFull(DISK_FULL_NODE)],
        "loss": [_Loss()],
    }
    if choice == "none":
        return []
    names = CLASSES if choice == "all" else choice.split(",")
    return [fault for name in names for fault in table[name]]


def supported(target: Any, faults: list[Fault]) -> tuple[list[Fault], list[str]]:
    """The faults the target has a lever for, and why the others are left out."""
    keep, skipped = [], []
    for fault in faults:
        reason = target.unsupported(fault.name) if hasattr(target, "unsupported") else None
        if reason is None and not hasattr(target, fault.lever):
            reason = f"the target has no {fault.lever}"
        if reason is None:
            keep.append(fault)
        else:
            skipped.append(f"{fault.name}: {reason}")
    return keep, skipped


class Nemesis:
    """Runs the schedule on the CALLING thread (``run``), every fault undone when it returns.

    Not on a thread of its own: nodes are started with PR_SET_PDEATHSIG so a dead runner leaves
    none behind, and the kernel sends that signal when the *thread* that forked the node ends.
    A node restarted by a nemesis thread would be killed when that thread finished."""

    def __init__(self, target: Any, history: History, faults: list[Fault], rng: random.Random,
                 quiet_s: float, fault_s: float):
        self.target, self.history, self.faults, self.rng = target, history, faults, rng
        self.quiet_s, self.fault_s = quiet_s, fault_s
        self.errors: list[str] = []
        self.windows: list[dict[str, Any]] = []

    def run(self, load_s: float) -> None:
        """Faults in turn for ``load_s`` seconds from now, none starting later than
        ``quiet_s + fault_s`` before the end (the load's last stretch is fault-free)."""
        started_s = time.monotonic()
        order = self.rng.sample(self.faults, len(self.faults))
        turn = 0
        while True:
            left_s = load_s - (time.monotonic() - started_s)
            if not order or left_s < 2 * self.quiet_s + self.fault_s:
                time.sleep(max(0.0, left_s))
                return
            time.sleep(self.quiet_s)
            self._one(order[turn % len(order)])
            turn += 1

    def _one(self, fault: Fault) -> None:
        window: dict[str, Any] = {"fault": fault.name}
        try:
            window |= fault.start(self.target, self.rng)
        except Exception as exc:  # noqa: BLE001 — a lever failed: recorded, the run goes on
            self.errors.append(f"{fault.name} start: {type(exc).__name__}: {exc}")
            self._undo(fault)
            return
        self.history.nemesis("start", window)
        window["start_ns"] = self.history.now_ns()
        elapsed_s = 0.0
        while elapsed_s < self.fault_s:
            time.sleep(TICK_S)
            elapsed_s += TICK_S
            try:
                fault.tick(self.target, self.rng)
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"{fault.name} tick: {type(exc).__name__}: {exc}")
        self.history.nemesis("stop", self._undo(fault))
        window["stop_ns"] = self.history.now_ns()
        self.windows.append(window)

    def _undo(self, fault: Fault) -> dict[str, Any]:
        try:
            return fault.stop(self.target)
        except Exception as exc:  # noqa: BLE001 — the runner's final heal tries again
            self.errors.append(f"{fault.name} stop: {type(exc).__name__}: {exc}")
            return {"fault": fault.name, "error": str(exc)[:500]}
