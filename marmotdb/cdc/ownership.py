"""Which node publishes which origin's changes (cdc/DESIGN.md §3).

One publisher per change: its coordinator (the origin) while the origin is a live member;
otherwise the lowest live node id. Every node applies the same rule to its own membership view,
so normally exactly one node publishes an origin; while views disagree two may, which is the
at-least-once case that positions make harmless. Never none: the origin publishes itself until
it is dead, and any live node that sees it dead takes over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def publisher_for(origin: int, live: Mapping[int, bool]) -> int | None:
    """The node that publishes ``origin``'s changes; ``live`` maps each member's node id to
    whether it is live (ALIVE or SUSPECT) in this node's view. None: nobody is live."""
    if live.get(origin):
        return origin
    alive = [node_id for node_id, up in live.items() if up]
    return min(alive) if alive else None


def owned_origins(origins: Iterable[int], live: Mapping[int, bool], node_id: int) -> list[int]:
    """The origins among ``origins`` that ``node_id`` publishes, in order."""
    return sorted(o for o in set(origins) if publisher_for(o, live) == node_id)
