"""The dependency graph of transactions and the search for its cycles (Adya's phenomena).

Vertices are operations (history indices); an edge ``a -> b`` carries one or more labels:

    ww  b overwrote a's write of a key (b's element follows a's in the key's version order)
    wr  b read a's write
    rw  b overwrote what a read (anti-dependency: a read a version b's write came after)

Cycles are found through strongly connected components (Tarjan, iterative so long histories
do not hit the recursion limit), as Elle does, one class at a time on the subgraph of the
edges the class may use, so a strong anomaly is never hidden inside a large component of
allowed ones:

    G0        a cycle of ww edges only                      (dirty write)
    G1c       a cycle of ww and wr edges, at least one wr   (circular information flow)
    G-single  a cycle with exactly one rw edge              (read skew)
    G2-item   a cycle with one or more rw edges             (write skew, anti-dependency cycle)

G0: every component of the ww subgraph. G1c: every component of the ww+wr subgraph that holds
a wr edge. G-single / G2-item: every component of the whole graph that is neither, classified
by the first of the two found. Within a component, a cycle is an edge that must be in it
(``required``) plus a shortest path back (breadth-first) over the edges the class allows:
short cycles are the easiest to read. Start edges tried per component are bounded
(``CYCLE_START_EDGES_MAX``; the search stops earlier once it has a cycle and has tried
``CYCLE_SHORTEST_TRIES``), which bounds the time on the huge components that allowed
anomalies make in long runs.
"""

from __future__ import annotations

from collections import deque

CYCLE_START_EDGES_MAX = 500
CYCLE_SHORTEST_TRIES = 32
# (class, the label the cycle must contain, the labels its way back may use)
CYCLE_CLASSES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("G0", "ww", frozenset({"ww"})),
    ("G1c", "wr", frozenset({"ww", "wr"})),
    ("G-single", "rw", frozenset({"ww", "wr"})),
    ("G2-item", "rw", frozenset({"ww", "wr", "rw"})),
)
LABEL_PREFERENCE = ("ww", "wr", "rw")

Step = tuple[int, str, str, int]  # (from, label, why, to)


class DependencyGraph:
    def __init__(self) -> None:
        self.edges: dict[int, dict[int, dict[str, str]]] = {}

    def add(self, source: int, target: int, label: str, why: str) -> None:
        if source == target:
            return
        labels = self.edges.setdefault(source, {}).setdefault(target, {})
        labels.setdefault(label, why)
        self.edges.setdefault(target, {})

    def edge_count(self) -> int:
        return sum(len(targets) for targets in self.edges.values())

    def components(self, labels: frozenset[str] | None = None) -> list[list[int]]:
        """Strongly connected components with more than one vertex, of the subgraph of edges
        carrying one of ``labels`` (all edges when None)."""
        successors_of = self._successors(labels)
        index_of: dict[int, int] = {}
        low: dict[int, int] = {}
        on_stack: set[int] = set()
        stack: list[int] = []
        found: list[list[int]] = []
        counter = 0
        for root in sorted(self.edges):
            if root in index_of:
                continue
            work = [(root, iter(successors_of[root]))]
            index_of[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                vertex, successors = work[-1]
                advanced = False
                for successor in successors:
                    if successor not in index_of:
                        index_of[successor] = low[successor] = counter
                        counter += 1
                        stack.append(successor)
                        on_stack.add(successor)
                        work.append((successor, iter(successors_of[successor])))
                        advanced = True
                        break
                    if successor in on_stack:
                        low[vertex] = min(low[vertex], index_of[successor])
                if advanced:
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[vertex])
                if low[vertex] == index_of[vertex]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == vertex:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
        return found

    def _successors(self, labels: frozenset[str] | None) -> dict[int, list[int]]:
        return {vertex: sorted(t for t, ls in targets.items()
                               if labels is None or labels.intersection(ls))
                for vertex, targets in self.edges.items()}

    def cycles(self) -> list[tuple[str, list[Step]]]:
        """One cycle per component and class (see the module's docstring)."""
        found: list[tuple[str, list[Step]]] = []
        claimed: set[int] = set()
        for name, required, allowed in CYCLE_CLASSES[:2]:
            for component in self.components(allowed):
                cycle = self.cycle_in(set(component), required, allowed)
                if cycle is not None and not claimed.issuperset(component):
                    found.append((name, cycle))
                    claimed.update(component)
        for component in self.components():
            if claimed.issuperset(component):
                continue
            for name, required, allowed in CYCLE_CLASSES[2:]:
                cycle = self.cycle_in(set(component), required, allowed)
                if cycle is not None:
                    found.append((name, cycle))
                    break
        return found

    def cycle_in(self, members: set[int], required: str,
                 allowed: frozenset[str]) -> list[Step] | None:
        """A shortest cycle found through a ``required`` edge inside ``members``, starting at
        its earliest operation."""
        cycle = self._cycle_through(members, required, allowed)
        if cycle is None:
            return None
        first = min(range(len(cycle)), key=lambda i: cycle[i][0])
        return cycle[first:] + cycle[:first]

    def _cycle_through(self, members: set[int], required: str,
                       allowed: frozenset[str]) -> list[Step] | None:
        tried = 0
        best: list[Step] | None = None
        for source in sorted(members):
            for target, labels in sorted(self.edges[source].items()):
                if target not in members or required not in labels:
                    continue
                tried += 1
                path = self._path(target, source, members, allowed)
                if path is not None:
                    cycle = [(source, required, labels[required], target), *path]
                    if best is None or len(cycle) < len(best):
                        best = cycle
                if tried >= CYCLE_START_EDGES_MAX or (best is not None and (
                        len(best) <= 2 or tried >= CYCLE_SHORTEST_TRIES)):
                    return best
        return best

    def _path(self, start: int, goal: int, members: set[int],
              allowed: frozenset[str]) -> list[Step] | None:
        """Shortest path start -> goal over edges with an allowed label, as steps."""
        parent: dict[int, Step | None] = {start: None}
        queue = deque([start])
        while queue:
            vertex = queue.popleft()
            if vertex == goal:
                steps: list[Step] = []
                while parent[vertex] is not None:
                    step = parent[vertex]
                    assert step is not None
                    steps.append(step)
                    vertex = step[0]
                return steps[::-1]
            for successor, labels in sorted(self.edges[vertex].items()):
                if successor in parent or successor not in members:
                    continue
                label = next((lab for lab in LABEL_PREFERENCE
                              if lab in labels and lab in allowed), None)
                if label is None:
                    continue
                parent[successor] = (vertex, label, labels[label], successor)
                queue.append(successor)
        return None


def describe_cycle(cycle: list[Step]) -> str:
    parts = [f"#{cycle[0][0]}"]
    for _, label, why, target in cycle:
        parts.append(f" -{label}({why})-> #{target}")
    return "".join(parts)
