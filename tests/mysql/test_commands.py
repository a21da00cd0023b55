"""The command phase: text queries, results, errors, the small commands, change user."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pytest

from marmotdb.errors import SqlError, TransientError
from marmotdb.mysql import auth
from marmotdb.mysql import events as ev
from marmotdb.mysql.connection import ConnectionState, LocalProtocolError
from marmotdb.mysql.types import Column, FieldType, ResultSet, int_column, text_column
from tests.mysql.wire_client import (
    BASE_CAPS,
    CLIENT_DEPRECATE_EOF,
    is_eof,
    logged_in_pair,
    parse_column,
    parse_err,
)

EOF_CAPS = [BASE_CAPS, BASE_CAPS | CLIENT_DEPRECATE_EOF]


def test_query_event_and_ok_with_counts():
    pair = logged_in_pair()
    assert pair.command(b"\x03INSERT INTO t VALUES (1)") == [ev.Query("INSERT INTO t VALUES (1)")]
    assert pair.server.state is ConnectionState.ANSWERING
    pair.server.send_ok(affected_rows=3, last_insert_id=70000, status_flags=3, warnings=1,
                        info="Records: 3")
    ok = pair.read_result()
    assert (ok.kind, ok.affected_rows, ok.last_insert_id, ok.status, ok.warnings, ok.info) == \
        ("ok", 3, 70000, 3, 1, "Records: 3")
    assert pair.server.state is ConnectionState.COMMAND


@pytest.mark.parametrize("caps", EOF_CAPS)
def test_text_result_set_with_and_without_deprecate_eof(caps):
    pair = logged_in_pair(client_caps=caps)
    pair.command(b"\x03SELECT ...")
    columns = [int_column("id"), text_column("name"), Column("price", FieldType.NEWDECIMAL),
               Column("at", FieldType.DATETIME), Column("ratio", FieldType.DOUBLE),
               Column("data", FieldType.BLOB, charset=63)]
    rows = [(1, "ä", Decimal("9.99"), dt.datetime(2024, 2, 3, 4, 5, 6), 0.5, b"\x00\xff"),
            (2, None, None, "2024-01-01 00:00:00", 1e20, b"")]
    pair.server.send_result_set(ResultSet(columns, rows), status_flags=2)
    result = pair.read_result()
    assert [c.name for c in result.columns] == ["id", "name", "price", "at", "ratio", "data"]
    assert [c.type for c in result.columns] == [8, 253, 246, 12, 5, 252]
    assert result.rows == [
        (b"1", "ä".encode(), b"9.99", b"2024-02-03 04:05:06", b"0.5", b"\x00\xff"),
        (b"2", None, None, b"2024-01-01 00:00:00", b"1e20", b""),
    ]
    assert result.status == 2
    assert pair.server.state is ConnectionState.COMMAND


@pytest.mark.parametrize("caps", EOF_CAPS)
def test_multiple_results_carry_more_results_exists(caps):
    pair = logged_in_pair(client_caps=caps)
    pair.command(b"\x03SELECT 1; UPDATE t SET a=1; SELECT 2")
    one = ResultSet([int_column("1")], [(1,)])
    pair.server.send_result_set(one, more_results=True)
    assert pair.server.state is ConnectionState.ANSWERING
    pair.server.send_ok(affected_rows=5, more_results=True)
    pair.server.send_result_set(ResultSet([int_column("2")], [(2,)]))
    first, second, third = pair.read_result(), pair.read_result(), pair.read_result()
    assert first.rows == [(b"1",)] and first.status & 8
    assert second.affected_rows == 5 and second.status & 8
    assert third.rows == [(b"2",)] and not third.status & 8
    assert pair.server.state is ConnectionState.COMMAND


def test_error_ends_the_answer_and_connection_stays_usable():
    pair = logged_in_pair()
    pair.command(b"\x03SELEC 1")
    pair.server.send_error(SqlError("You have an error in your SQL syntax"))
    err = pair.read_result()
    assert (err.error_code, err.sqlstate) == (1064, "42000")
    pair.command(b"\x03SELECT 1")
    pair.server.send_error(TransientError("Deadlock found", code=1213, sqlstate="40001"))
    assert pair.read_result().error_code == 1213
    assert pair.server.state is ConnectionState.COMMAND


def test_status_flags_persist_until_changed():
    pair = logged_in_pair()
    pair.command(b"\x03BEGIN")
    pair.server.send_ok(status_flags=3)  # autocommit + in transaction
    assert pair.read_result().status == 3
    pair.command(b"\x03SELECT 1")
    pair.server.send_result_set(ResultSet([int_column("1")], [(1,)]))
    assert pair.read_result().status == 3
    pair.command(b"\x03COMMIT")
    pair.server.send_ok(status_flags=2)
    assert pair.read_result().status == 2


def test_unknown_command_is_1047_and_keeps_going():
    pair = logged_in_pair()
    assert pair.command(b"\x05dbname") == []  # COM_CREATE_DB: not served
    err = parse_err(pair.read())
    assert err.error_code == 1047
    pair.command(b"\x0e")
    assert pair.events[-1] == ev.Ping()
    pair.server.send_ok()
    assert pair.read_result().kind == "ok"


def test_ping_init_db_statistics():
    pair = logged_in_pair()
    assert pair.command(b"\x02shop") == [ev.InitDb("shop")]
    pair.server.send_ok()
    assert pair.read_result().kind == "ok"
    assert pair.server.database == "shop"
    assert pair.command(b"\x09") == [ev.Statistics()]
    pair.server.send_statistics("Uptime: 5  Threads: 1")
    assert pair.read() == b"Uptime: 5  Threads: 1"


def test_process_kill_is_the_kill_statement():
    """COM_PROCESS_KILL (PyMySQL's and aiomysql's kill()): KILL <id>, answered OK or ERR."""
    pair = logged_in_pair()
    assert pair.command(b"\x0c" + struct.pack("<I", 77)) == [ev.Query("KILL 77")]
    pair.server.send_ok()
    assert pair.read_result().kind == "ok"
    events = pair.command(b"\x0c\x01")  # no 4-byte id: malformed, closed (as MySQL)
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert parse_err(pair.read()).error_code == 1835


@pytest.mark.parametrize("caps", EOF_CAPS)
def test_field_list(caps):
    pair = logged_in_pair(client_caps=caps)
    assert pair.command(b"\x04items\x00%") == [ev.FieldList("items", "%")]
    pair.server.send_field_list([int_column("id"), text_column("name")])
    first = pair.read()
    assert parse_column(first[:-1]).name == "id" and first.endswith(b"\xfb")
    assert parse_column(pair.read()[:-1]).name == "name"
    end = pair.read()
    assert is_eof(end)
    with pytest.raises(LocalProtocolError):
        pair.server.send_ok()


def test_quit_closes_without_answer():
    pair = logged_in_pair()
    assert pair.command(b"\x01") == [ev.Quit()]
    assert pair.server.should_close and pair.server.data_to_send() == b""


def test_peer_close_is_reported_once():
    pair = logged_in_pair()
    assert pair.to_server(b"") == [ev.ConnectionClosed(None)]
    assert pair.server.next_event() is None
    assert pair.server.should_close


def test_peer_close_mid_packet_is_a_read_error():
    pair = logged_in_pair()
    pair.to_server(b"\x10\x00\x00\x00\x03SEL")
    events = pair.to_server(b"")
    assert isinstance(events[-1], ev.ConnectionClosed) and events[-1].error.code == 1158


def test_pipelined_commands_wait_for_each_answer():
    pair = logged_in_pair()
    data = b"".join(pair.client.frame(b"\x03SELECT %d" % i, new_command=True) for i in range(3))
    assert pair.to_server(data) == [ev.Query("SELECT 0")]
    assert pair.server.next_event() is None  # answer owed
    for i in range(3):
        pair.client.seq = 1  # each pipelined command's answer starts at 1
        pair.server.send_ok(affected_rows=i)
        assert pair.read_result().affected_rows == i
        if i < 2:
            assert pair.drain() == [ev.Query(f"SELECT {i + 1}")]


def test_reset_connection_drops_prepared_statements():
    pair = logged_in_pair()
    pair.command(b"\x16SELECT ?")
    pair.server.send_prepare_ok(pair.events[-1].stmt_id, [int_column("x")], 1)
    assert pair.read_prepare_ok().stmt_id == 1
    assert pair.command(b"\x1f") == [ev.ResetConnection()]
    pair.server.send_ok()
    assert pair.read_result().kind == "ok"
    pair.command(b"\x17" + struct.pack("<IBI", 1, 0, 1) + b"\x00\x01\x08\x00" + bytes(8))
    assert pair.read_result().error_code == 1243


def test_query_text_keeps_non_utf8_bytes_recoverable():
    pair = logged_in_pair()
    raw = b"INSERT INTO t VALUES ('\xff\xfe')"
    event = pair.command(b"\x03" + raw)[0]
    assert event.sql.encode("utf-8", "surrogateescape") == raw


def test_change_user_reruns_auth_and_resets_statements():
    pair = logged_in_pair()
    pair.users["other"] = auth.make_credential("pw2", iterations=1000)
    answer = auth.scramble_native("pw2", pair.client.greeting.scramble)
    body = (b"\x11other\x00" + bytes([len(answer)]) + answer + b"db2\x00"
            + struct.pack("<H", 255) + b"mysql_native_password\x00")
    events = pair.command(body)
    assert isinstance(events[-1], ev.Authenticated)
    assert (events[-1].user, events[-1].database, events[-1].change_user) == \
        ("other", "db2", True)
    pair.server.accept_login()
    assert pair.read_result().kind == "ok"
    assert pair.server.user == "other" and pair.server.database == "db2"


def test_change_user_with_wrong_password_closes():
    pair = logged_in_pair()
    body = b"\x11app\x00" + bytes([20]) + bytes(20) + b"\x00" + b"\xff\x00" \
        + b"mysql_native_password\x00"
    events = pair.command(body)
    assert isinstance(events[-1], ev.ConnectionClosed)
    assert parse_err(pair.read()).error_code == 1045


def test_set_option_toggles_multi_statements():
    pair = logged_in_pair()
    assert pair.server.multi_statements
    assert pair.command(b"\x1b\x01\x00") == []
    assert is_eof(pair.read())
    assert not pair.server.multi_statements


def test_value_not_fitting_its_column_widens_the_column():
    pair = logged_in_pair()
    pair.command(b"\x03SELECT avg(x), y FROM t")
    columns = [int_column("avg"), int_column("y")]
    pair.server.send_result_set(ResultSet(columns, [(2.5, "abc"), (2, 3)]))
    result = pair.read_result()
    assert [c.type for c in result.columns] == [FieldType.DOUBLE, FieldType.VAR_STRING]
    assert result.rows == [(b"2.5", b"abc"), (b"2", b"3")]


def test_large_result_row_over_16mib_is_split():
    pair = logged_in_pair()
    pair.command(b"\x03SELECT big")
    big = b"x" * (17 << 20)
    pair.server.send_result_set(ResultSet([Column("b", FieldType.LONG_BLOB, charset=63)],
                                          [(big,)]))
    result = pair.read_result()
    assert result.rows == [(big,)]


def test_local_infile_request_data_and_answer():
    """LOAD DATA LOCAL: 0xFB + file name, the client's packets as events (sequence ids go on
    from the request), the empty packet ends them, then the Query is answered."""
    pair = logged_in_pair()
    assert pair.command(b"\x03LOAD DATA LOCAL INFILE 'f' INTO TABLE t") == [
        ev.Query("LOAD DATA LOCAL INFILE 'f' INTO TABLE t")]
    pair.server.request_local_infile("f")
    assert pair.read() == b"\xfbf"
    assert pair.server.state is ConnectionState.INFILE
    assert pair.send(b"1\ta\n2\t") == [ev.LocalInfileData(b"1\ta\n2\t")]
    assert pair.send(b"b\n") == [ev.LocalInfileData(b"b\n")]
    assert pair.send(b"") == [ev.LocalInfileEnd()]
    assert pair.server.state is ConnectionState.ANSWERING
    pair.server.send_ok(affected_rows=2, info="Records: 2  Deleted: 0  Skipped: 0  Warnings: 0")
    ok = pair.read_result()
    assert (ok.kind, ok.affected_rows, ok.info) == (
        "ok", 2, "Records: 2  Deleted: 0  Skipped: 0  Warnings: 0")
    assert pair.server.state is ConnectionState.COMMAND
    assert pair.command(b"\x0e") == [ev.Ping()]


def test_local_infile_only_answers_a_query():
    pair = logged_in_pair()
    pair.command(b"\x0e")
    with pytest.raises(LocalProtocolError):
        pair.server.request_local_infile("f")


def test_local_files_capability_is_offered():
    from marmotdb.mysql.packets import CLIENT_LOCAL_FILES, SERVER_CAPABILITIES
    assert SERVER_CAPABILITIES & CLIENT_LOCAL_FILES
