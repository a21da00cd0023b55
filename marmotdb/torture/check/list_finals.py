"""List-append final states: each node's lists after the heal, held against the appends and
the reads' version orders.

The runner dumps the ``lists`` table (key, elements joined by commas; a key without a row is an
empty list). Every acknowledged append, and every element a read saw (an unknown-outcome append
a read proved committed), must be in every node's list (**lost-append**); nothing failed or never
appended may be (**G1a**, **garbage-read**); each list must agree with the reads' version order
(**incompatible-order**). Where every node's list of a key is the same and extends the reads'
order, it is the longer version order the dependency graph is built from.
"""

from __future__ import annotations

from typing import Any

from marmotdb.torture.check import final_state
from marmotdb.torture.check.anomaly import CheckResult
from marmotdb.torture.check.history import History, Op, is_strong_write, weakest_write_level

Element = tuple[Any, Any]  # (key, element)
Order = tuple[list[Any], Op]  # a key's version order and the read it came from


def final_lists(history: History) -> dict[str, dict[Any, list[Any]]]:
    """Per node, per key, the list its final state holds."""
    lists: dict[str, dict[Any, list[Any]]] = {}
    for node, rows in final_state.table_rows(history, "list-append").items():
        lists[node] = {row[0]: _parse_list(row[-1]) for row in rows if len(row) >= 2}
    return lists


def _parse_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if not value:
        return []
    return [int(x) if x.strip().lstrip("-").isdigit() else x.strip()
            for x in str(value).split(",")]


def check(finals: dict[str, dict[Any, list[Any]]],
                       orders: dict[Any, Order], writers: dict[Element, Op],
                       good: dict[Any, set[Any]], txns: list[Op],
                       appends: dict[int, dict[Any, list[Any]]], result: CheckResult) -> None:
    """Each node's final lists against the reads' version orders and the appends."""
    if not finals:
        return
    for node, lists in sorted(finals.items()):
        where = f"final state of {node}"
        for key in sorted(set(lists) | set(orders), key=repr):  # a missing row is []
            final = lists.get(key, [])
            for element in [e for e in final if e not in good.get(key, set())][:3]:
                writer = writers.get((key, element))
                result.add("G1a" if writer else "garbage-read",
                           (writer.index,) if writer else (),
                           f"{where}: key {key} holds {element}, " +
                           (f"appended by #{writer.index}, which failed" if writer
                            else "which no operation appended"))
            if key in orders:
                order, reader = orders[key]
                shorter, longer = sorted((order, final), key=len)
                if longer[:len(shorter)] == shorter and len(final) < len(order):
                    _observed_then_lost(key, order[len(final):], reader, where, writers, result)
                elif longer[:len(shorter)] != shorter:
                    level = weakest_write_level(w for (k, _), w in writers.items() if k == key)
                    result.add("incompatible-order", (reader.index,),
                               f"key {key}: {where} holds {final}, not compatible with "
                               f"#{reader.index}'s read {order}", is_strong_write(level), level)
    held = {node: {key: set(final) for key, final in lists.items()}
            for node, lists in finals.items()}
    for op in txns:
        if not op.ok:
            continue
        for key, elements in appends[op.index].items():
            absent = [node for node, sets in sorted(held.items())
                      if not sets.get(key, set()).issuperset(elements)]
            if absent:
                result.add("lost-append", (op.index,),
                           f"key {key}: {elements} appended by #{op.index} (acknowledged at "
                           f"{op.consistency}) missing from the final state of "
                           f"{', '.join(absent)}", is_strong_write(op.consistency),
                           op.consistency)


def _observed_then_lost(key: Any, missing: list[Any], reader: Op, where: str,
                        writers: dict[Element, Op], result: CheckResult) -> None:
    """Elements a read saw (so committed) that a final state lacks. Acknowledged appends are
    reported by the loop over appends; these are the unknown-outcome ones a read proved."""
    for element in missing:
        writer = writers.get((key, element))
        if writer is not None and writer.outcome == "info":
            result.add("lost-append", (writer.index, reader.index),
                       f"key {key}: {element}, appended by #{writer.index} (outcome unknown) "
                       f"and seen by #{reader.index}, is missing from the {where}",
                       is_strong_write(writer.consistency), writer.consistency)


def extended_orders(finals: dict[str, dict[Any, list[Any]]],
                     orders: dict[Any, Order]
                     ) -> dict[Any, Order]:
    """Where every node's final list of a key agrees and extends the reads' order, it is the
    longer version order (reads made before the end saw prefixes of it)."""
    orders = dict(orders)
    for key, (order, reader) in list(orders.items()):
        if not finals or any(key not in lists for lists in finals.values()):
            continue
        final, *others = [lists[key] for lists in finals.values()]
        if all(other == final for other in others) and len(final) > len(order) \
                and final[:len(order)] == order:
            orders[key] = (final, reader)
    return orders
