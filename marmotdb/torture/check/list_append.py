"""List-append (Elle-style): transactions of appends and reads on lists, checked for the
isolation anomalies DESIGN.md rules out at each write level.

Theory of operation. Every element is appended once per key in the whole run, so a read names
exactly which appends it saw, and because lists only grow, the reads of a key must all be
prefixes of one another: the longest read is the key's **version order**. From it:

- ``ww``: the writer of element i -> the writer of element i+1 (a different transaction);
- ``wr``: the writer of a read's last element -> the reader;
- ``rw``: a reader -> the writer of the element right after what it read (it missed it).

Only a transaction's *external* reads of a key (before it appended to that key itself) make
``wr``/``rw`` edges; its later reads are checked for internal consistency instead. Cycles of
the graph are classified by ``graph.py``. Besides cycles, each read is checked for elements no
one appended (garbage), elements of failed appends (G1a), the non-final state of another
transaction (G1b), duplicates; keys whose reads are not prefixes of one another
(incompatible order, i.e. replicas that diverged or reordered); two committed transactions
that read the same version of a key and both appended to it (lost update); QUORUM reads that
miss an append acknowledged at QUORUM before they began (stale read); and acknowledged appends
missing from a version order that contains a later-started append, or from a node's final
state (lost append; the final states are ``list_finals.py``'s, which also extends the
version order with them when every node agrees).

What counts as a violation depends on the weakest write level of the operations involved
(see DESIGN.md in this package, "list-append").
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from typing import Any

from marmotdb.torture.check import list_finals
from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.graph import DependencyGraph, describe_cycle
from marmotdb.torture.check.history import History, Op, is_strong_write, weakest_write_level

CHECKER = "list-append"
Element = tuple[Any, Any]  # (key, element)
# Cycle classes each level promises against; G-single and G2-item are anti-dependency
# cycles: reads are not validated at commit (DESIGN.md §4.1 checks only written rows).
CYCLES_FORBIDDEN_AT_STRONG = {"G0", "G1c"}
READ_MICRO_OPS = ("r", "read")


class _Read:
    __slots__ = ("elements", "external", "key", "op")

    def __init__(self, op: Op, key: Any, elements: list[Any], external: bool) -> None:
        self.op, self.key, self.elements, self.external = op, key, elements, external


def check(history: History) -> CheckResult:
    result = CheckResult(CHECKER)
    txns = [op for op in history.ops if op.f == "txn"]
    appends = {op.index: _appends(op) for op in txns}
    writers = _writers(txns, appends, result)
    reads = [read for op in txns if op.ok for read in _reads(op, result)]
    good: dict[Any, set[Any]] = defaultdict(set)  # per key, elements of appends not failed
    for (key, element), writer in writers.items():
        if not writer.failed:
            good[key].add(element)
    for read in reads:
        _check_read(read, writers, good, appends, result)
    orders = _version_orders(reads, writers, result)
    finals = list_finals.final_lists(history)
    list_finals.check(finals, orders, writers, good, txns, appends, result)
    graph = _graph(list_finals.extended_orders(finals, orders), reads, writers, appends)
    _lost_updates(reads, appends, result)
    _cycles(graph, history, result)
    _stale_quorum_reads(reads, txns, appends, result)
    _lost_appends(orders, writers, txns, appends, result)
    result.stats.update(txns=len(txns), ok=sum(op.ok for op in txns),
                        keys=len({k for a in appends.values() for k in a}),
                        reads=len(reads), graph_vertices=len(graph.edges),
                        graph_edges=graph.edge_count())
    return result


def _micro_ops(op: Op) -> list[list[Any]]:
    value = op.effective_value
    return [list(m) for m in value] if isinstance(value, list) else []


def _appends(op: Op) -> dict[Any, list[Any]]:
    by_key: dict[Any, list[Any]] = defaultdict(list)
    for micro in _micro_ops(op):
        if micro and micro[0] == "append":
            by_key[micro[1]].append(micro[2])
    return dict(by_key)


def _writers(txns: list[Op], appends: dict[int, dict[Any, list[Any]]],
             result: CheckResult) -> dict[Element, Op]:
    writers: dict[Element, Op] = {}
    for op in txns:
        for key, elements in appends[op.index].items():
            for element in elements:
                other = writers.setdefault((key, element), op)
                if other is not op:
                    result.add("duplicate-append", (other.index, op.index),
                               f"element {element} appended to key {key} twice (the history "
                               "promises unique elements per key)")
    return writers


def _reads(op: Op, result: CheckResult) -> list[_Read]:
    """The reads of an acknowledged transaction, each re-read of a key judged against the
    transaction's earlier read and own appends (``_judge_reread``)."""
    found: list[_Read] = []
    previous: dict[Any, list[Any]] = {}
    since: dict[Any, list[Any]] = defaultdict(list)
    for micro in _micro_ops(op):
        if not micro:
            continue
        if micro[0] == "append":
            since[micro[1]].append(micro[2])
            continue
        if micro[0] not in READ_MICRO_OPS or len(micro) < 3:
            result.add("malformed", (op.index,), f"unknown micro-op {micro!r}")
            continue
        key, elements = micro[1], list(micro[2] or [])
        own = since[key]
        _judge_reread(op, key, elements, previous.get(key), own, result)
        external = key not in previous and not own  # before it wrote or read the key
        found.append(_Read(op, key, elements, external))
        previous[key] = elements
        since[key] = []
    return found


def _judge_reread(op: Op, key: Any, elements: list[Any], earlier: list[Any] | None,
                  own: list[Any], result: CheckResult) -> None:
    """A read of a key the transaction read or appended to before must hold its own appends
    at the end, after everything the earlier read held (else **internal**, a violation). If
    other transactions' elements appeared in between, the read was not repeatable: reported
    as allowed (reads before a transaction's first write come from a snapshot, later ones from
    the write connection, txn/DESIGN.md §3; nothing promises repeatable reads)."""
    ends_with_own = not own or elements[-len(own):] == own
    if earlier is None:
        if not ends_with_own:
            result.add("internal", (op.index,),
                       f"read of key {key} returned {elements}, without the transaction's own "
                       f"appends {own} at the end")
        return
    if elements == earlier + own:
        return
    if elements[:len(earlier)] == earlier and ends_with_own:
        result.add("non-repeatable-read", (op.index,),
                   f"key {key} read as {earlier}, then as {elements} in the same transaction "
                   f"(its own appends since: {own})", False, op.consistency)
    else:
        result.add("internal", (op.index,),
                   f"read of key {key} returned {elements}; the transaction's earlier read "
                   f"{earlier} and its appends since {own} imply {earlier + own}")


def _check_read(read: _Read, writers: dict[Element, Op], good: dict[Any, set[Any]],
                appends: dict[int, dict[Any, list[Any]]], result: CheckResult) -> None:
    """Garbage, aborted (G1a), duplicate and intermediate (G1b) reads. Set operations first:
    reads of long lists are most of a history's size, and almost all of them are clean."""
    distinct = set(read.elements)
    if len(distinct) != len(read.elements):
        seen: set[Any] = set()
        for element in read.elements:
            if element in seen:
                result.add("duplicate-elements", (read.op.index,),
                           f"read of key {read.key} holds element {element} twice")
            seen.add(element)
    for element in sorted(distinct - good.get(read.key, set()), key=repr):
        writer = writers.get((read.key, element))
        if writer is None:
            result.add("garbage-read", (read.op.index,),
                       f"read of key {read.key} holds {element}, which no operation appended")
        else:
            result.add("G1a", (writer.index, read.op.index),
                       f"#{read.op.index} read element {element} of key {read.key} appended by "
                       f"#{writer.index}, which failed ({writer.error})")
    visible = _strip_own(read.elements, appends[read.op.index].get(read.key, []))
    if visible:
        last = visible[-1]
        writer = writers.get((read.key, last))
        if writer is not None and writer is not read.op and not writer.failed:
            mine = appends[writer.index].get(read.key, [])
            if last in mine and mine.index(last) < len(mine) - 1:
                result.add("G1b", (writer.index, read.op.index),
                           f"#{read.op.index} read key {read.key} ending at {last}, an "
                           f"intermediate state of #{writer.index}, which went on to append "
                           f"{mine[mine.index(last) + 1:]}")


def _strip_own(elements: list[Any], own: list[Any]) -> list[Any]:
    mine = set(own)
    end = len(elements)
    while end and elements[end - 1] in mine:
        end -= 1
    return elements[:end]


def _version_orders(reads: list[_Read], writers: dict[Element, Op],
                    result: CheckResult) -> dict[Any, tuple[list[Any], Op]]:
    """Per key, the longest read if every read of the key is a prefix of it."""
    by_key: dict[Any, list[_Read]] = defaultdict(list)
    for read in reads:
        by_key[read.key].append(read)
    orders: dict[Any, tuple[list[Any], Op]] = {}
    for key, key_reads in by_key.items():
        longest = max(key_reads, key=lambda r: (len(r.elements), -r.op.index))
        bad = [r for r in key_reads if r.elements != longest.elements[:len(r.elements)]]
        if not bad:
            orders[key] = (longest.elements, longest.op)
            continue
        key_writers = [w for (k, _), w in writers.items() if k == key and not w.failed]
        level = weakest_write_level(key_writers)
        for read in list({r.op.index: r for r in bad}.values())[:3]:  # one per transaction
            result.add("incompatible-order", (longest.op.index, read.op.index),
                       f"key {key}: #{read.op.index} read {read.elements}, not a prefix of "
                       f"#{longest.op.index}'s {longest.elements} (replicas ordered the "
                       "appends differently or lost some)", is_strong_write(level), level)
    return orders


def _graph(orders: dict[Any, tuple[list[Any], Op]], reads: list[_Read],
           writers: dict[Element, Op], appends: dict[int, dict[Any, list[Any]]]
           ) -> DependencyGraph:
    graph = DependencyGraph()
    for key, (order, _) in orders.items():
        chain = [writers.get((key, e)) for e in order]
        for earlier, later in itertools.pairwise(chain):
            if earlier is not None and later is not None and not (earlier.failed or later.failed):
                graph.add(earlier.index, later.index, "ww", f"k={key}")
    for read in reads:
        if not read.external or read.key not in orders:
            continue
        order = orders[read.key][0]
        length = len(read.elements)
        if length:
            writer = writers.get((read.key, order[length - 1]))
            if writer is not None and not writer.failed:
                graph.add(writer.index, read.op.index, "wr", f"k={read.key}")
        if length < len(order):
            writer = writers.get((read.key, order[length]))
            if writer is not None and not writer.failed:
                graph.add(read.op.index, writer.index, "rw", f"k={read.key}")
    return graph


def _lost_updates(reads: list[_Read], appends: dict[int, dict[Any, list[Any]]],
                  result: CheckResult) -> None:
    """Two committed transactions that read the same version of a key and both appended to
    it: neither saw the other's write (first committer wins, DESIGN.md §4.1)."""
    groups: dict[tuple[Any, tuple[Any, ...]], list[Op]] = defaultdict(list)
    for read in reads:
        if read.external and read.key in appends[read.op.index]:
            groups[(read.key, tuple(read.elements))].append(read.op)
    for (key, version), ops in groups.items():
        if len(ops) < 2:
            continue
        level = weakest_write_level(ops)
        result.add("lost-update", tuple(op.index for op in ops),
                   f"key {key}: {', '.join(f'#{op.index}' for op in ops)} "
                   f"{'both' if len(ops) == 2 else 'all'} read {list(version)}, appended to "
                   "it and committed: none saw the others' append",
                   is_strong_write(level), level)


def _cycles(graph: DependencyGraph, history: History, result: CheckResult) -> None:
    ops = history.by_index()
    found = graph.cycles()
    result.stats["cycles"] = len(found)
    for kind, cycle in found:
        members = [step[0] for step in cycle]
        level = weakest_write_level(ops[i] for i in members if _writes(ops[i]))
        violation = kind in CYCLES_FORBIDDEN_AT_STRONG and is_strong_write(level)
        result.add(kind, tuple(members), describe_cycle(cycle), violation, level)


def _writes(op: Op) -> bool:
    return any(m and m[0] == "append" for m in _micro_ops(op))


def _stale_quorum_reads(reads: list[_Read], txns: list[Op],
                        appends: dict[int, dict[Any, list[Any]]], result: CheckResult) -> None:
    """DESIGN.md §4.4: a QUORUM read sees every write acknowledged at QUORUM before it began."""
    acked: dict[Any, list[tuple[int, Op, Any]]] = defaultdict(list)
    for op in txns:
        if op.ok and is_strong_write(op.consistency) and op.complete_ns is not None:
            for key, elements in appends[op.index].items():
                acked[key].extend((op.complete_ns, op, e) for e in elements)
    times: dict[Any, list[int]] = {}
    acked_elements: dict[Any, list[Any]] = {}
    for key, entries in acked.items():
        entries.sort(key=lambda entry: entry[0])
        times[key] = [entry[0] for entry in entries]
        acked_elements[key] = [entry[2] for entry in entries]
    for read in reads:
        if not read.external or read.op.read_consistency not in ("QUORUM", "ALL"):
            continue
        required = bisect.bisect_left(times.get(read.key, []), read.op.invoke_ns)
        present = set(read.elements)
        if not required or present.issuperset(acked_elements[read.key][:required]):
            continue
        complete_ns, writer, element = next(e for e in acked[read.key][:required]
                                            if e[2] not in present)
        result.add("stale-read", (writer.index, read.op.index),
                   f"QUORUM read #{read.op.index} of key {read.key} missed element {element}, "
                   f"appended by #{writer.index} and acknowledged at {writer.consistency} "
                   f"{(read.op.invoke_ns - complete_ns) / 1e6:.1f} ms before the read began",
                   True, "QUORUM")


def _lost_appends(orders: dict[Any, tuple[list[Any], Op]], writers: dict[Element, Op],
                  txns: list[Op], appends: dict[int, dict[Any, list[Any]]],
                  result: CheckResult) -> None:
    """An acknowledged append missing from a key's version order although the order holds an
    append that began after it was acknowledged: it was overwritten or dropped."""
    latest: dict[Any, Op] = {}
    order_sets = {key: set(order) for key, (order, _) in orders.items()}
    for key, (order, _) in orders.items():
        ops = [writers[(key, e)] for e in order if (key, e) in writers]
        if ops:
            latest[key] = max(ops, key=lambda op: op.invoke_ns)
    for op in txns:
        if not op.ok or op.complete_ns is None:
            continue
        for key, elements in appends[op.index].items():
            if key not in orders or key not in latest:
                continue
            order, reader = orders[key]
            later = latest[key]
            missing = [e for e in elements if e not in order_sets[key]]
            if missing and later.invoke_ns > op.complete_ns:
                later = next(w for w in (writers[(key, e)] for e in order if (key, e) in writers)
                             if w.invoke_ns > op.complete_ns)  # the first one, to name
                result.add("lost-append", (op.index, later.index, reader.index),
                           f"key {key}: {missing} appended by #{op.index} (acknowledged) are "
                           f"missing from #{reader.index}'s read, which holds #{later.index}'s "
                           "append begun after that acknowledgement",
                           is_strong_write(op.consistency), op.consistency)
