"""COM_STMT_*: prepare, execute with every parameter type, re-execute without types, long
data, reset, close, fetch, the statement-count bound, binary result rows."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pytest

from marmotdb.mysql import events as ev
from marmotdb.mysql.connection import ConnectionState, ProtocolSettings
from marmotdb.mysql.types import Column, ColumnFlag, FieldType, ResultSet, int_column, text_column
from tests.mysql.wire_client import (
    BASE_CAPS,
    CLIENT_DEPRECATE_EOF,
    execute_payload,
    logged_in_pair,
)


def prepare(pair, sql: str, param_count: int, columns: list[Column] | None = None) -> int:
    events = pair.command(b"\x16" + sql.encode())
    assert isinstance(events[-1], ev.StmtPrepare) and events[-1].sql == sql
    stmt_id = events[-1].stmt_id
    pair.server.send_prepare_ok(stmt_id, columns or [], param_count)
    ok = pair.read_prepare_ok()
    assert ok.stmt_id == stmt_id and len(ok.params) == param_count
    return stmt_id


@pytest.mark.parametrize("caps", [BASE_CAPS, BASE_CAPS | CLIENT_DEPRECATE_EOF])
def test_prepare_ok_describes_params_and_columns(caps):
    pair = logged_in_pair(client_caps=caps)
    pair.command(b"\x16SELECT id, name FROM t WHERE id = ? AND k > ?")
    stmt_id = pair.events[-1].stmt_id
    pair.server.send_prepare_ok(stmt_id, [int_column("id"), text_column("name")], 2)
    ok = pair.read_prepare_ok()
    assert [c.name for c in ok.columns] == ["id", "name"]
    assert [c.name for c in ok.params] == ["?", "?"]
    assert pair.server.state is ConnectionState.COMMAND


ALL_VALUES = [
    None, 0, -5, 2**63 + 7, -(2**62), 1.5, Decimal("12345.6789"), "héllo", b"\x00\x01bin",
    dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 13, 14, 15),
    dt.datetime(2024, 2, 29, 13, 14, 15, 123456), dt.timedelta(hours=-30, minutes=-5),
    dt.timedelta(hours=1, seconds=2, microseconds=5), True,
]
EXPECTED = [
    None, 0, -5, 2**63 + 7, -(2**62), 1.5, Decimal("12345.6789"), "héllo", b"\x00\x01bin",
    "2024-02-29", "2024-02-29 13:14:15", "2024-02-29 13:14:15.123456", "-30:05:00",
    "01:00:02.000005", 1,
]


def test_execute_decodes_every_parameter_type():
    pair = logged_in_pair()
    stmt_id = prepare(pair, "INSERT ...", len(ALL_VALUES))
    events = pair.command(execute_payload(stmt_id, ALL_VALUES))
    event = events[-1]
    assert isinstance(event, ev.StmtExecute) and event.stmt_id == stmt_id
    assert event.params == EXPECTED
    assert event.param_types[3] == (FieldType.LONGLONG, True)
    pair.server.send_ok(affected_rows=1)
    assert pair.read_result().affected_rows == 1


def test_reexecute_without_types_uses_the_remembered_ones():
    pair = logged_in_pair()
    stmt_id = prepare(pair, "SELECT c FROM sbtest1 WHERE id = ?", 1)
    pair.command(execute_payload(stmt_id, [42]))
    assert pair.events[-1].params == [42]
    pair.server.send_ok()
    pair.read_result()
    pair.command(execute_payload(stmt_id, [4242], send_types=False))
    assert pair.events[-1].params == [4242]
    assert pair.events[-1].param_types == [(FieldType.LONGLONG, False)]
    pair.server.send_ok()
    pair.read_result()


def test_first_execute_without_types_is_an_error_not_a_crash():
    pair = logged_in_pair()
    stmt_id = prepare(pair, "SELECT ?", 1)
    assert pair.command(execute_payload(stmt_id, [1], send_types=False)) == []
    assert pair.read_result().error_code == 1210
    assert pair.server.state is ConnectionState.COMMAND


def test_long_data_is_accumulated_and_used():
    pair = logged_in_pair()
    stmt_id = prepare(pair, "INSERT INTO t VALUES (?, ?, ?)", 3)
    for chunk in (b"abc", b"def"):
        assert pair.command(b"\x18" + struct.pack("<IH", stmt_id, 1) + chunk) == []
    assert pair.command(b"\x18" + struct.pack("<IH", stmt_id, 2) + "é".encode()) == []
    pair.command(execute_payload(stmt_id, [7, b"", ""], long_data_params=frozenset({1, 2})))
    assert pair.events[-1].params == [7, b"abcdef", "é"]
    pair.server.send_ok()
    pair.read_result()
    # consumed by the execute: the next one sends inline values again
    pair.command(execute_payload(stmt_id, [8, b"x", "y"], send_types=False))
    assert pair.events[-1].params == [8, b"x", "y"]


def test_long_data_beyond_max_allowed_packet_fails_the_execute():
    settings = ProtocolSettings(max_allowed_packet_bytes=1024)
    pair = logged_in_pair(settings=settings)
    stmt_id = prepare(pair, "INSERT INTO t VALUES (?)", 1)
    for _ in range(3):
        pair.command(b"\x18" + struct.pack("<IH", stmt_id, 0) + b"z" * 500)
    assert pair.command(execute_payload(stmt_id, [b""], long_data_params=frozenset({0}))) == []
    assert pair.read_result().error_code == 1153
    assert pair.server.state is ConnectionState.COMMAND


def test_stmt_reset_close_fetch_and_unknown_ids():
    pair = logged_in_pair()
    stmt_id = prepare(pair, "SELECT ?", 1)
    pair.command(b"\x18" + struct.pack("<IH", stmt_id, 0) + b"zzz")
    assert pair.command(b"\x1a" + struct.pack("<I", stmt_id)) == [ev.StmtReset(stmt_id)]
    pair.server.send_ok()
    pair.read_result()
    pair.command(execute_payload(stmt_id, ["inline"]))
    assert pair.events[-1].params == ["inline"]  # long data was dropped by the reset
    pair.server.send_ok()
    pair.read_result()
    assert pair.command(b"\x1c" + struct.pack("<II", stmt_id, 10)) == []
    assert pair.read_result().error_code == 1421
    assert pair.command(b"\x19" + struct.pack("<I", stmt_id)) == [ev.StmtClose(stmt_id)]
    assert pair.server.data_to_send() == b""  # no answer to a close
    pair.command(execute_payload(stmt_id, [1]))
    assert pair.read_result().error_code == 1243
    pair.command(b"\x1a" + struct.pack("<I", 999))
    assert pair.read_result().error_code == 1243


def test_max_prepared_stmt_count():
    pair = logged_in_pair(settings=ProtocolSettings(max_prepared_stmt_count=2))
    first = prepare(pair, "SELECT 1", 0)
    prepare(pair, "SELECT 2", 0)
    assert pair.command(b"\x16SELECT 3") == []
    assert pair.read_result().error_code == 1461
    pair.command(b"\x19" + struct.pack("<I", first))
    prepare(pair, "SELECT 3", 0)


@pytest.mark.parametrize("caps", [BASE_CAPS, BASE_CAPS | CLIENT_DEPRECATE_EOF])
def test_binary_result_rows_for_every_type(caps):
    pair = logged_in_pair(client_caps=caps)
    columns = [
        Column("tiny", FieldType.TINY), Column("utiny", FieldType.TINY,
                                              flags=int(ColumnFlag.UNSIGNED)),
        Column("short", FieldType.SHORT), Column("long", FieldType.LONG),
        Column("big", FieldType.LONGLONG), Column("ubig", FieldType.LONGLONG,
                                                 flags=int(ColumnFlag.UNSIGNED)),
        Column("f", FieldType.FLOAT), Column("d", FieldType.DOUBLE),
        Column("dec", FieldType.NEWDECIMAL), Column("date", FieldType.DATE),
        Column("dt", FieldType.DATETIME), Column("ts", FieldType.TIMESTAMP),
        Column("time", FieldType.TIME), Column("s", FieldType.VAR_STRING),
        Column("b", FieldType.BLOB, charset=63), Column("y", FieldType.YEAR),
    ]
    row = (-5, 250, -300, 70000, -(2**40), 2**64 - 1, 1.5, 0.1, Decimal("1.25"), "2024-02-29",
           "2024-02-29 01:02:03.5", dt.datetime(2000, 1, 1), "-838:59:59", "txt", b"\xff", 2024)
    stmt_id = prepare(pair, "SELECT ...", 0, columns)
    pair.command(execute_payload(stmt_id, []))
    pair.server.send_result_set(ResultSet(columns, [row, (None,) * len(columns)]), binary=True)
    result = pair.read_result(binary=True)
    assert result.rows[0] == (
        -5, 250, -300, 70000, -(2**40), 2**64 - 1, 1.5, 0.1, Decimal("1.25"),
        dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 1, 2, 3, 500000),
        dt.datetime(2000, 1, 1), -dt.timedelta(hours=838, minutes=59, seconds=59), b"txt",
        b"\xff", 2024)
    assert result.rows[1] == (None,) * len(columns)


def test_binary_values_that_do_not_fit_are_converted_or_widened():
    pair = logged_in_pair()
    columns = [Column("a", FieldType.LONGLONG), Column("b", FieldType.TINY),
               Column("c", FieldType.LONG), Column("d", FieldType.DOUBLE),
               Column("e", FieldType.DATETIME)]
    stmt_id = prepare(pair, "SELECT ...", 0, columns)
    pair.command(execute_payload(stmt_id, []))
    rows = [("42", 300, 2.5, "1.5", "not a date"), (7.0, 1, 3, 2, "2020-01-01")]
    pair.server.send_result_set(ResultSet(columns, rows), binary=True)
    result = pair.read_result(binary=True)
    assert [c.type for c in result.columns] == [FieldType.LONGLONG, FieldType.LONGLONG,
                                                FieldType.DOUBLE, FieldType.DOUBLE,
                                                FieldType.VAR_STRING]
    assert result.rows == [(42, 300, 2.5, 1.5, b"not a date"), (7, 1, 3.0, 2.0, b"2020-01-01")]
