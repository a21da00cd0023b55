"""The MySQL listener: asyncio glue between sockets, the protocol machine and sessions.

One ``MysqlProtocol`` per client (asyncio.Protocol on uvloop: no per-packet await). Bytes go
into ``ServerConnection``; its events are answered by a ``Session``. Most statements finish in
the event loop without any await. Two cases leave the fast path; meanwhile the connection's
further commands wait in the protocol machine's buffer:

* a ``txn.Pending`` result: the statement waits for a database's write turn or for the group
  commit that makes it durable; the answer is sent from the Pending's callback. The commit
  pipelines run on this loop (``LoopHost``): deferred work with ``call_soon``, lock-wait
  deadlines with ``call_later``;
* ``LongRead``: finish the read in a worker thread (a task), with max_execution_time enforced
  by interrupting the SQLite connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.mysql import events as ev
from marmotdb.mysql.auth import FastAuthCache
from marmotdb.mysql.client_text import shown
from marmotdb.mysql.connection import ProtocolSettings, ServerConnection
from marmotdb.mysql.incident import internal_error
from marmotdb.mysql.login_throttle import LoginThrottle
from marmotdb.mysql.types import ResultSet
from marmotdb.sql import catalog
from marmotdb.sql.results import LongRead, Ok, Result
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.sql.shape import split_statements
from marmotdb.txn.pending import Pending
from marmotdb.txn.pipeline import Timer

logger = logging.getLogger("marmotdb.mysql")
CLIENT_FOUND_ROWS = 2


class LoopHost:
    """The commit pipelines' host (txn.pipeline.Host) on the running event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: ThreadPoolExecutor):
        self._loop = loop
        self._pool = pool  # durability syncs: short, never behind long reads

    def defer(self, callback: Any) -> None:
        self._loop.call_soon(callback)

    def call_later(self, delay_s: float, callback: Any) -> Timer:
        return self._loop.call_later(delay_s, callback)

    def run_blocking(self, work: Any, done: Any) -> None:
        """``work`` on a worker thread, then ``done(error or None)`` back on the loop."""
        future = self._loop.run_in_executor(self._pool, work)
        future.add_done_callback(lambda f: done(f.exception()))


class MysqlService:
    """Node-wide listener state: the server state, TLS, connection ids, lock waiters."""

    def __init__(self, state: ServerState, *, server_version: str, ssl_context: ssl.SSLContext | None,
                 rsa_key: Any, settings: ProtocolSettings, max_connections: int,
                 handshake_timeout_s: float, login_throttle: LoginThrottle | None = None,
                 read_threads: int = 4):
        self.state = state
        self.server_version = server_version
        self.ssl_context = ssl_context
        self.rsa_key = rsa_key
        self.settings = settings
        self.max_connections = max_connections
        self.handshake_timeout_s = handshake_timeout_s
        self.read_pool = ThreadPoolExecutor(max_workers=read_threads, thread_name_prefix="read")
        self.connections: dict[int, MysqlProtocol] = {}
        self._next_id = 1
        self._rng = random.SystemRandom()
        self.closing = False
        state.kill_hook = self._killed
        loop = asyncio.get_running_loop()
        # failed logins, per user and host (its clock must be the loop's: it sets call_at)
        self.login_throttle = login_throttle or LoginThrottle(loop.time)
        self.fast_auth_cache = FastAuthCache()  # caching_sha2's fast path after one full auth
        # WAL syncs and checkpoints: at most one of each per database in flight
        self.sync_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wal")
        state.host = LoopHost(loop, self.sync_pool)  # before any pipeline exists

    def next_connection_id(self) -> int:
        connection_id = self._next_id
        self._next_id += 1
        return connection_id

    def protocol(self) -> MysqlProtocol:
        return MysqlProtocol(self)

    def _killed(self, connection_id: int, query_only: bool) -> None:
        protocol = self.connections.get(connection_id)
        if protocol is not None and not query_only:
            protocol.kill()

    @property
    def busy(self) -> int:
        return sum(1 for p in self.connections.values() if p.busy)


class MysqlProtocol(asyncio.Protocol):
    def __init__(self, service: MysqlService):
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.conn: ServerConnection | None = None
        self.session: Session | None = None
        self.task: asyncio.Task[None] | None = None
        self.waiting: Pending | None = None  # a statement's answer not known yet
        self._hold_timer: asyncio.TimerHandle | None = None  # a throttled login's answer
        self._reading_paused = False
        self.plans: dict[int, Any] = {}
        self.connection_id = 0
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._dispatch = {
            ev.Authenticated: self._on_authenticated, ev.Query: self._on_query,
            ev.InitDb: self._on_init_db, ev.Ping: self._on_ping, ev.Quit: self._on_quit,
            ev.FieldList: self._on_field_list, ev.Statistics: self._on_statistics,
            ev.ResetConnection: self._on_reset, ev.StmtPrepare: self._on_prepare,
            ev.StmtExecute: self._on_execute, ev.StmtReset: self._on_stmt_reset,
            ev.StmtClose: self._on_stmt_close, ev.ConnectionClosed: self._on_closed,
        }

    # ------------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:  # answers are single small writes: never wait for Nagle
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        service = self.service
        self.connection_id = service.next_connection_id()
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.conn = ServerConnection(
            connection_id=self.connection_id, rng=service._rng,
            lookup_user=service.state.users.credential, server_version=service.server_version,
            ssl_context=service.ssl_context, rsa_private_key=service.rsa_key,
            settings=service.settings, peer_host=str(peer[0]),
            login_throttle=service.login_throttle, fast_auth_cache=service.fast_auth_cache)
        self.peer_host = str(peer[0])
        if len(service.connections) >= service.max_connections or service.closing:
            self.conn.reject_login(errors.error(errors.ER_CON_COUNT_ERROR, "Too many connections"))
            self._flush()
            return
        service.connections[self.connection_id] = self
        self._handshake_timer = asyncio.get_running_loop().call_later(
            service.handshake_timeout_s, self._handshake_expired)
        self._flush()

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.receive_data(data)
        self._pump()

    def eof_received(self) -> bool | None:
        if self.conn is not None:
            self.conn.receive_data(b"")
            self._pump()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.connections.pop(self.connection_id, None)
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        if self._hold_timer is not None:
            self._hold_timer.cancel()
        if self.task is not None:
            if self.session is not None:
                self.session.interrupt()
            self.task.add_done_callback(lambda _: self._close_session())
        else:
            self._close_session()

    @property
    def busy(self) -> bool:
        return self.task is not None or self.waiting is not None

    # ------------------------------------------------------------------ event pump
    def _pump(self) -> None:
        conn = self.conn
        assert conn is not None
        while not self.busy:
            event = conn.next_event()
            if event is None:
                break
            try:
                self._dispatch[type(event)](event)
            except MarmotError as exc:
                conn.send_error(exc)
            except Exception as exc:  # a bug: logged under an id, 1105 with the id, keep serving
                conn.send_error(internal_error(logger, self.connection_id, exc))
        self._flush()

    def _flush(self) -> None:
        conn, transport = self.conn, self.transport
        if conn is None or transport is None or transport.is_closing():
            return
        data = conn.data_to_send()
        if data:
            transport.write(data)
        if conn.input_buffer_full != self._reading_paused:  # backpressure on pipelining
            self._reading_paused = conn.input_buffer_full
            if self._reading_paused:
                transport.pause_reading()
            else:
                transport.resume_reading()
        if conn.should_close:
            transport.close()
        elif conn.reply_not_before is not None and self._hold_timer is None:  # login throttled
            self._hold_timer = asyncio.get_running_loop().call_at(conn.reply_not_before,
                                                                  self._release_held_login)

    def _release_held_login(self) -> None:
        self._hold_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self._pump()

    def _handshake_expired(self) -> None:
        if self.session is None and self.transport is not None:
            logger.info("connection %s: login not finished in time", self.connection_id)
            self.transport.abort()

    def kill(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _close_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            try:
                session.close()
            except MarmotError:
                logger.warning("connection %s: rollback on close failed", self.connection_id)

    # ------------------------------------------------------------------ events
    def _on_authenticated(self, event: ev.Authenticated) -> None:
        assert self.conn is not None
        state = self.service.state
        user = state.users.get(event.user)
        if user is None:
            self.conn.reject_login(errors.error(errors.ER_ACCESS_DENIED_ERROR,
                                                f"Access denied for user '{shown(event.user)}'"))
            return
        if self.session is not None:  # COM_CHANGE_USER
            self._close_session()
        session = Session(state, user, self.connection_id, host=self.peer_host)
        session.found_rows_flag = bool(event.client_capabilities & CLIENT_FOUND_ROWS)
        try:
            if event.database:
                session.use(event.database)
        except MarmotError as exc:
            session.close()
            self.conn.reject_login(exc)
            return
        self.session = session
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        self.conn.accept_login(status_flags=session.status_flags())

    def _on_query(self, event: ev.Query) -> None:
        assert self.session is not None
        statements = split_statements(
            event.sql, backslash_escapes=self.session.variables.backslash_escapes) or [event.sql]
        if len(statements) > 1 and not self.conn.multi_statements:  # type: ignore[union-attr]
            raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; "
                               "several statements in one query need CLIENT_MULTI_STATEMENTS "
                               f"near '{shown(statements[1], 80)}' at line 1")
        self._run_statements(statements, 0, None, binary=False)

    def _run_statements(self, statements: list[str], index: int, plan: Any, binary: bool) -> None:
        """Run statements[index:] in the loop until one must wait; it resumes when it can."""
        session = self.session
        assert session is not None and self.conn is not None
        for i in range(index, len(statements)):
            try:
                result = self._execute(session, statements[i], plan)
            except LongRead as long_read:
                self.task = asyncio.get_running_loop().create_task(
                    self._finish_long_read(long_read, statements, i, plan, binary))
                return
            except MarmotError as exc:
                self.conn.send_error(exc)
                return
            if isinstance(result, Pending):
                if not result.done():
                    self.waiting = result
                    result.add_done_callback(
                        lambda done, i=i: self._resume(done, statements, i, plan, binary))
                    return
                try:
                    result = result.result()
                except MarmotError as exc:
                    self.conn.send_error(exc)
                    return
            if not self._answer(result, statements, i, plan, binary):
                return

    def _answer(self, result: Result, statements: list[str], index: int, plan: Any,
                binary: bool) -> bool:
        """Send one statement's result; False when the rest must wait (SLEEP)."""
        session = self.session
        assert session is not None
        if session.sleep_requested_s > 0:  # SLEEP(n): answer after n seconds, off the loop
            self.task = asyncio.get_running_loop().create_task(
                self._sleep_then_send(result, statements, index, plan, binary))
            return False
        self._send(result, more=index < len(statements) - 1, binary=binary)
        return True

    def _resume(self, done: Pending, statements: list[str], index: int, plan: Any,
                binary: bool) -> None:
        """A statement's Pending resolved: answer it, run the rest, read further commands."""
        self.waiting = None
        if self.conn is None or self.session is None or self.transport is None \
                or self.transport.is_closing():
            return
        try:
            result = done.result()
        except MarmotError as exc:
            self.conn.send_error(exc)
        except Exception as exc:
            self.conn.send_error(internal_error(logger, self.connection_id, exc))
        else:
            if self._answer(result, statements, index, plan, binary) \
                    and index < len(statements) - 1:
                self._run_statements(statements, index + 1, plan, binary)
        self._pump()

    def _execute(self, session: Session, sql: str, plan: Any) -> Result | Pending:
        session.command = "Query" if plan is None else "Execute"
        try:
            if plan is None:
                return session.execute(sql)
            return session.execute_prepared(plan[0], plan[1])
        finally:
            session.command = "Sleep"

    async def _finish_long_read(self, waiting: LongRead, statements: list[str], index: int,
                                plan: Any, binary: bool) -> None:
        session, conn = self.session, self.conn
        assert session is not None and conn is not None
        try:
            result = await self._run_long_read(session, waiting)
        except MarmotError as exc:
            conn.send_error(exc)
        except Exception as exc:
            conn.send_error(internal_error(logger, self.connection_id, exc))
        else:
            more = index < len(statements) - 1
            self._send(result, more=more, binary=binary)
            if more:
                self.task = None
                self._run_statements(statements, index + 1, plan, binary)
                if self.busy:
                    return
        self.task = None
        if self.transport is not None and not self.transport.is_closing():
            self._pump()

    async def _sleep_then_send(self, result: Result, statements: list[str], index: int,
                               plan: Any, binary: bool) -> None:
        session = self.session
        assert session is not None
        delay_s, session.sleep_requested_s = session.sleep_requested_s, 0.0
        session.command = "Query"
        try:
            await asyncio.sleep(delay_s)
        finally:
            session.command = "Sleep"
        more = index < len(statements) - 1
        self._send(result, more=more, binary=binary)
        self.task = None
        if more:
            self._run_statements(statements, index + 1, plan, binary)
        if not self.busy and self.transport is not None and not self.transport.is_closing():
            self._pump()

    async def _run_long_read(self, session: Session, waiting: LongRead) -> Result:
        loop = asyncio.get_running_loop()
        job = waiting.job
        limit_ms = _int(session.variables.get("max_execution_time"))
        timer = loop.call_later(limit_ms / 1000, job.interrupt) if limit_ms > 0 else None
        session.command = "Query"
        try:
            return await loop.run_in_executor(self.service.read_pool, job.run)
        finally:
            session.command = "Sleep"
            if timer is not None:
                timer.cancel()
            job.finish()

    def _send(self, result: Result, more: bool, binary: bool) -> None:
        conn, session = self.conn, self.session
        assert conn is not None and session is not None
        flags = session.status_flags()
        if isinstance(result, Ok):
            conn.send_ok(result.affected_rows, result.last_insert_id, flags, result.warnings,
                         result.info, more_results=more)
        else:
            conn.send_result_set(ResultSet(result.columns, result.rows), flags,
                                 more_results=more, binary=binary, warnings=result.warnings)

    def _on_init_db(self, event: ev.InitDb) -> None:
        assert self.conn is not None and self.session is not None
        self.session.use(event.database)
        self.conn.send_ok(status_flags=self.session.status_flags())

    def _on_ping(self, event: ev.Ping) -> None:
        assert self.conn is not None
        self.conn.send_ok()

    def _on_quit(self, event: ev.Quit) -> None:
        if self.transport is not None:
            self.transport.close()

    def _on_closed(self, event: ev.ConnectionClosed) -> None:
        if event.error is not None:
            logger.info("connection %s closed: %s", self.connection_id, event.error)
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def _on_field_list(self, event: ev.FieldList) -> None:
        assert self.conn is not None and self.session is not None
        self.conn.send_field_list(catalog.field_list(event.table, self.session,
                                                     event.wildcard or None))

    def _on_statistics(self, event: ev.Statistics) -> None:
        assert self.conn is not None
        state = self.service.state
        uptime = int(state.clock() - state.started_at)
        self.conn.send_statistics(
            f"Uptime: {uptime}  Threads: {len(self.service.connections)}  "
            f"Questions: {state.status['Questions']}  Slow queries: 0  Opens: 0  "
            f"Open tables: 0  Queries per second avg: "
            f"{state.status['Questions'] / max(uptime, 1):.3f}")

    def _on_reset(self, event: ev.ResetConnection) -> None:
        assert self.conn is not None and self.session is not None
        self.session.reset()
        self.plans.clear()
        self.conn.send_ok(status_flags=self.session.status_flags())

    def _on_prepare(self, event: ev.StmtPrepare) -> None:
        assert self.conn is not None and self.session is not None
        plan = self.session.prepare(event.sql)
        self.plans[event.stmt_id] = plan
        self.conn.send_prepare_ok(event.stmt_id, plan.columns, plan.param_count)

    def _on_execute(self, event: ev.StmtExecute) -> None:
        plan = self.plans.get(event.stmt_id)
        if plan is None:
            raise errors.error(errors.ER_UNKNOWN_STMT_HANDLER,
                               f"Unknown prepared statement handler ({event.stmt_id}) given "
                               "to mysqld_stmt_execute")
        self._run_statements([plan.sql], 0, (plan, event.params), binary=True)

    def _on_stmt_reset(self, event: ev.StmtReset) -> None:
        assert self.conn is not None
        self.conn.send_ok()

    def _on_stmt_close(self, event: ev.StmtClose) -> None:
        self.plans.pop(event.stmt_id, None)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
