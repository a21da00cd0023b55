"""Debezium envelopes of real write sets (a real node, real SQLite), against golden files."""

from __future__ import annotations

import base64
import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from marmotdb.cdc.envelope import Envelopes
from marmotdb.cdc.filters import TableFilter
from marmotdb.cdc.position import Position
from marmotdb.node import Node
from marmotdb.sql.catalog import snapshot as catalog_snapshot
from marmotdb.storage import commitlog
from marmotdb.storage.schema import load_table_schema
from marmotdb.storage.writeset import decode_write_set
from marmotdb.users import User, Users
from tests.cdc.golden import check_golden

T0 = 1_700_000_000_000
NOW_US = 1_700_000_123_456_789

ALL_TYPES = """CREATE TABLE every_type (
  id BIGINT PRIMARY KEY, flag BOOLEAN, tiny TINYINT, small SMALLINT UNSIGNED, medium MEDIUMINT,
  num INT, num_u INT UNSIGNED, big_u BIGINT UNSIGNED, price DECIMAL(10,2), ratio DOUBLE,
  approx FLOAT, name VARCHAR(20), body TEXT, code CHAR(3), size ENUM('s','m','l'),
  tags SET('a','b','c'), raw VARBINARY(8), blob_col BLOB, bits BIT(12), one_bit BIT(1),
  day DATE, at DATETIME, at_ms DATETIME(3), at_us DATETIME(6), stamp TIMESTAMP NULL,
  span TIME(3), yr YEAR, doc JSON)"""
ROW = ("(1, TRUE, -5, 65535, -8388608, 2147483647, 4294967295, 18446744073709551615, "
       "-1234.5, 2.5, 0.25, 'héllo', 'long text', 'abc', 'm', 'a,c', x'00ff10', x'cafe', "
       "b'101000000001', b'1', '2024-02-29', '1969-12-31 23:59:59', '2024-01-02 03:04:05.678', "
       "'2024-01-02 03:04:05.000123', '2024-06-01 12:00:00', '-12:34:56.5', 2024, "
       "'{\"k\": [1, 2]}')")


def run(node: Node, *statements: str) -> None:
    session = node.open_session("root", now_ms=node.now_ms)
    for i, sql in enumerate(statements):
        node.submit(session, i, sql, now_ms=T0 + i)
        for reply in node.take_outputs():
            assert reply.error is None, (sql, reply.error)
    node.close_session(session, now_ms=T0)


@pytest.fixture
def node(tmp_path: Path):
    n = Node(tmp_path, users=Users([User("root", "x", {"*": "admin"})]), node_id=7, now_ms=T0,
             rng=random.Random(1))
    yield n
    n.close()


def records_of(node: Node, database: str, **options) -> list:
    db = node.state.databases.get(database)
    conn = db.checkout()
    try:
        with catalog_snapshot.trusted(conn):
            envelopes = Envelopes(
                "mm", lambda db_name, table: catalog_snapshot.snapshot(conn, db_name).table(table),
                **options)
            return [record for entry in commitlog.iter_log(conn)
                    for record in envelopes.records(decode_write_set(entry.write_set), NOW_US)]
    finally:
        db.checkin(conn)


def test_every_column_type_matches_the_golden_file(node: Node) -> None:
    run(node, "CREATE DATABASE shop", "USE shop", ALL_TYPES, f"INSERT INTO every_type VALUES {ROW}",
        "INSERT INTO every_type (id) VALUES (2)")
    records = records_of(node, "shop")
    check_golden("every_type", records)
    after = json.loads(records[1].value)["payload"]["after"]
    # spot checks of Debezium's encodings, independent of the golden file
    assert after["flag"] is True and after["big_u"] == -1  # bigint.unsigned.handling.mode=long
    unscaled = int.from_bytes(base64.b64decode(after["price"]), "big", signed=True)
    assert Decimal(unscaled).scaleb(-2) == Decimal("-1234.50")
    assert after["day"] == 19782 and after["at"] == -1000
    assert after["at_ms"] == 1704164645678 and after["at_us"] == 1704164645000123
    assert after["stamp"] == "2024-06-01T12:00:00Z"
    assert after["span"] == -(12 * 3600 + 34 * 60 + 56) * 1_000_000 - 500_000
    assert base64.b64decode(after["bits"]) == (0b101000000001).to_bytes(2, "little")
    assert after["one_bit"] is True and base64.b64decode(after["raw"]) == b"\x00\xff\x10"
    assert json.loads(after["doc"]) == {"k": [1, 2]}


def test_update_delete_and_key_change_match_the_golden_file(node: Node) -> None:
    run(node, "CREATE DATABASE shop", "USE shop",
        "CREATE TABLE item (id INT PRIMARY KEY, n INT)",
        "BEGIN", "INSERT INTO item VALUES (1, 10), (2, 20)", "UPDATE item SET n = 11 WHERE id = 1",
        "COMMIT", "UPDATE item SET id = 3 WHERE id = 2", "DELETE FROM item WHERE id = 1",
        "ALTER TABLE item ADD COLUMN note VARCHAR(10)")
    records = records_of(node, "shop", transaction_events=True)
    check_golden("item_changes", records)
    ops = [(r.topic, None if r.value is None else json.loads(r.value)["payload"].get("op", "ddl"))
           for r in records]
    row_ops = [op for topic, op in ops if topic == "mm.shop.item"]
    # c c u | d tomb c | d tomb
    assert row_ops == ["c", "c", "u", "d", None, "c", "d", None]
    assert ops.count(("mm", "ddl")) == 2  # schema changes (CREATE, ALTER) on the prefix topic
    positions = [Position.parse(r.position) for r in records]
    by_file: dict[str, list] = {}
    for p in positions:
        by_file.setdefault(p.file, []).append(p.order())
    for orders in by_file.values():
        assert orders == sorted(orders) and len(set(orders)) == len(orders)


def test_filters_drop_records_but_not_their_positions(node: Node) -> None:
    run(node, "CREATE DATABASE shop", "USE shop", "CREATE TABLE a (id INT PRIMARY KEY)",
        "CREATE TABLE b (id INT PRIMARY KEY)", "BEGIN", "INSERT INTO a VALUES (1)",
        "INSERT INTO b VALUES (1)", "COMMIT")
    everything = records_of(node, "shop")
    only_b = records_of(node, "shop", filter=TableFilter(exclude_tables=["shop.a"]))
    assert {r.topic for r in only_b} == {"mm", "mm.shop.b"}
    assert [r.position for r in only_b] == [r.position for r in everything
                                             if r.topic != "mm.shop.a"]


def test_internal_bookkeeping_rows_are_never_published() -> None:
    from marmotdb.hlc import Timestamp
    from marmotdb.storage.schema import TableSchema
    from marmotdb.storage.writeset import ChangeOp, RowChange, WriteSet
    ts = Timestamp(T0, 0, 3)
    claims = TableSchema("__marmot_auto_increment", ("tbl", "upto"), (0,))
    users = TableSchema("t", ("id",), (0,))
    write_set = WriteSet(ts, 3, 9, ts, "shop", 1, [claims, users], [
        RowChange("__marmot_auto_increment", ChangeOp.INSERT, None, ("t",), None, ("t", 1000)),
        RowChange("t", ChangeOp.INSERT, None, (1,), None, (1,))])
    records = Envelopes("mm", lambda d, t: None).records(write_set, NOW_US)
    assert [(r.topic, r.position) for r in records] == [("mm.shop.t", "3-shop-9-1")]


def test_truncate_is_deletes_by_default_and_one_truncate_record_when_t_is_published(
        node: Node) -> None:
    run(node, "CREATE DATABASE shop", "USE shop", "CREATE TABLE item (id INT PRIMARY KEY, n INT)",
        "CREATE TABLE other (id INT PRIMARY KEY)", "INSERT INTO item VALUES (1, 1), (2, 2)",
        "TRUNCATE TABLE item", "TRUNCATE other")  # `other` is empty: no row in its write set

    def tail(records: list) -> list[tuple[str, str | None]]:  # after the CREATEs and INSERT
        return [(r.topic, None if r.value is None else
                 json.loads(r.value)["payload"].get("op", "ddl")) for r in records[4:]]
    default = records_of(node, "shop")
    assert tail(default) == [("mm.shop.item", "d"), ("mm.shop.item", None),
                             ("mm.shop.item", "d"), ("mm.shop.item", None),
                             ("mm", "ddl"), ("mm", "ddl")]
    everything = records_of(node, "shop", skipped_operations=frozenset(),
                            schemas=lambda _db, table: node_schema(node, table))
    assert tail(everything) == [("mm", "ddl"), ("mm.shop.item", "t"),
                                ("mm", "ddl"), ("mm.shop.other", "t")]
    truncate = json.loads(everything[5].value)
    assert everything[5].key is None and truncate["payload"]["before"] is None
    assert truncate["payload"]["after"] is None
    assert truncate["payload"]["source"]["table"] == "item"
    ddl_position = {r.position for r in default if r.topic == "mm"}
    assert {r.position for r in everything if r.topic == "mm"} == ddl_position
    # positions never depend on what a sink publishes: the deletes' and the truncate's differ
    assert not {r.position for r in everything[4:] if r.topic != "mm"} & \
        {r.position for r in default[4:] if r.topic != "mm"}
    no_creates = records_of(node, "shop", skipped_operations=frozenset("c"))
    assert "c" not in [json.loads(r.value)["payload"].get("op") for r in no_creates
                       if r.value is not None]


def node_schema(node: Node, table: str):
    db = node.state.databases.get("shop")
    conn = db.checkout()
    try:
        with catalog_snapshot.trusted(conn):
            return load_table_schema(conn, table)
    finally:
        db.checkin(conn)
