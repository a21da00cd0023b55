"""Cluster clients: MySQL sessions on every node running workload operations, one at a time.

Each ``ClusterClient`` is bound to one node (an application server beside it) and runs
operations back to back until the workload phase ends: connect (``USE``, its write and read
levels),
then each operation's statements, each sent when the previous reply arrived. ``Clients``
drives them all on the world's timeline and keeps the history honest:

* an error on the commit point (the COMMIT of an explicit transaction, the statement of an
  autocommit write) decides the outcome: 1180 unknown, anything else failed (not committed);
  an error earlier in an explicit transaction fails it and the client rolls back;
* when the node dies, replies it sent before the instant still arrive (they are on the wire);
  then the session is gone: the operation in flight is ``unknown`` if its commit point was in
  flight, else ``fail`` (its transaction died with the session); the client reconnects once
  the node is back.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from marmotdb.errors import MarmotError
from marmotdb.node import Reply
from marmotdb.sim.cluster_workloads import (
    DATABASE,
    OUTCOME_UNKNOWN,
    WORKLOADS,
    Operation,
    Values,
    Workload,
)
from marmotdb.sim.cluster_world import CLIENT_LINK_US, ClusterWorld

RECONNECT_US = 300_000
STATEMENT_THINK_US = (0, 3_000)  # between the statements of one explicit transaction


@dataclass(eq=False)
class ClusterClient:
    """One MySQL client on one node: a session, one operation at a time, a history."""

    index: int
    node_id: int
    workload: Workload
    rng: random.Random
    level: str                     # marmot_write_consistency of its session
    read_level: str = "LOCAL"      # marmot_read_consistency of its session
    session: tuple[int, int] | None = None  # (node generation, session id)
    configuring: list[str] = field(default_factory=list)
    current: Operation | None = None
    statement: str | None = None   # in flight
    request_id: int = 0
    rolling_back: bool = False
    history: list[Operation] = field(default_factory=list)

    def think_us(self) -> int:
        return self.rng.choice([1, 2, 5, 10, 20, 50, 200]) * 1000

    def begin(self, now_us: int) -> str:
        op = self.workload.next(self)
        op.invoke_us = now_us
        self.current = op
        self.history.append(op)
        assert op.script is not None
        return next(op.script)

    def at_commit_point(self) -> bool:
        op = self.current
        return op is not None and op.writes and self.statement is not None and (
            not op.explicit or self.statement == "COMMIT")


def make_clients(rng: random.Random, node_ids: list[int], per_node: int,
                 ddl: bool = False) -> list[ClusterClient]:
    """``per_node`` clients on each node, each with a workload, a write and a read level;
    with ``ddl``, one more on the first node running the DDL cycle at QUORUM."""
    values = Values()
    workloads = {name: Workload(name, values) for name in WORKLOADS}
    clients: list[ClusterClient] = []
    for node_id in node_ids:
        for _ in range(per_node):
            name = rng.choice(WORKLOADS)
            level = rng.choice(["QUORUM", "QUORUM", "QUORUM", "ALL"])
            if name == "set" and rng.random() < 0.3:
                level = "ONE"  # unique inserts converge under last-write-wins too
            read_level = rng.choice(["LOCAL", "QUORUM"])
            clients.append(ClusterClient(len(clients), node_id, workloads[name],
                                         random.Random(rng.getrandbits(64)), level,
                                         read_level))
    if ddl:  # drawn after the others: their streams are those of a run without it
        clients.append(ClusterClient(len(clients), node_ids[0], Workload("ddl", values),
                                     random.Random(rng.getrandbits(64)), "QUORUM", "LOCAL"))
    return clients


class Clients:
    """Drives every client on the world's timeline until ``stop_us``."""

    def __init__(self, world: ClusterWorld, clients: list[ClusterClient], stop_us: int):
        self.world = world
        self.clients = clients
        self.stop_us = stop_us
        self._by_session: dict[tuple[int, int, int], ClusterClient] = {}

    def start(self, at_us: int) -> None:
        self.world.on_reply = self._on_reply
        self.world.on_crash = self._on_crash
        for client in self.clients:
            self.world.at(at_us + client.rng.randint(0, 20_000), self._connect, client)

    @property
    def history(self) -> list[Operation]:
        return sorted((op for c in self.clients for op in c.history),
                      key=lambda op: (op.invoke_us, op.client))

    def busy(self) -> list[ClusterClient]:
        return [c for c in self.clients if c.current is not None]

    # ------------------------------------------------------------------ sessions
    def _connect(self, client: ClusterClient) -> None:
        world = self.world
        if world.now_us >= self.stop_us and client.current is None:
            return
        session_id = world.open_session(client.node_id)
        if session_id is None:
            if client.current is None:  # nothing to finish: try again later
                world.at(world.now_us + RECONNECT_US, self._connect, client)
            return
        generation = world.machines[client.node_id].generation
        client.session = (generation, session_id)
        self._by_session[(client.node_id, generation, session_id)] = client
        client.configuring = [f"USE {DATABASE}",
                              f"SET marmot_write_consistency = '{client.level}'",
                              f"SET marmot_read_consistency = '{client.read_level}'"]
        self._send(client, client.configuring.pop(0))

    def _on_crash(self, node_id: int) -> None:
        """The node died: replies it sent are still on the wire; then its sessions are gone."""
        after_us = self.world.now_us + CLIENT_LINK_US[1] + 1
        for client in self.clients:
            if client.node_id == node_id and client.session is not None:
                self.world.at(after_us, self._session_lost, client, client.session)

    def _session_lost(self, client: ClusterClient, session: tuple[int, int]) -> None:
        if client.session != session:
            return
        self._by_session.pop((client.node_id, *session), None)
        client.session = None
        op = client.current
        if op is not None:
            unknown = client.at_commit_point()
            self._complete(client, "unknown" if unknown else "fail", None)
        client.statement, client.rolling_back, client.configuring = None, False, []
        self.world.at(self.world.now_us + RECONNECT_US, self._connect, client)

    # ------------------------------------------------------------------ statements
    def _send(self, client: ClusterClient, sql: str) -> None:
        world = self.world
        machine = world.machines[client.node_id]
        if client.session is None:
            return
        if client.session[0] != machine.generation or not machine.is_up:
            self.world.at(world.now_us, self._session_lost, client, client.session)
            return
        client.request_id += 1
        client.statement = sql
        world.submit(client.node_id, client.session[1], client.request_id, sql)

    def _next(self, client: ClusterClient) -> None:
        """The client is between operations: start the next one, or stop."""
        if client.session is None or client.statement is not None:
            return
        if self.world.now_us >= self.stop_us:
            return
        self._send(client, client.begin(self.world.now_us))

    def _on_reply(self, node_id: int, generation: int, reply: Reply) -> None:
        client = self._by_session.get((node_id, generation, reply.session_id))
        if client is None or reply.request_id != client.request_id \
                or client.statement is None:
            return
        sql, client.statement = client.statement, None
        if client.configuring or sql.startswith(("USE ", "SET marmot")):
            self._configured(client, reply)
        elif client.rolling_back:
            client.rolling_back = False
            self._later(client, client.think_us(), self._next)
        elif reply.error is not None:
            self._failed(client, sql, reply.error)
        else:
            self._succeeded(client, reply)

    def _configured(self, client: ClusterClient, reply: Reply) -> None:
        if reply.error is not None:  # e.g. the database is not there yet: connect again
            self.world.at(self.world.now_us + RECONNECT_US, self._session_lost, client,
                          client.session)
            return
        if client.configuring:
            self._send(client, client.configuring.pop(0))
        else:
            self._next(client)

    def _succeeded(self, client: ClusterClient, reply: Reply) -> None:
        op = client.current
        assert op is not None and op.script is not None
        try:
            sql = op.script.send(reply)
        except StopIteration:
            self._complete(client, "ok", None)
            self._later(client, client.think_us(), self._next)
            return
        self._later(client, client.rng.randint(*STATEMENT_THINK_US),
                    lambda c: self._send(c, sql))

    def _failed(self, client: ClusterClient, sql: str, error: MarmotError) -> None:
        op = client.current
        assert op is not None
        at_commit = not op.explicit or sql == "COMMIT"
        outcome = "unknown" if at_commit and error.code in OUTCOME_UNKNOWN else "fail"
        op.error_text = str(error)[:200]
        self._complete(client, outcome, error.code)
        if op.explicit and not at_commit:
            client.rolling_back = True
            self._send(client, "ROLLBACK")
            return
        self._later(client, client.think_us(), self._next)

    def _complete(self, client: ClusterClient, outcome: str, code: int | None) -> None:
        op = client.current
        assert op is not None
        op.outcome, op.error, op.complete_us = outcome, code, self.world.now_us
        if op.script is not None:
            op.script.close()
        client.current = None

    def _later(self, client: ClusterClient, delay_us: int,
               action: Callable[[ClusterClient], None]) -> None:
        session = client.session

        def run() -> None:
            if client.session == session:
                action(client)
        self.world.at(self.world.now_us + delay_us, run)
