"""Property: replicas applying the same write sets in any order, with duplicates, converge.

Several origin nodes run random SQL transactions (inserts, REPLACE, UPSERT, updates that move
primary keys, deletes, FK cascades, trigger writes, failing statements, savepoints, rollbacks)
on their own SQLite files, exchanging some write sets along the way so they also overwrite
each other's rows. Every committed write set is then applied to fresh replicas, each in its
own random order with duplicates, one by one or in batches. Every replica must end
byte-identical (same rows with the same SQLite types, same row versions, same applied vector)
and equal to the last-write-wins model computed from the write sets alone; and each origin,
once it has received everything, must end identical to the replicas too (which checks capture:
the origins' rows came from running SQL, the replicas' from the captured images).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from marmotdb.storage.apply import apply, apply_many
from marmotdb.storage.versions import encode_key
from marmotdb.storage.writeset import WriteSet, decode_write_set
from tests.storage.examples import property_settings
from tests.storage.origin import Origin, dump, open_database, typed

SCHEMA = """
CREATE TABLE a(id INTEGER PRIMARY KEY, v, w);
CREATE TABLE b(k TEXT NOT NULL, n INTEGER NOT NULL, v, PRIMARY KEY (k, n)) WITHOUT ROWID;
CREATE TABLE c(x, y);
CREATE TABLE d(id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id) ON DELETE CASCADE, v);
CREATE TABLE e(msg);
CREATE TRIGGER c_audit AFTER INSERT ON c BEGIN INSERT INTO e(msg) VALUES (NEW.x); END;
"""
ROWID_TABLES = {"c", "e"}
ORIGINS = 3

values = st.one_of(
    st.none(), st.integers(-3, 3), st.sampled_from([2**63 - 1, -(2**63), 2**53 + 1]),
    st.sampled_from([0.0, -0.0, 1.5, float("inf"), -float("inf")]),
    st.sampled_from(["", "x", "☃"]), st.sampled_from([b"", b"\x00", b"x"]))
keys = st.integers(0, 4)
names = st.sampled_from(["p", "q"])

statements = st.one_of(
    st.tuples(st.just("INSERT INTO a VALUES (?, ?, ?)"), st.tuples(keys, values, values)),
    st.tuples(st.just("REPLACE INTO a VALUES (?, ?, ?)"), st.tuples(keys, values, values)),
    st.tuples(st.just("INSERT INTO a VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                      "w = excluded.w"), st.tuples(keys, values, values)),
    st.tuples(st.just("UPDATE a SET v = ? WHERE id = ?"), st.tuples(values, keys)),
    st.tuples(st.just("UPDATE a SET id = ? WHERE id = ?"), st.tuples(keys, keys)),
    # Multi-row statements that may fail half way: the hook has already seen earlier rows.
    st.tuples(st.just("INSERT INTO a VALUES (?, ?, ?), (?, ?, ?)"),
              st.tuples(keys, values, values, keys, values, values)),
    st.tuples(st.just("UPDATE a SET id = id + 1 WHERE id >= ?"), st.tuples(keys)),
    st.tuples(st.just("INSERT INTO c(rowid, x, y) VALUES (?, ?, ?), (?, ?, ?)"),
              st.tuples(keys, values, values, keys, values, values)),
    st.tuples(st.just("DELETE FROM a WHERE id = ?"), st.tuples(keys)),
    st.tuples(st.just("DELETE FROM a WHERE id >= ?"), st.tuples(keys)),
    st.tuples(st.just("INSERT OR REPLACE INTO b VALUES (?, ?, ?)"),
              st.tuples(names, keys, values)),
    st.tuples(st.just("UPDATE b SET v = ? WHERE k = ?"), st.tuples(values, names)),
    st.tuples(st.just("UPDATE b SET n = n + 1 WHERE k = ?"), st.tuples(names)),
    st.tuples(st.just("DELETE FROM b WHERE n = ?"), st.tuples(keys)),
    st.tuples(st.just("INSERT INTO c VALUES (?, ?)"), st.tuples(values, values)),
    st.tuples(st.just("UPDATE c SET y = ? WHERE rowid = ?"), st.tuples(values, keys)),
    st.tuples(st.just("UPDATE c SET rowid = ? WHERE rowid = ?"), st.tuples(keys, keys)),
    st.tuples(st.just("DELETE FROM c WHERE rowid = ?"), st.tuples(keys)),
    st.tuples(st.just("INSERT INTO d VALUES (?, ?, ?)"), st.tuples(keys, keys, values)),
    st.tuples(st.just("DELETE FROM d WHERE a_id = ?"), st.tuples(keys)),
    st.tuples(st.just("SAVEPOINT"), st.just(())),
    st.tuples(st.just("ROLLBACK TO"), st.just(())),
)

transactions = st.tuples(
    st.just("txn"), st.integers(0, ORIGINS - 1), st.lists(statements, min_size=1, max_size=5),
    st.sampled_from(["commit"] * 5 + ["rollback"]), st.integers(0, 3))
syncs = st.tuples(st.just("sync"), st.integers(0, ORIGINS - 1), st.integers(0, ORIGINS - 1),
                  st.integers(1, 4))
programs = st.lists(st.one_of(transactions, transactions, syncs), min_size=1, max_size=14)


class Node(Origin):
    def __init__(self, node_id: int, skew_ms: int):
        super().__init__(node_id, SCHEMA, clock_ms=1_000_000 + skew_ms)
        self.seen: dict[int, int] = {}  # origin -> how many of its write sets applied here

    def run_program_txn(self, ops: Sequence[tuple[str, tuple[Any, ...]]], end: str,
                        advance_ms: int) -> bytes | None:
        self.clock.ms += advance_ms
        txn_id = self.begin()
        savepoints = 0
        for sql, params in ops:
            if sql == "SAVEPOINT":
                savepoints += 1
                self.savepoint(f"sp{savepoints}")
            elif sql == "ROLLBACK TO":
                if savepoints:
                    self.rollback_to(f"sp{savepoints}")
            else:
                self.statement(sql, params)
        if end == "rollback":
            self.rollback()
            return None
        return self.commit(txn_id)


def run_program(program, skews: Sequence[int]) -> tuple[list[Node], list[bytes]]:
    nodes = [Node(i + 1, skews[i]) for i in range(ORIGINS)]
    shipped: list[list[bytes]] = [[] for _ in nodes]
    for step in program:
        if step[0] == "txn":
            _, index, ops, end, advance_ms = step
            encoded = nodes[index].run_program_txn(ops, end, advance_ms)
            if encoded is not None:
                shipped[index].append(encoded)
        else:
            _, source, target, count = step
            receiver = nodes[target]
            if source == target:
                continue
            start = receiver.seen.get(source, 0)
            for encoded in shipped[source][start:start + count]:
                receiver.receive(encoded)
            receiver.seen[source] = min(len(shipped[source]), start + count)
    return nodes, [encoded for per_origin in shipped for encoded in per_origin]


def lww_model(write_sets: Sequence[WriteSet]) -> dict[str, list[tuple[Any, ...]]]:
    """Expected rows: per key, the net effect of the newest write set that touched it."""
    winners: dict[tuple[str, bytes], tuple[Any, tuple[Any, ...], tuple[Any, ...] | None]] = {}
    for write_set in write_sets:
        net: dict[tuple[str, bytes], tuple[tuple[Any, ...], tuple[Any, ...] | None]] = {}
        for change in write_set.changes:
            if change.old_key is not None and change.old_key != change.new_key:
                net[(change.table, encode_key(change.old_key))] = (change.old_key, None)
            if change.new_key is not None:
                net[(change.table, encode_key(change.new_key))] = (change.new_key, change.after)
        for ident, (key, image) in net.items():
            current = winners.get(ident)
            if current is None or write_set.commit_ts > current[0]:
                winners[ident] = (write_set.commit_ts, key, image)
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in "abcde"}
    for (table, _), (_, key, image) in winners.items():
        if image is not None:
            row = (key[0], *image) if table in ROWID_TABLES else image
            rows[table].append(tuple(typed(v) for v in row))
    return {table: sorted(found, key=repr) for table, found in rows.items()}


@st.composite
def delivery_orders(draw, count: int) -> list[int]:
    order = draw(st.permutations(range(count)))
    duplicates = draw(st.lists(st.integers(0, max(count - 1, 0)), max_size=3)) if count else []
    for index in duplicates:
        order.insert(draw(st.integers(0, len(order))), index)
    return order


@property_settings(share=0.6)
@given(program=programs, skews=st.lists(st.integers(0, 30), min_size=ORIGINS,
                                        max_size=ORIGINS), data=st.data())
def test_property_replicas_converge_to_the_lww_result(program, skews, data):
    nodes, shipped = run_program(program, skews)
    write_sets = [decode_write_set(encoded) for encoded in shipped]
    expected = lww_model(write_sets)
    dumps = []
    for _ in range(3):
        replica = open_database(SCHEMA)
        order = data.draw(delivery_orders(len(shipped)))
        batch = data.draw(st.integers(1, 4))
        for start in range(0, len(order), batch):
            chunk = [(write_sets[i], shipped[i]) for i in order[start:start + batch]]
            if batch == 1:
                apply(replica, *chunk[0])
            else:
                apply_many(replica, chunk)
        state = dump(replica)
        assert {t: state[t] for t in expected} == expected
        dumps.append(state)
    assert dumps[0] == dumps[1] == dumps[2]
    for node in nodes:
        for index in data.draw(delivery_orders(len(shipped))):
            node.receive(shipped[index])
        assert dump(node.conn) == dumps[0]
