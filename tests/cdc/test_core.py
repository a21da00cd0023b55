"""The publisher's core without a broker: positions, ownership, filters, backoff, durable
cursors, reading the commit log into bounded batches (split write sets, gaps), sink settings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from marmotdb import config
from marmotdb.cdc.backoff import Backoff
from marmotdb.cdc.cursors import FAILED, NEW, STREAMING, CursorStore
from marmotdb.cdc.envelope import Envelopes
from marmotdb.cdc.filters import TableFilter
from marmotdb.cdc.ownership import owned_origins, publisher_for
from marmotdb.cdc.position import Position
from marmotdb.cdc.reader import CdcGap, read_batch
from marmotdb.node import Node
from marmotdb.sql.catalog import snapshot as catalog_snapshot
from marmotdb.storage import commitlog
from tests.cdc.test_envelope import node, run  # noqa: F401  (fixture)


def test_position_text_round_trips_and_orders_per_file() -> None:
    p = Position("my-db", 3, 41, 2)
    assert p.text() == "3-my-db-41-2" and Position.parse(p.text()) == p
    assert p.file == "marmot-3-my-db"
    assert Position("d", 1, 5, 0).order() > Position("d", 1, 4, 9).order()


def test_the_origin_publishes_itself_and_the_lowest_live_node_takes_over() -> None:
    assert publisher_for(3, {1: True, 2: True, 3: True}) == 3
    assert publisher_for(3, {1: False, 2: True, 3: False}) == 2  # 1 and 3 dead
    assert publisher_for(9, {1: True, 2: True}) == 1  # left the cluster
    assert publisher_for(1, {1: False}) is None
    assert owned_origins([1, 2, 3, 3], {1: True, 2: True, 3: False}, 1) == [1, 3]
    assert owned_origins([1, 2, 3], {1: True, 2: True, 3: False}, 2) == [2]


def test_filters_include_exclude_and_qualified_table_globs() -> None:
    f = TableFilter(include_databases=["shop*"], exclude_tables=["*.secret_*", "tmp"])
    assert f.database("shop") and f.database("SHOP_eu") and not f.database("hr")
    assert f.table("shop", "orders") and not f.table("shop", "secret_keys")
    assert not f.table("shop", "tmp") and not f.table("hr", "orders")
    only = TableFilter(include_tables=["shop.orders", "items"])
    assert only.table("shop", "orders") and only.table("x", "items")
    assert not only.table("x", "orders")


def test_backoff_grows_exponentially_to_its_cap_and_resets() -> None:
    b = Backoff(100, 1000, 2.0)
    assert [b.next_delay_ms() for _ in range(6)] == [100, 200, 400, 800, 1000, 1000]
    b.reset()
    assert b.next_delay_ms() == 100
    jittered = Backoff(100, 1000, 2.0, jitter=0.5, rng=random.Random(7))
    assert all(50 <= jittered.next_delay_ms() <= 100 for _ in range(1))
    with pytest.raises(ValueError):
        Backoff(0, 10)


def test_cursors_are_durable_only_move_forward_and_hold_the_log(tmp_path: Path) -> None:
    path = tmp_path / "cdc" / "cursors.db"
    store = CursorStore(path)
    store.advance("a", "shop", {1: 5, 2: 7})
    store.advance("a", "shop", {1: 3})  # an old report: ignored
    store.advance("b", "shop", {1: 9})
    assert store.cursors("a", "shop") == {1: 5, 2: 7}
    assert store.holds("shop", ["a", "b"]) == {1: 5, 2: 0}  # b has no cursor for origin 2
    assert store.sink_state("a").state == NEW
    store.set_state("a", FAILED, "gap")
    assert store.next_snapshot_seq("b") == 1 and store.next_snapshot_seq("b") == 2
    store.close()
    again = CursorStore(path)
    assert again.all_cursors("a") == {"shop": {1: 5, 2: 7}}
    assert again.sink_state("a") == (FAILED, "gap", 0)
    again.reset("a")
    assert again.cursors("a", "shop") == {} and again.sink_state("a").state == NEW
    again.set_state("b", STREAMING)
    assert again.sink_state("b").state == STREAMING
    again.close()


def _reader(node: Node):
    db = node.state.databases.get("shop")
    conn = db.checkout()
    catalog_snapshot.trusted(conn).__enter__()  # a CDC read connection has no authorizer
    envelopes = Envelopes("p", lambda d, t: catalog_snapshot.snapshot(conn, d).table(t))
    return conn, envelopes


def test_batches_are_bounded_split_write_sets_resume_and_cursors_name_whole_ones(
        node: Node) -> None:  # noqa: F811
    run(node, "CREATE DATABASE shop", "USE shop", "CREATE TABLE t (id INT PRIMARY KEY)",
        "INSERT INTO t VALUES (1), (2), (3), (4), (5)", "INSERT INTO t VALUES (6)")
    conn, envelopes = _reader(node)
    everything = read_batch(conn, envelopes, {7: 0}, records_max=100, bytes_max=1 << 20,
                            now_us=0)
    assert [r.position for r in everything.records] == \
        ["7-shop-1-0", *[f"7-shop-2-{i}" for i in range(5)], "7-shop-3-0"]
    assert everything.done == {7: 3} and not everything.full
    first = read_batch(conn, envelopes, {7: 0}, records_max=3, bytes_max=1 << 20, now_us=0)
    assert len(first.records) == 3 and first.full and first.done == {7: 1}
    assert first.partial == (7, 2, 2)
    second = read_batch(conn, envelopes, {7: first.done[7]}, records_max=100,
                        bytes_max=1 << 20, now_us=0, resume=first.partial)
    assert [r.position for r in first.records + second.records] == \
        [r.position for r in everything.records]
    small = read_batch(conn, envelopes, {7: 0}, records_max=100, bytes_max=1, now_us=0)
    assert len(small.records) == 1  # one record always goes, however large


def test_a_trimmed_entry_below_the_vector_is_a_gap_not_a_skip(node: Node) -> None:  # noqa: F811
    run(node, "CREATE DATABASE shop", "USE shop", "CREATE TABLE t (id INT PRIMARY KEY)",
        "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)", "INSERT INTO t VALUES (3)")
    conn, envelopes = _reader(node)
    with conn:
        commitlog.trim_log(conn, {7: 2})
    with pytest.raises(CdcGap, match="trimmed"):
        read_batch(conn, envelopes, {7: 1}, records_max=10, bytes_max=1 << 20, now_us=0)
    batch = read_batch(conn, envelopes, {7: 2}, records_max=10, bytes_max=1 << 20, now_us=0)
    assert [r.position for r in batch.records] == ["7-shop-3-0", "7-shop-4-0"]


def test_sink_settings_are_checked() -> None:
    good = config.sink_configs([{"name": "a", "kind": "nats", "exclude_tables": "x, y"}])
    assert good[0].exclude_tables == ["x", "y"] and good[0].snapshot_mode == "initial"
    assert good[0].skipped_operations == ["t"]  # Debezium's default
    for given, skipped in (("none", []), ("t,c", ["t", "c"]), ([], [])):
        assert config.sink_configs([{"name": "a", "kind": "nats", "skipped_operations": given}]
                                   )[0].skipped_operations == skipped
    for bad, message in (
            ({"name": "a", "kind": "carrier-pigeon"}, "kind must be one of"),
            ({"name": "a", "kind": "nats", "colour": 1}, "unknown setting"),
            ({"name": "a", "kind": "nats", "records_max": "many"}, "not a whole number"),
            ({"name": "a", "kind": "nats", "snapshot_mode": "sometimes"}, "snapshot_mode"),
            ({"name": "a", "kind": "nats", "skipped_operations": "r"}, "skipped_operations"),
            ({"kind": "nats"}, "name is required"),
            ({"name": "a", "kind": "nats", "retry_max_ms": 1}, "retry_max_ms"),
            ({"name": "a", "kind": "nats", "servers": ["h:9092"]}, "setting of kind kafka")):
        with pytest.raises(config.ConfigError, match=message):
            config.sink_configs([bad])
    with pytest.raises(config.ConfigError, match="used by another"):
        config.sink_configs([{"name": "a", "kind": "nats"}, {"name": "a", "kind": "nats"}])
    assert "nats" in config.SINK_KINDS


def test_batches_rotate_over_databases_and_finish_a_split_write_set_first() -> None:
    from marmotdb.runtime.cdc_runner import _fair_order
    names = ["a", "b", "c"]
    assert [_fair_order(names, None, turn)[0] for turn in range(4)] == ["a", "b", "c", "a"]
    assert _fair_order(names, ("c", 1, 5, 3), 0) == ["c", "a", "b"]
    assert _fair_order([], None, 3) == []
