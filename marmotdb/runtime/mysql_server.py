"""The MySQL listener: asyncio glue between sockets, the protocol machine and the node.

One ``MysqlProtocol`` per client (asyncio.Protocol on uvloop: no per-packet await). Bytes go
into ``ServerConnection``; its commands become inputs of the node (``runtime/node_host.py``
hosts the sans-I/O ``Node``): a statement is submitted with a request id and answered by the
node's ``Reply`` — at once for most statements, later for one that waits for a write turn or
for the group commit that makes it durable, or for a long read finished on a worker. One
request per connection is in flight (MySQL's rule): meanwhile the connection's further
commands wait in the protocol machine's bounded buffer, and reading pauses when it is full.

Back-pressure the other way: while replies wait unsent above the socket's high mark
(``pause_writing``) no command is read or run, and a client that does not take them within
``net_write_timeout`` is closed. A long read's rows come from its worker a batch at a time as
the socket drains (``row_stream``, runtime/row_stream.py): header and rows go out before the
node's ``Reply``, which then only ends the result set (``Streamed``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from collections.abc import Callable
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
from marmotdb.node import Reply
from marmotdb.runtime.connection_deadline import ConnectionDeadline
from marmotdb.runtime.entropy_pool import EntropyPool
from marmotdb.runtime.node_host import NodeHost
from marmotdb.runtime.row_stream import RowStream
from marmotdb.sql.catalog import dispatch as catalog
from marmotdb.sql.load_data.statement import Loader, LocalInfile
from marmotdb.sql.results import CallResult, Ok, Result, Streamed
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.sql.text.shape import split_statements

logger = logging.getLogger("marmotdb.mysql")
CLIENT_FOUND_ROWS = 2
CLIENT_INTERACTIVE = 1 << 10
CLIENT_LOCAL_FILES = 1 << 7
CLIENT_MULTI_RESULTS = 1 << 17
# Replies waiting in a socket's write buffer: above the high mark the connection stops
# reading commands and its streamed rows wait (pause_writing), below the low mark they go on.
WRITE_BUFFER_HIGH_BYTES = 256 << 10
WRITE_BUFFER_LOW_BYTES = 64 << 10
# A connection's pipelined commands run this many per loop iteration; the rest wait for the
# next one (reading paused meanwhile), so one pipelining client cannot hold the loop.
COMMANDS_PER_ITERATION = 16


class MysqlService:
    """Node-wide listener state: the hosted node, TLS, connection ids, login throttling."""

    def __init__(self, host: NodeHost, *, server_version: str,
                 ssl_context: ssl.SSLContext | None, rsa_key: Any, settings: ProtocolSettings,
                 login_throttle: LoginThrottle | None = None):
        self.host = host
        self.server_version = server_version
        self.ssl_context = ssl_context
        self.rsa_key = rsa_key
        self.settings = settings  # max_allowed_packet & co. come from @@global at connect time
        self.connections: dict[int, MysqlProtocol] = {}
        self._next_id = 1
        self._rng = EntropyPool()  # scrambles: OS randomness, one getrandom() per page
        self.closing = False
        # kept: asyncio.get_running_loop() is a getpid() system call on CPython 3.11
        self.loop = loop = asyncio.get_running_loop()
        # failed logins, per user and host (its clock must be the loop's: it sets call_at)
        self.login_throttle = login_throttle or LoginThrottle(loop.time)
        self.fast_auth_cache = FastAuthCache()  # caching_sha2's fast path after one full auth

    @property
    def state(self) -> ServerState:
        return self.host.node.state

    def next_connection_id(self) -> int:
        connection_id = self._next_id
        self._next_id += 1
        return connection_id

    def protocol(self) -> MysqlProtocol:
        return MysqlProtocol(self)

    @property
    def busy(self) -> int:
        return sum(1 for p in self.connections.values() if p.busy)


class MysqlProtocol(asyncio.Protocol):
    def __init__(self, service: MysqlService):
        self.service = service
        self.transport: asyncio.Transport | None = None
        self.conn: ServerConnection | None = None
        self.session: Session | None = None
        self.waiting = False                 # a request in the node, its Reply not sent yet
        self._statements: list[str] | None = None  # a query's statements, being run in order
        self._index = 0
        self._prepared: tuple[Any, list[Any]] | None = None  # (plan, values) of an execute
        self._binary = False
        self._request_id = 0
        self._submitting = False             # inside host.submit: a Reply now is inline
        self._inline_reply: Reply | None = None
        self._hold_timer: asyncio.TimerHandle | None = None  # a throttled login's answer
        self._reading_paused = False
        self._write_paused = False           # the client is not taking our replies fast enough
        self._backlog = False                # pipelined commands left for the next iteration
        self._write_timer: asyncio.TimerHandle | None = None  # net_write_timeout
        self._stream: RowStream | None = None  # rows of a long read, coming from a worker
        self._stream_error: MarmotError | None = None  # why a stream could not go on
        self.plans: dict[int, Any] = {}
        self.connection_id = 0
        # connect_timeout before the login, then wait_timeout / net_read_timeout between
        # commands: one deadline, one loop timer (runtime/connection_deadline.py)
        self._deadline = ConnectionDeadline(service.loop, self._deadline_passed)
        self._loader: Loader | None = None   # LOAD DATA LOCAL: its file is arriving
        self._load_queue: collections.deque[str] = collections.deque()  # its next statements
        self._load_ended = False             # the client's empty packet came

    # ------------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.set_write_buffer_limits(  # type: ignore[attr-defined]
            high=WRITE_BUFFER_HIGH_BYTES, low=WRITE_BUFFER_LOW_BYTES)
        # (uvloop, like asyncio, sets TCP_NODELAY on every TCP transport: no Nagle delay)
        service = self.service
        self.connection_id = service.next_connection_id()
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.conn = ServerConnection(
            connection_id=self.connection_id, rng=service._rng,
            lookup_user=lambda user: service.state.users.credential(user, str(peer[0])),
            server_version=service.server_version,
            ssl_context=service.ssl_context, rsa_private_key=service.rsa_key,
            settings=service.state.protocol_settings(service.settings), peer_host=str(peer[0]),
            login_throttle=service.login_throttle, fast_auth_cache=service.fast_auth_cache)
        self.peer_host = str(peer[0])
        if not service.state.admits_connection(len(service.connections)) or service.closing:
            self.conn.reject_login(errors.error(errors.ER_CON_COUNT_ERROR, "Too many connections"))
            self._flush()
            return
        service.connections[self.connection_id] = self
        self._deadline.set(service.state.connect_timeout_s, "connect_timeout")
        self._flush()

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        if self.session is not None:  # a command: no idle deadline while it runs
            self._deadline.clear()
        self.conn.receive_data(data)
        self._pump()

    def eof_received(self) -> bool | None:
        if self.conn is not None:
            self.conn.receive_data(b"")
            self._pump()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.connections.pop(self.connection_id, None)
        self._deadline.close()
        if self._hold_timer is not None:
            self._hold_timer.cancel()
        self._cancel_write_timer()
        if self._stream is not None:
            self._stream.cancel()
        self._close_session()

    def pause_writing(self) -> None:
        """The socket's write buffer is past its high mark: no more commands are read or
        run, streamed rows wait, and the client has net_write_timeout to take them."""
        self._write_paused = True
        self._update_reading()
        if self._write_timer is None:
            limit_s = self.session.variables.net_write_timeout_s if self.session is not None \
                else self.service.state.connect_timeout_s
            self._write_timer = self.service.loop.call_later(
                limit_s, self._write_expired)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._cancel_write_timer()
        if self._stream is not None:
            self._stream.writable()
        if self.conn is not None and self.transport is not None \
                and not self.transport.is_closing():
            self._pump()

    def _cancel_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_expired(self) -> None:
        self._write_timer = None
        if self.transport is not None and self._write_paused:
            logger.info("connection %s: closed after net_write_timeout (the client does not "
                        "read its replies)", self.connection_id)
            if self._stream is not None:
                self._stream.cancel()
            self.transport.abort()

    def _update_reading(self) -> None:
        """Read while there is room: not while pipelined commands fill the input buffer, nor
        while replies wait unsent (a client that sends without reading is not served)."""
        conn, transport = self.conn, self.transport
        if conn is None or transport is None or transport.is_closing():
            return
        paused = conn.input_buffer_full or self._write_paused or self._backlog
        if paused != self._reading_paused:
            self._reading_paused = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()

    # ------------------------------------------------------------------ streamed rows
    def row_stream(self) -> RowStream | None:
        """A stream for the long read this connection waits for (its rows go out as the
        worker reads them)."""
        if self.transport is None or self.transport.is_closing() or self.conn is None:
            return None
        self._stream = RowStream(self.service.loop, self._deliver_rows)
        self._stream_error = None
        return self._stream

    def _deliver_rows(self, stream: RowStream, columns: list[Any], rows: list[Any]) -> None:
        conn, transport = self.conn, self.transport
        if stream is not self._stream or conn is None or transport is None \
                or transport.is_closing():
            stream.cancel()
            return
        try:
            if stream.started:
                conn.send_rows(rows)
            else:
                conn.start_rows(columns, rows, self._binary)
                stream.started = True
        except MarmotError as exc:
            self._stream_error = exc
            stream.cancel()
            return
        self._flush()
        if not self._write_paused:
            stream.writable()

    @property
    def busy(self) -> bool:
        return self.waiting

    # ------------------------------------------------------------------ event pump
    def _pump(self) -> None:
        conn = self.conn
        assert conn is not None
        handled = 0
        while not self.busy and not self._write_paused:
            if handled == COMMANDS_PER_ITERATION:  # the others' turn: go on next iteration
                if not self._backlog:
                    self._backlog = True
                    self.service.loop.call_soon(self._pump_backlog)
                break
            event = conn.next_event()
            if event is None:
                break
            handled += 1
            try:
                _HANDLERS[type(event)](self, event)
            except MarmotError as exc:
                conn.send_error(exc)
            except Exception as exc:  # a bug: logged under an id, 1105 with the id, keep serving
                conn.send_error(internal_error(logger, self.connection_id, exc))
            if conn.outbound_buffered:  # written now: past the high mark, pause_writing stops
                self._flush()           # this loop (pipelined commands of a client not reading)
        self._flush()

    def _flush(self) -> None:
        conn, transport = self.conn, self.transport
        if conn is None or transport is None or transport.is_closing():
            return
        data = conn.data_to_send()
        if data:
            transport.write(data)
        self._update_reading()  # backpressure on pipelining and on unread replies
        if conn.should_close:
            transport.close()
            return
        if self.session is not None and not self.busy:
            self._arm_idle_deadline(self.session, conn)
        if conn.reply_not_before is not None and self._hold_timer is None:  # login throttled
            self._hold_timer = self.service.loop.call_at(conn.reply_not_before,
                                                         self._release_held_login)

    def _pump_backlog(self) -> None:
        self._backlog = False
        if self.conn is not None and self.transport is not None \
                and not self.transport.is_closing():
            self._pump()

    def _release_held_login(self) -> None:
        self._hold_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self._pump()

    def _arm_idle_deadline(self, session: Session, conn: ServerConnection) -> None:
        """Between commands: wait_timeout; in the middle of a packet: net_read_timeout."""
        if conn.inbound_buffered_bytes > 0:
            self._deadline.set(session.variables.net_read_timeout_s, "net_read_timeout")
        else:
            self._deadline.set(session.variables.wait_timeout_s, "wait_timeout")

    def _deadline_passed(self, which: str) -> None:
        if which == "connect_timeout":
            self._handshake_expired()
        else:
            self._idle_expired(which)

    def _idle_expired(self, which: str) -> None:
        if self.transport is not None and not self.busy:
            logger.info("connection %s: closed after %s", self.connection_id, which)
            if which == "wait_timeout" and self.conn is not None:
                self.conn.send_disconnect_error(errors.error(
                    errors.ER_CLIENT_INTERACTION_TIMEOUT, "The client was disconnected by the "
                    "server because of inactivity. See wait_timeout and interactive_timeout "
                    "for configuring this behavior."))
                self._flush()  # sends it, then closes (the connection machine ended)
            self.transport.close()

    def _handshake_expired(self) -> None:
        if self.session is None and self.transport is not None:
            logger.info("connection %s: login not finished in time", self.connection_id)
            self.transport.abort()

    def kill(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _close_session(self) -> None:
        """Its open transaction rolls back; a request in flight is answered to nobody."""
        if self.session is not None:
            self.session = None
            self.waiting, self._statements = False, None
            self.service.host.close_session(self.connection_id)

    # ------------------------------------------------------------------ events
    def _on_authenticated(self, event: ev.Authenticated) -> None:
        assert self.conn is not None
        host = self.service.host
        if self.session is not None:  # COM_CHANGE_USER
            self._close_session()
        state, connections_open = self.service.state, len(self.service.connections)
        if not state.within_max_connections(connections_open):  # past it: admins only
            user = state.users.get(event.user, self.peer_host)
            if user is not None and not state.admits_login(connections_open, user):
                self.conn.reject_login(errors.error(errors.ER_CON_COUNT_ERROR,
                                                    "Too many connections"))
                return
        try:
            host.open_session(self, event.user, host=self.peer_host, database=event.database,
                              connection_id=self.connection_id,
                              found_rows=bool(event.client_capabilities & CLIENT_FOUND_ROWS),
                              interactive=bool(event.client_capabilities & CLIENT_INTERACTIVE),
                              local_files=bool(event.client_capabilities & CLIENT_LOCAL_FILES),
                              multi_results=bool(event.client_capabilities &
                                                 CLIENT_MULTI_RESULTS))
        except MarmotError as exc:
            self.conn.reject_login(exc)
            return
        self.session = session = host.node.session(self.connection_id)
        session.tls = self.conn.tls_version_and_cipher
        self._deadline.clear()  # logged in: connect_timeout is over, wait_timeout follows
        self.conn.accept_login(status_flags=session.status_flags())

    def _on_query(self, event: ev.Query) -> None:
        assert self.session is not None
        statements = split_statements(
            event.sql, backslash_escapes=self.session.variables.backslash_escapes) or [event.sql]
        if len(statements) > 1 and not self.conn.multi_statements:  # type: ignore[union-attr]
            raise errors.error(errors.ER_PARSE_ERROR, "You have an error in your SQL syntax; "
                               "several statements in one query need CLIENT_MULTI_STATEMENTS "
                               f"near '{shown(statements[1], 80)}' at line 1")
        self._run(statements, None, binary=False)

    def _run(self, statements: list[str], prepared: tuple[Any, list[Any]] | None,
             binary: bool) -> None:
        self._statements, self._index = statements, 0
        self._prepared, self._binary = prepared, binary
        self._run_statements()

    def _run_statements(self) -> None:
        """Submit the statements in order: one answered at once is sent and the next one
        submitted (a loop, not recursion: a query may hold thousands); one that waits is
        continued by ``on_reply``."""
        host = self.service.host
        while self._statements is not None and self._loader is None:
            self._request_id += 1
            self.waiting, self._submitting = True, True
            try:
                if self._prepared is None:
                    host.submit(self.connection_id, self._request_id,
                                self._statements[self._index])
                else:
                    host.submit_prepared(self.connection_id, self._request_id, *self._prepared)
            except BaseException:
                self.waiting, self._statements = False, None
                raise
            finally:
                self._submitting = False
            reply, self._inline_reply = self._inline_reply, None
            if reply is None:
                return
            self._send_reply(reply)

    def on_reply(self, reply: Reply) -> None:
        """The node answered this connection's request."""
        if reply.request_id != self._request_id or not self.waiting:
            return  # a request of a session closed meanwhile
        if self._submitting:
            self._inline_reply = reply
            return
        if self.transport is None or self.transport.is_closing():
            return
        if self._loader is not None:  # one of a LOAD DATA's statements
            self._load_reply(reply)
            self._run_load()
        else:
            self._send_reply(reply)
            self._run_statements()
        self._pump()

    def _send_reply(self, reply: Reply) -> None:
        """Send one statement's answer; an error ends the statement list (MySQL's rule)."""
        conn, statements = self.conn, self._statements
        assert conn is not None and statements is not None
        self.waiting = False
        last = self._index == len(statements) - 1
        stream, self._stream = self._stream, None
        if reply.error is not None:
            conn.send_error(self._stream_error if stream is not None and
                            self._stream_error is not None else reply.error)
            self._statements = None
            return
        if isinstance(reply.result, LocalInfile):  # LOAD DATA LOCAL: the file first
            conn.request_local_infile(reply.result.filename)
            self._loader, self._load_ended = reply.result.loader, False
            return
        self._send(reply.result, more=not last, binary=self._binary,  # type: ignore[arg-type]
                   flags=reply.status_flags)
        if last:
            self._statements = None
        else:
            self._index += 1

    def _send(self, result: Result, more: bool, binary: bool, flags: int) -> None:
        conn = self.conn
        assert conn is not None
        if isinstance(result, CallResult):  # a CALL: its result sets, then its OK
            for rows in result.results:
                conn.send_result_set(ResultSet(rows.columns, rows.rows), flags,
                                     more_results=True, binary=binary, warnings=rows.warnings)
            conn.send_ok(result.ok.affected_rows, 0, flags, result.warnings, more_results=more)
        elif isinstance(result, Ok):
            conn.send_ok(result.affected_rows, result.last_insert_id, flags, result.warnings,
                         result.info, more_results=more)
        elif isinstance(result, Streamed):  # its rows are out already
            conn.end_rows(flags, more_results=more, warnings=result.warnings)
        else:
            conn.send_result_set(ResultSet(result.columns, result.rows), flags,
                                 more_results=more, binary=binary, warnings=result.warnings)

    # ------------------------------------------------------------------ LOAD DATA LOCAL
    def _on_infile_data(self, event: ev.LocalInfileData) -> None:
        """A packet of the file: the loader's statements for its complete rows run now; the
        next packet is taken once they are answered (``waiting``), so memory stays bounded."""
        assert self._loader is not None
        self._load_queue.extend(self._loader.feed(event.data))
        self._run_load()

    def _on_infile_end(self, event: ev.LocalInfileEnd) -> None:
        assert self._loader is not None
        self._load_ended = True
        self._load_queue.extend(self._loader.finish())
        self._run_load()

    def _run_load(self) -> None:
        """Submit the loader's statements in order (as ``_run_statements`` does a query's);
        after the last one, answer the LOAD DATA and go on with the query's statements."""
        host, loader = self.service.host, self._loader
        assert loader is not None
        while self._load_queue:
            self._request_id += 1
            self.waiting, self._submitting = True, True
            try:
                host.submit(self.connection_id, self._request_id, self._load_queue[0])
            finally:
                self._submitting = False
            reply, self._inline_reply = self._inline_reply, None
            if reply is None:
                return
            self._load_reply(reply)
        self.waiting = False  # ready for the file's next packet
        if self._load_ended:
            self._loader = None
            self._answer_load(loader)

    def _load_reply(self, reply: Reply) -> None:
        loader = self._loader
        assert loader is not None
        statement = self._load_queue.popleft()
        if reply.error is not None:
            self._load_queue.clear()
            self._load_queue.extend(loader.on_error(reply.error))
            if self._load_ended:  # undo what ran: the loader's ROLLBACK, if it began
                self._load_queue.extend(loader.finish())
        elif isinstance(reply.result, Ok):
            loader.on_result(statement, reply.result.affected_rows, reply.result.warnings,
                             self.session.warnings if self.session is not None else None)

    def _answer_load(self, loader: Loader) -> None:
        assert self.session is not None
        self.waiting = True  # _send_reply clears it
        try:
            outcome = loader.outcome()
        except MarmotError as exc:
            self._send_reply(Reply(self.connection_id, self._request_id, None, exc,
                                   self.session.status_flags()))
            return
        result = Ok(outcome.affected_rows, 0, outcome.warnings, outcome.info)
        self.session.warnings = list(loader.messages)  # SHOW WARNINGS: the whole load's
        self._send_reply(Reply(self.connection_id, self._request_id, result, None,
                               self.session.status_flags()))
        self._run_statements()

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
        self._run([plan.sql], (plan, event.params), binary=True)

    def _on_stmt_reset(self, event: ev.StmtReset) -> None:
        assert self.conn is not None
        self.conn.send_ok()

    def _on_stmt_close(self, event: ev.StmtClose) -> None:
        self.plans.pop(event.stmt_id, None)


# Event type -> handler, one table for all connections: a per-connection dict of bound methods
# was a reference cycle per connection (the protocol and everything it holds then waited for
# the garbage collector instead of going with the last reference).
_HANDLERS: dict[type, Callable[[MysqlProtocol, Any], None]] = {
    ev.Authenticated: MysqlProtocol._on_authenticated, ev.Query: MysqlProtocol._on_query,
    ev.InitDb: MysqlProtocol._on_init_db, ev.Ping: MysqlProtocol._on_ping,
    ev.Quit: MysqlProtocol._on_quit, ev.FieldList: MysqlProtocol._on_field_list,
    ev.Statistics: MysqlProtocol._on_statistics, ev.ResetConnection: MysqlProtocol._on_reset,
    ev.StmtPrepare: MysqlProtocol._on_prepare, ev.StmtExecute: MysqlProtocol._on_execute,
    ev.StmtReset: MysqlProtocol._on_stmt_reset, ev.StmtClose: MysqlProtocol._on_stmt_close,
    ev.ConnectionClosed: MysqlProtocol._on_closed,
    ev.LocalInfileData: MysqlProtocol._on_infile_data,
    ev.LocalInfileEnd: MysqlProtocol._on_infile_end,
}
