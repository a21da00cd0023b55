"""Fault injection in the peer transport: drop, delay, duplicate, reorder, partition.

Theory of operation
-------------------
This machine has no netem, so real-process fault tests break the network inside the process:
every frame the peer transport sends passes ``FaultInjector.decide(peer, OUT, reliable)`` and
every frame it receives passes ``decide(peer, IN, reliable)``. The answer is the list of delays
(milliseconds) at which copies of the frame are to be delivered::

    ()        drop it
    (0,)      deliver it as is
    (40,)     deliver it 40 ms late
    (0, 13)   deliver it now and a duplicate 13 ms later

Rules are checked in order and the FIRST rule matching the peer and the direction decides, like
firewall rules: put a specific peer's rule before a ``*`` rule. ``peer`` is the other node's
peer address (``host:port``; the admin API also resolves node ids) or ``*`` for every peer.

A frame on the reliable path (TCP) only sees ``partition`` and ``delay_ms``/``jitter_ms``:
TCP turns loss into delay and never duplicates or reorders, and the transport keeps the order
of delayed reliable frames. ``drop``, ``duplicate`` and ``reorder`` apply to datagrams. A
reordered datagram is held back by a random 1..``reorder_window_ms`` so later ones overtake it.

Partitioning one node from the others needs a rule on that node only (``direction=both``):
it stops its own frames and discards everything arriving. An asymmetric partition is one
direction on one side.

Randomness is the injector's own ``random.Random`` (seeded from config), so a run of a fault
test draws the same decisions for the same sequence of frames.
"""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from marmotdb.peer.address import NodeAddr

RULES_MAX = 64  # bound of the rule list (the admin API refuses more)
ANY_PEER = "*"
REORDER_WINDOW_MS_MIN = 20


class Direction(enum.Enum):
    IN = "in"
    OUT = "out"
    BOTH = "both"


class FaultRuleError(ValueError):
    """A fault rule could not be parsed or has an out-of-range value."""


def _probability(value: Any, name: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise FaultRuleError(f"{name} must be a probability in [0, 1], got {value!r}")
    return number


def _duration_ms(value: Any, name: str) -> int:
    number = int(value)
    if not 0 <= number <= 600_000:
        raise FaultRuleError(f"{name} must be 0..600000 ms, got {value!r}")
    return number


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise FaultRuleError(f"{name} must be a boolean, got {value!r}")
    return text in ("1", "true", "yes", "on")


def _peer(value: Any, name: str) -> str:
    text = str(value).strip()
    if text != ANY_PEER:
        try:
            text = str(NodeAddr.parse(text))
        except ValueError:
            raise FaultRuleError(f"{name} must be host:port or '*', got {value!r}") from None
    return text


_FIELD_PARSERS = {
    "peer": _peer,
    "direction": lambda v, n: Direction(str(v).strip().lower()),
    "drop": _probability,
    "duplicate": _probability,
    "reorder": _probability,
    "delay_ms": _duration_ms,
    "jitter_ms": _duration_ms,
    "reorder_window_ms": _duration_ms,
    "partition": _flag,
}


@dataclasses.dataclass(frozen=True)
class FaultRule:
    peer: str = ANY_PEER
    direction: Direction = Direction.BOTH
    drop: float = 0.0  # probability a datagram is lost
    delay_ms: int = 0  # added latency of every frame
    jitter_ms: int = 0  # plus a uniform random 0..jitter_ms
    duplicate: float = 0.0  # probability a datagram is delivered twice
    reorder: float = 0.0  # probability a datagram is held back so later ones overtake it
    reorder_window_ms: int = 0  # hold-back bound; 0 = max(20, 2 * delay_ms + jitter_ms)
    partition: bool = False  # lose every frame, datagram or stream

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any]) -> FaultRule:
        """From a dict (JSON/TOML) or the compact form ``peer=*;direction=out;drop=0.3``."""
        if isinstance(spec, str):
            pairs = [p.partition("=") for p in spec.split(";") if p.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise FaultRuleError(f"fault rule items must be name=value: {spec!r}")
            spec = {k.strip(): v.strip() for k, _, v in pairs}
        unknown = set(spec) - set(_FIELD_PARSERS)
        if unknown:
            raise FaultRuleError(f"unknown fault rule fields: {', '.join(sorted(unknown))}")
        try:
            values: dict[str, Any] = {k: _FIELD_PARSERS[k](v, k) for k, v in spec.items()}
        except (TypeError, ValueError) as exc:
            raise FaultRuleError(str(exc)) from None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["direction"] = self.direction.value
        return out

    def matches(self, peer: NodeAddr, direction: Direction) -> bool:
        if self.direction is not Direction.BOTH and self.direction is not direction:
            return False
        return self.peer == ANY_PEER or self.peer == str(peer)

    @property
    def window_ms(self) -> int:
        return self.reorder_window_ms or max(REORDER_WINDOW_MS_MIN,
                                             2 * self.delay_ms + self.jitter_ms)


def parse_rules(specs: Iterable[str | Mapping[str, Any]]) -> list[FaultRule]:
    rules = [FaultRule.parse(spec) for spec in specs]
    if len(rules) > RULES_MAX:
        raise FaultRuleError(f"at most {RULES_MAX} fault rules")
    return rules


@dataclasses.dataclass
class FaultStats:
    """What the fault layer did (exported as metrics)."""

    dropped: int = 0
    partitioned: int = 0
    delayed: int = 0
    duplicated: int = 0
    reordered: int = 0


_DELIVER_NOW: tuple[int, ...] = (0,)


class FaultInjector:
    def __init__(self, rules: Sequence[FaultRule] = (), rng: random.Random | None = None):
        self._rng = rng or random.Random(0)
        self._rules: tuple[FaultRule, ...] = ()
        self.stats = FaultStats()
        self.set_rules(rules)

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return self._rules

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def set_rules(self, rules: Sequence[FaultRule]) -> None:
        """Replace every rule at once (an empty list heals the network)."""
        if len(rules) > RULES_MAX:
            raise FaultRuleError(f"at most {RULES_MAX} fault rules")
        self._rules = tuple(rules)

    def decide(self, peer: NodeAddr, direction: Direction, reliable: bool) -> tuple[int, ...]:
        """Delays (ms) at which to deliver copies of one frame; empty means drop it."""
        if not self._rules:
            return _DELIVER_NOW
        rule = next((r for r in self._rules if r.matches(peer, direction)), None)
        if rule is None:
            return _DELIVER_NOW
        if rule.partition:
            self.stats.partitioned += 1
            return ()
        if reliable:
            return (self._latency_ms(rule),)
        return self._datagram(rule)

    def _datagram(self, rule: FaultRule) -> tuple[int, ...]:
        rng = self._rng
        if rule.drop and rng.random() < rule.drop:
            self.stats.dropped += 1
            return ()
        delay_ms = self._latency_ms(rule)
        if rule.reorder and rng.random() < rule.reorder:
            self.stats.reordered += 1
            delay_ms += rng.randint(1, rule.window_ms)
        if rule.duplicate and rng.random() < rule.duplicate:
            self.stats.duplicated += 1
            return (delay_ms, delay_ms + rng.randint(0, rule.window_ms))
        return (delay_ms,)

    def _latency_ms(self, rule: FaultRule) -> int:
        if not rule.delay_ms and not rule.jitter_ms:
            return 0
        self.stats.delayed += 1
        jitter_ms = self._rng.randint(0, rule.jitter_ms) if rule.jitter_ms else 0
        return rule.delay_ms + jitter_ms
