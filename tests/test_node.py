"""The sans-I/O node: inputs with now_ms in, replies / frames / deadlines out, no clock inside."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from marmotdb.cluster.messages import Ping
from marmotdb.node import CloseSession, Node, Reply, SendFrame
from marmotdb.peer.address import NodeAddr
from marmotdb.peer.codec import FrameCodec
from marmotdb.sql.results import Ok, Rows
from marmotdb.users import User, Users

T0 = 1_700_000_000_000


@pytest.fixture
def node(tmp_path: Path):
    n = Node(tmp_path, users=Users([User("root", "x", {"*": "admin"})]), node_id=1, now_ms=T0,
             rng=random.Random(1))
    setup = n.open_session("root", now_ms=T0)
    for i, sql in enumerate(["CREATE DATABASE shop", "USE shop",
                             "CREATE TABLE item (id INT PRIMARY KEY, n INT)"]):
        n.submit(setup, i, sql, now_ms=T0)
    assert all(r.error is None for r in n.take_outputs())
    n.close_session(setup, now_ms=T0)
    yield n
    n.close()


def replies(node: Node) -> list[Reply]:
    outputs = node.take_outputs()
    assert all(isinstance(o, Reply) for o in outputs), outputs
    return outputs  # type: ignore[return-value]


def open_shop(node: Node) -> int:
    return node.open_session("root", now_ms=node.now_ms, database="shop")


def test_a_statement_is_answered_with_its_request_id(node: Node) -> None:
    s = open_shop(node)
    node.submit(s, 7, "INSERT INTO item VALUES (1, 10)", now_ms=T0 + 1)
    (reply,) = replies(node)
    assert (reply.session_id, reply.request_id, reply.error) == (s, 7, None)
    assert isinstance(reply.result, Ok) and reply.result.affected_rows == 1
    node.submit(s, 8, "SELECT n FROM item", now_ms=T0 + 2)
    (reply,) = replies(node)
    assert isinstance(reply.result, Rows) and [tuple(r) for r in reply.result.rows] == [(10,)]
    node.submit(s, 9, "INSERT INTO item VALUES (1, 11)", now_ms=T0 + 3)
    (reply,) = replies(node)
    assert reply.result is None and reply.error is not None and reply.error.code == 1062


def test_lock_wait_timeout_runs_on_the_nodes_clock(node: Node) -> None:
    a, b = open_shop(node), open_shop(node)
    node.submit(a, 1, "BEGIN", now_ms=T0)
    node.submit(a, 2, "INSERT INTO item VALUES (1, 1)", now_ms=T0)
    node.submit(b, 1, "SET innodb_lock_wait_timeout = 1", now_ms=T0)
    assert len(replies(node)) == 3
    node.submit(b, 2, "INSERT INTO item VALUES (2, 2)", now_ms=T0 + 10)
    assert replies(node) == []  # waits for the turn
    assert node.next_deadline_ms() == T0 + 10 + 1000
    node.handle_timer(T0 + 1009)
    assert replies(node) == []
    node.handle_timer(T0 + 1010)
    (reply,) = replies(node)
    assert reply.session_id == b and reply.error is not None and reply.error.code == 1205
    assert node.next_deadline_ms() is None


def test_writes_unblocked_by_one_commit_share_one_batch(node: Node) -> None:
    a, b, c = open_shop(node), open_shop(node), open_shop(node)
    node.submit(a, 1, "BEGIN", now_ms=T0)
    node.submit(a, 2, "INSERT INTO item VALUES (1, 1)", now_ms=T0)
    node.submit(b, 1, "INSERT INTO item VALUES (2, 2)", now_ms=T0)
    node.submit(c, 1, "INSERT INTO item VALUES (3, 3)", now_ms=T0)
    assert [r.session_id for r in replies(node)] == [a, a]
    pipeline = node.state.pipelines["shop"]
    before = (pipeline.batches, pipeline.batched_txns)
    node.submit(a, 3, "COMMIT", now_ms=T0 + 1)
    assert sorted(r.session_id for r in replies(node)) == sorted([a, b, c])
    assert (pipeline.batches, pipeline.batched_txns) == (before[0] + 1, before[1] + 3)


def test_inputs_of_one_iteration_share_one_batch(node: Node) -> None:
    sessions = [open_shop(node) for _ in range(4)]
    pipeline = node.state.pipelines.get("shop") or None
    before = (pipeline.batches, pipeline.batched_txns) if pipeline else (0, 0)
    with node.iteration():
        for i, s in enumerate(sessions):
            node.submit(s, 1, f"INSERT INTO item VALUES ({i}, {i})", now_ms=T0)
        assert node.take_outputs() == []  # nothing deferred has run: no batch COMMIT yet
    assert sorted(r.session_id for r in replies(node)) == sorted(sessions)
    pipeline = node.state.pipelines["shop"]
    assert (pipeline.batches - before[0], pipeline.batched_txns - before[1]) == (1, 4)


def test_sleep_delays_the_reply_on_a_timer(node: Node) -> None:
    s = open_shop(node)
    node.submit(s, 1, "SELECT SLEEP(2)", now_ms=T0)
    assert replies(node) == []
    assert node.next_deadline_ms() == T0 + 2000
    node.handle_timer(T0 + 2000)
    (reply,) = replies(node)
    assert reply.request_id == 1 and reply.error is None


def test_closing_a_session_rolls_back_and_passes_the_turn(node: Node) -> None:
    a, b = open_shop(node), open_shop(node)
    node.submit(a, 1, "BEGIN", now_ms=T0)
    node.submit(a, 2, "INSERT INTO item VALUES (1, 1)", now_ms=T0)
    node.submit(b, 1, "INSERT INTO item VALUES (2, 2)", now_ms=T0)
    assert len(replies(node)) == 2
    node.close_session(a, now_ms=T0 + 1)
    (reply,) = replies(node)
    assert reply.session_id == b and reply.error is None
    node.submit(b, 2, "SELECT id FROM item", now_ms=T0 + 2)
    (reply,) = replies(node)
    assert [tuple(r) for r in reply.result.rows] == [(2,)]  # type: ignore[union-attr]


def test_one_request_in_flight_per_session(node: Node) -> None:
    a, b = open_shop(node), open_shop(node)
    node.submit(a, 1, "BEGIN", now_ms=T0)
    node.submit(a, 2, "INSERT INTO item VALUES (1, 1)", now_ms=T0)
    node.submit(b, 1, "INSERT INTO item VALUES (2, 2)", now_ms=T0)
    with pytest.raises(RuntimeError):
        node.submit(b, 2, "SELECT 1", now_ms=T0)


def test_kill_connection_asks_the_host_to_close_it(node: Node) -> None:
    a, b = open_shop(node), open_shop(node)
    node.submit(a, 1, f"KILL CONNECTION {b}", now_ms=T0)
    outputs = node.take_outputs()
    assert CloseSession(b) in outputs
    assert any(isinstance(o, Reply) and o.session_id == a for o in outputs)


def test_outputs_go_to_the_callback_when_given(tmp_path: Path) -> None:
    seen: list[object] = []
    n = Node(tmp_path, users=Users([User("root", "x", {"*": "admin"})]), node_id=1,
             now_ms=T0, rng=random.Random(1), on_output=seen.append)
    s = n.open_session("root", now_ms=T0)
    n.submit(s, 1, "SELECT 1", now_ms=T0)
    assert n.take_outputs() == [] and len(seen) == 1 and isinstance(seen[0], Reply)
    n.close()


def test_unknown_user_is_refused(node: Node) -> None:
    with pytest.raises(Exception) as info:
        node.open_session("nobody", now_ms=T0)
    assert getattr(info.value, "code", None) == 1045


class FakeSwim:
    """Stands in for cluster.swim.SwimNode: records calls, sends through the node."""

    def __init__(self, transport) -> None:
        self.transport, self.frames, self.ticks, self.deadline_ms = transport, [], [], T0 + 500

    def receive_frame(self, src, frame: bytes, now_ms: int) -> None:
        self.frames.append((src, frame, now_ms))
        self.transport.send(src, b"ack:" + frame, False)

    def next_deadline_ms(self) -> int:
        return self.deadline_ms

    def handle_timer(self, now_ms: int) -> None:
        self.ticks.append(now_ms)
        self.deadline_ms = now_ms + 500


def test_membership_passthrough(node: Node) -> None:
    swim = FakeSwim(node.peer_transport)
    node.attach_membership(swim)
    ping = FrameCodec([b"a-cluster-secret-for-the-tests"]).encode(Ping(1, 2, NodeAddr("10.0.0.2", 7946), 1))
    node.receive_frame(("10.0.0.2", 7946), ping, now_ms=T0 + 1)
    assert swim.frames == [(("10.0.0.2", 7946), ping, T0 + 1)]
    assert node.take_outputs() == [SendFrame(("10.0.0.2", 7946), b"ack:" + ping, False)]
    assert node.next_deadline_ms() == T0 + 500
    node.handle_timer(T0 + 499)
    assert swim.ticks == []
    node.handle_timer(T0 + 500)
    assert swim.ticks == [T0 + 500] and node.next_deadline_ms() == T0 + 1000



def test_a_failure_after_joining_the_batch_is_not_masked(tmp_path: Path) -> None:
    class Injected(Exception):
        pass

    armed = []

    def fault(point: str, database: str | None = None) -> None:
        if armed and point == "joined_batch":
            raise Injected(point)

    n = Node(tmp_path, users=Users([User("root", "x", {"*": "admin"})]), node_id=1,
             now_ms=T0, rng=random.Random(1), fault=fault)
    s = n.open_session("root", now_ms=T0)
    for i, sql in enumerate(["CREATE DATABASE shop", "USE shop",
                             "CREATE TABLE item (id INT PRIMARY KEY, n INT)"]):
        n.submit(s, i, sql, now_ms=T0)
    n.take_outputs()
    armed.append(True)
    n.submit(s, 9, "INSERT INTO item VALUES (1, 1)", now_ms=T0)
    (reply,) = replies(n)
    assert reply.error is not None
    assert isinstance(n.internal_errors[0], Injected), n.internal_errors


def test_a_statement_waiting_for_the_turn_does_not_run_after_its_client_left(node: Node
                                                                            ) -> None:
    a, b = open_shop(node), open_shop(node)
    node.submit(a, 1, "BEGIN", now_ms=T0)
    node.submit(a, 2, "INSERT INTO item VALUES (1, 1)", now_ms=T0)
    node.submit(b, 1, "INSERT INTO item VALUES (2, 2)", now_ms=T0)  # waits for the turn
    node.close_session(b, now_ms=T0 + 1)
    node.submit(a, 3, "COMMIT", now_ms=T0 + 2)
    node.submit(a, 4, "SELECT id FROM item", now_ms=T0 + 3)
    last = replies(node)[-1]
    assert [tuple(r) for r in last.result.rows] == [(1,)]  # type: ignore[union-attr]


def test_concurrent_ddl_sees_the_batch_it_runs_in(node: Node) -> None:
    a, b = open_shop(node), open_shop(node)
    with node.iteration():  # two clients' DDL read in one event-loop iteration: one batch
        node.submit(a, 1, "ALTER TABLE item MODIFY n BIGINT NOT NULL", now_ms=T0)
        node.submit(b, 1, "ALTER TABLE item ADD COLUMN note VARCHAR(10)", now_ms=T0)
    assert all(r.error is None for r in replies(node))
    node.submit(a, 2, "SHOW CREATE TABLE item", now_ms=T0)
    (reply,) = replies(node)
    ddl = reply.result.rows[0][1]  # type: ignore[union-attr]
    assert "`note`" in ddl and "`n` bigint NOT NULL" in ddl, ddl
