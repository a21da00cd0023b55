"""The server side of one MySQL client connection, as a state machine with no I/O.

Public API (the runtime and the SQL executor call exactly this)
================================================================

    from marmotdb.mysql.connection import ServerConnection, ProtocolSettings, ConnectionState
    from marmotdb.mysql import events as ev
    from marmotdb.mysql.auth import make_credential, generate_rsa_private_key
    from marmotdb.mysql.packets import SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS

    conn = ServerConnection(
        connection_id=7,                      # thread id shown to the client (CONNECTION_ID())
        rng=random.SystemRandom(),            # scramble source; a seeded Random in the simulator
        lookup_user=users.get,                # (user) -> credential str from make_credential | None
        server_version="8.0.36-marmotdb-0.1.0",
        ssl_context=ctx_or_None,              # server-side ssl.SSLContext; None = no TLS offered
        rsa_private_key=key_or_None,          # for caching_sha2 full auth without TLS
        settings=ProtocolSettings(max_allowed_packet_bytes=64 << 20),
        peer_host="127.0.0.1",                # error messages ('user'@'host'), login throttle
        login_throttle=throttle_or_None,      # node-wide LoginThrottle(clock): failed-login delay
        fast_auth_cache=cache_or_None,        # node-wide FastAuthCache for caching_sha2
    )
    transport.write(conn.data_to_send())      # the HandshakeV10 is queued by the constructor

    # on every chunk from the socket (b"" = the peer closed):
    conn.receive_data(chunk)
    while (event := conn.next_event()) is not None:
        handle(event)                         # calls conn.accept_login()/send_*() as answers
    transport.write(conn.data_to_send())
    if conn.should_close:
        transport.close()
    if conn.input_buffer_full: transport.pause_reading()    # backpressure on pipelined input
    elif paused: transport.resume_reading()
    if conn.reply_not_before is not None:                   # a throttled login is held:
        loop.call_at(conn.reply_not_before, pump_again)     # call next_event() again then

``next_event()`` returns None when it needs more bytes OR while the previous event still owes
an answer (so an executor that answers later, after an await, simply calls ``next_event()``
again once it has answered: pipelined commands already buffered are then delivered). It never
raises for anything the peer sends: bad input becomes a queued ERR packet, a
``ConnectionClosed(error)`` event and ``should_close``.

Events (marmotdb.mysql.events) and the answers they need:

    Authenticated(user, database, attrs, client_capabilities, auth_plugin, tls, change_user,
                  charset)
                      -> accept_login(status_flags=SERVER_STATUS_AUTOCOMMIT) | reject_login(err)
    Query(sql)        -> one or more of send_ok / send_result_set (more_results=True on all but
                         the last), or send_error (ends the answer); COM_PROCESS_KILL comes
                         as Query("KILL <id>")
    InitDb(database)  -> send_ok | send_error
    Ping()            -> send_ok
    FieldList(table, wildcard) -> send_field_list(columns) | send_error
    Statistics()      -> send_statistics(text)
    ResetConnection() -> send_ok (the machine already dropped its prepared statements)
    StmtPrepare(stmt_id, sql)  -> send_prepare_ok(stmt_id, columns, param_count) | send_error
    StmtExecute(stmt_id, flags, params, param_types)
                      -> like Query, with send_result_set(..., binary=True)
    StmtReset(stmt_id) -> send_ok (long data already cleared by the machine)
    StmtClose(stmt_id), Quit(), ConnectionClosed(error)  -> no answer
    LocalInfileData(data) -> no answer (the file's bytes, after request_local_infile)
    LocalInfileEnd()  -> answers the Query that asked for the file: send_ok | send_error

Answer methods (each appends to the output buffer; sequence ids are handled here):

    accept_login(status_flags: int = SERVER_STATUS_AUTOCOMMIT) -> None
    reject_login(error: MarmotError) -> None          # sends ERR, then should_close; also
                                                      # right after construction (1040): the
                                                      # ERR then replaces the greeting
    send_ok(affected_rows=0, last_insert_id=0, status_flags=None, warnings=0, info="",
            more_results=False) -> None
    send_error(error: MarmotError) -> None
    send_result_set(result: ResultSet, status_flags=None, more_results=False, binary=False,
                    warnings=0) -> None
    send_prepare_ok(stmt_id: int, columns: list[Column], param_count: int, warnings=0) -> None
    send_field_list(columns: list[Column]) -> None
    send_statistics(text: str) -> None
    request_local_infile(filename: str) -> None       # while answering a Query: ask the
                                                      # client for a file (0xFB); its packets
                                                      # come as LocalInfileData events, then
                                                      # LocalInfileEnd, then answer the Query

``status_flags=None`` means "the flags last given" (initially those passed to accept_login);
pass SERVER_STATUS_AUTOCOMMIT / SERVER_STATUS_IN_TRANS as the session changes.
MORE_RESULTS_EXISTS is added by the machine when ``more_results`` is True.

Read-only properties: ``state`` (ConnectionState), ``should_close``, ``awaiting_answer``,
``tls_active``, ``user``, ``database`` (the one sent at login / on send_ok to COM_INIT_DB),
``client_capabilities``, ``connection_id``, ``multi_statements`` (the client allows several
statements per Query), ``inbound_buffered_bytes`` (received, not yet parsed),
``input_buffer_full`` (stop reading: an answer is pending and ``input_buffer_bytes_max`` bytes
wait behind it), ``reply_not_before`` (a throttled login's answer is held until this time of
the throttle's clock; None otherwise). Answering out of turn raises
``LocalProtocolError`` (a caller bug, never caused by the peer).

Query/prepare text is decoded as UTF-8 with ``surrogateescape``: bytes that are not UTF-8
(binary literals, e.g. from mysqldump) survive ``sql.encode("utf-8", "surrogateescape")``.

Things the machine answers by itself, without an event: COM_STMT_SEND_LONG_DATA (buffered,
bounded by max_allowed_packet), COM_STMT_FETCH (ERR 1421: executes never open a cursor), an
unknown stmt id (ERR 1243), too many prepared statements (ERR 1461), an unknown command
(ERR 1047, connection stays usable), the RSA public-key request of caching_sha2_password,
COM_SET_OPTION (multi-statements on/off: read ``multi_statements`` before running several
statements of one Query).

Memory bounds (docs/limits.md has the table): before login one packet and everything buffered
stay under ``preauth_packet_bytes_max`` (ERR 1153/1043, close); after login one packet under
``max_allowed_packet_bytes`` (1153, close), and bytes received while an answer is pending
under ``input_buffer_bytes_max`` + ``max_allowed_packet_bytes`` (1041, close) for a runtime
that ignores ``input_buffer_full``; long data per ``statements``.

Login: a missing user gets an impostor credential (same exchange and error as a wrong
password); with a ``login_throttle`` the decided answer of a throttled attempt (auth reply,
OK/ERR, the event) is held until ``reply_not_before``; user and database names in replies go
through ``client_text.shown``; bad database names get 1102.

Theory of operation
===================
States and the transitions allowed between them (``_TRANSITIONS``; ``_transition_to`` is the
only writer of ``_state``):

    GREETED ----SSLRequest----> TLS ----HandshakeResponse41----+
       |                                                        v
       +------HandshakeResponse41-------------------------> AUTHENTICATING <--COM_CHANGE_USER--+
                                       (auth switch, full auth, RSA key exchange)              |
                                                   | credential checks out                      |
                                                   v                                            |
                                             LOGIN_PENDING --accept_login--> COMMAND <--answer-+
                                                   | reject_login / denied      |  ^
                                                   v                            v  |
                                                 CLOSED <-----COM_QUIT------ ANSWERING
                                                    request_local_infile |  ^ empty packet
                                                                         v  |
                                                                        INFILE
    any state --malformed / oversized / out-of-sequence packet, TLS failure--> ERROR

Incoming bytes go through the TLS channel (once started) into the PacketReader; ``next_event``
parses one packet at a time with the handler of the current state. Outgoing payloads are
framed with the shared sequence counter (reset to 0 at each command) into ``_out``;
``data_to_send`` encrypts them when TLS is on. A ProtocolError from any parser moves the
machine to ERROR with an ERR packet queued (1043 during the handshake, otherwise the error's
own code: 1835 malformed, 1153 too large, 1156 out of order) and one ConnectionClosed event;
other MarmotErrors raised while handling a command become an ERR answer to that command only.
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from marmotdb.errors import AuthError, MarmotError, ProtocolError
from marmotdb.mysql import events as ev
from marmotdb.mysql import packets as p
from marmotdb.mysql.auth import (
    CACHING_SHA2,
    AuthExchange,
    AuthStep,
    FastAuthCache,
    impostor_credential,
    parse_credential,
)
from marmotdb.mysql.client_text import HOST_SHOWN_CHARS_MAX, shown, valid_database_name
from marmotdb.mysql.columns import encode_column, param_column
from marmotdb.mysql.handshake import (
    LoginRequest,
    decode_change_user,
    decode_handshake_response,
    encode_handshake,
    is_ssl_request,
    make_scramble,
)
from marmotdb.mysql.login_throttle import LoginThrottle
from marmotdb.mysql.rows import ValueMismatch, encode_more_rows, encode_rows
from marmotdb.mysql.statements import StatementTable
from marmotdb.mysql.tls import TlsChannel
from marmotdb.mysql.types import CHARSET_UTF8MB4, Column, ResultSet

DEFAULT_SERVER_VERSION = "8.0.36-marmotdb-0.1.0"
ER_HANDSHAKE_ERROR = 1043
ER_NET_READ_ERROR = 1158
ER_SECURE_TRANSPORT_REQUIRED = 3159
ER_NOT_SUPPORTED_YET = 1235
ER_OUT_OF_RESOURCES = 1041
ER_WRONG_DB_NAME = 1102
ER_PLUGIN_IS_NOT_LOADED = 1524


class LocalProtocolError(RuntimeError):
    """The caller used the API out of turn (a bug in the caller, never caused by the peer)."""


@dataclass(frozen=True, slots=True)
class ProtocolSettings:
    """Per-connection protocol limits and choices; every bound has a unit in its name."""

    max_allowed_packet_bytes: int = p.DEFAULT_MAX_ALLOWED_PACKET_BYTES  # also long-data bound
    max_prepared_stmt_count: int = 16382  # per connection (MySQL's global default)
    # Before login a client is a stranger: one packet, and all it may make us buffer, stay
    # under this (HandshakeResponse41 with attributes, an RSA answer: a few hundred bytes).
    preauth_packet_bytes_max: int = 16 << 10
    # After login: received bytes held while an answer is pending (pipelined commands).
    # ``input_buffer_full`` asks the runtime to stop reading at this bound; beyond it plus one
    # max_allowed_packet (a runtime that does not pause) the connection is closed with 1041.
    input_buffer_bytes_max: int = 1 << 20
    # COM_STMT_SEND_LONG_DATA buffered by all statements of the connection together (one
    # statement's is also bounded by max_allowed_packet_bytes, as in MySQL).
    long_data_bytes_max: int = p.DEFAULT_MAX_ALLOWED_PACKET_BYTES
    native_password_allowed: bool = True  # False: MySQL 8.4's mysql_native_password=OFF
    default_auth_plugin: str = CACHING_SHA2  # announced in HandshakeV10
    caching_sha2_fast_path: bool = True  # False: always full auth (TLS or RSA) for sha2
    require_secure_transport: bool = False  # refuse logins without TLS (ERR 3159)
    server_charset: int = CHARSET_UTF8MB4  # collation id announced in the handshake


class ConnectionState(IntEnum):
    # IntEnum, not Enum: states are hashed twice per command (transition check, handler
    # dispatch) and int hashing is C-level where Enum.__hash__ is a Python call.
    GREETED = 1
    TLS = 2
    AUTHENTICATING = 3
    LOGIN_PENDING = 4
    COMMAND = 5
    ANSWERING = 6
    CLOSED = 7
    ERROR = 8
    INFILE = 9  # receiving the file of a LOAD DATA LOCAL INFILE


S = ConnectionState
_TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    S.GREETED: frozenset({S.TLS, S.AUTHENTICATING, S.LOGIN_PENDING, S.CLOSED, S.ERROR}),
    S.TLS: frozenset({S.AUTHENTICATING, S.LOGIN_PENDING, S.CLOSED, S.ERROR}),
    S.AUTHENTICATING: frozenset({S.LOGIN_PENDING, S.CLOSED, S.ERROR}),
    S.LOGIN_PENDING: frozenset({S.COMMAND, S.CLOSED, S.ERROR}),
    S.COMMAND: frozenset({S.ANSWERING, S.AUTHENTICATING, S.LOGIN_PENDING, S.CLOSED, S.ERROR}),
    S.ANSWERING: frozenset({S.COMMAND, S.INFILE, S.CLOSED, S.ERROR}),
    S.INFILE: frozenset({S.ANSWERING, S.CLOSED, S.ERROR}),
    S.CLOSED: frozenset(),
    S.ERROR: frozenset(),
}
# Module-level aliases of the states: Enum attribute access is slow in 3.11 (see packets).
(_GREETED, _TLS, _AUTHENTICATING, _LOGIN_PENDING, _COMMAND, _ANSWERING, _CLOSED,
 _ERROR, _INFILE) = ConnectionState
_HANDSHAKE_STATES = frozenset({_GREETED, _TLS, _AUTHENTICATING})
_PREAUTH_STATES = frozenset({_GREETED, _TLS, _AUTHENTICATING, _LOGIN_PENDING})
_PREPARE_OK = struct.Struct("<BIHHBH")
_HEADER = struct.Struct("<I")


class ServerConnection:
    """One client connection, server side (see the module docstring for the API)."""

    __slots__ = (
        "_answering",
        "_auth",
        "_cache",
        "_change_user",
        "_client_caps",
        "_closed_reported",
        "_eof",
        "_held_step",
        "_hold_until",
        "_input_error",
        "_input_hard_max",
        "_login",
        "_lookup_user",
        "_out",
        "_peer_host",
        "_pending_db",
        "_raw_out",
        "_reader",
        "_rng",
        "_rsa_key",
        "_scramble",
        "_seq",
        "_settings",
        "_ssl_context",
        "_state",
        "_statements",
        "_status",
        "_stream_binary",
        "_stream_block",
        "_throttle",
        "_tls",
        "_tls_error",
        "connection_id",
        "database",
        "multi_statements",
        "user",
    )

    def __init__(self, *, connection_id: int, rng: Any,
                 lookup_user: Callable[[str], str | None],
                 server_version: str = DEFAULT_SERVER_VERSION,
                 ssl_context: ssl.SSLContext | None = None,
                 rsa_private_key: RSAPrivateKey | None = None,
                 settings: ProtocolSettings | None = None, peer_host: str = "localhost",
                 login_throttle: LoginThrottle | None = None,
                 fast_auth_cache: FastAuthCache | None = None):
        self.connection_id = connection_id
        self._rng = rng
        self._lookup_user = lookup_user
        self._settings = settings = settings or ProtocolSettings()
        self._ssl_context = ssl_context
        self._rsa_key = rsa_private_key
        self._peer_host = peer_host
        self._state = _GREETED
        self._reader = p.PacketReader(min(settings.preauth_packet_bytes_max,
                                          settings.max_allowed_packet_bytes))
        self._input_hard_max = settings.preauth_packet_bytes_max
        self._throttle = login_throttle
        self._cache = fast_auth_cache
        self._input_error: ProtocolError | None = None
        self._held_step: AuthStep | None = None
        self._hold_until = 0.0
        self._out: list[bytes] = []  # framed plaintext packets
        self._raw_out: list[bytes] = []  # bytes for the socket as-is (TLS records)
        self._seq = 0
        self._tls: TlsChannel | None = None
        self._tls_error: ProtocolError | None = None
        self._eof = False
        self._closed_reported = False
        self._scramble = make_scramble(rng)
        self._auth: AuthExchange | None = None
        self._login: LoginRequest | None = None
        self._change_user = False
        self._client_caps = 0
        self._status = p.SERVER_STATUS_AUTOCOMMIT
        self._statements = StatementTable(settings.max_prepared_stmt_count,
                                          settings.max_allowed_packet_bytes,
                                          settings.long_data_bytes_max)
        self._answering: int | None = None
        self._stream_block: Any = None  # the columns of a result set being streamed
        self._stream_binary = False
        self.user: str | None = None
        self.database: str | None = None
        self.multi_statements = False
        self._pending_db: str | None = None
        caps = p.SERVER_CAPABILITIES | (p.CLIENT_SSL if ssl_context is not None else 0)
        self._write(encode_handshake(server_version, connection_id, self._scramble, caps,
                                     settings.server_charset, self._status,
                                     settings.default_auth_plugin))

    # --- read-only views ------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def should_close(self) -> bool:
        return self._state in (_CLOSED, _ERROR)

    @property
    def awaiting_answer(self) -> bool:
        return self._state in (_ANSWERING, _LOGIN_PENDING)

    @property
    def tls_active(self) -> bool:
        return self._tls is not None and self._tls.handshake_done

    @property
    def tls_version_and_cipher(self) -> tuple[str, str]:
        """("TLSv1.3", "TLS_AES_256_GCM_SHA384"); ("", "") without TLS (MySQL's Ssl_version,
        Ssl_cipher)."""
        tls = self._tls
        if tls is None or not tls.handshake_done:
            return "", ""
        return tls.version or "", tls.cipher or ""

    @property
    def client_capabilities(self) -> int:
        return self._client_caps

    @property
    def inbound_buffered_bytes(self) -> int:
        """Received but not yet parsed; the runtime pauses reading above its own bound."""
        return self._reader.buffered_bytes

    @property
    def input_buffer_full(self) -> bool:
        """Stop reading the socket: an answer is pending and ``input_buffer_bytes_max`` bytes
        are already waiting behind it. False again once the answer is sent and the pipelined
        commands are taken (re-check after every ``next_event`` loop)."""
        return (self._state in (_ANSWERING, _LOGIN_PENDING, _INFILE)
                and self._reader.buffered_bytes >= self._settings.input_buffer_bytes_max)

    @property
    def outbound_buffered(self) -> bool:
        """Bytes wait for ``data_to_send``."""
        return bool(self._out or self._raw_out)

    @property
    def reply_not_before(self) -> float | None:
        """While a throttled login's answer is held: the throttle-clock time at which
        ``next_event()`` releases it (the runtime calls it again then). Otherwise None."""
        return self._hold_until if self._held_step is not None else None

    def _transition_to(self, new: ConnectionState) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise LocalProtocolError(f"no transition {self._state.name} -> {new.name}")
        self._state = new

    # --- bytes in, events out ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; b"" means the peer closed its side. Never raises."""
        if self._state in (_CLOSED, _ERROR) or self._input_error is not None:
            return
        tls = self._tls
        if tls is None:
            if data:
                self._reader.feed(data)
            else:
                self._eof = True
        else:
            try:
                self._reader.feed(tls.feed(data))
            except ProtocolError as exc:
                self._tls_error = exc
            self._raw_out.append(tls.take_output())
            if not data or tls.closed:
                self._eof = True
        # Bytes pile up only while the machine cannot take them (an answer or a throttled login
        # is pending); otherwise the reader's packet bound applies as they are parsed.
        if self._reader.buffered_bytes > self._input_hard_max and (
                self._state is _ANSWERING or self._state is _LOGIN_PENDING
                or self._state is _INFILE or self._held_step is not None):
            self._input_error = self._overflow_error()

    def _overflow_error(self) -> ProtocolError:
        if self._state in _PREAUTH_STATES:
            return ProtocolError(
                f"more than {self._settings.preauth_packet_bytes_max} bytes before login",
                code=ER_HANDSHAKE_ERROR, sqlstate="08S01")
        return ProtocolError(
            "Out of resources: more than input_buffer_bytes_max "
            f"({self._settings.input_buffer_bytes_max}) bytes of commands wait unread",
            code=ER_OUT_OF_RESOURCES, sqlstate="HY000")

    def next_event(self) -> ev.Event | None:
        """The next event, or None (more bytes needed, or an answer is owed)."""
        state = self._state
        if state is _ANSWERING or state is _LOGIN_PENDING:
            return None
        if state is _CLOSED or state is _ERROR:
            return self._report_closed(None)
        if self._tls_error is not None:
            return self._fail(self._tls_error, send_err=False)
        if self._input_error is not None:
            return self._fail(self._input_error)
        if self._held_step is not None:
            return self._release_held()
        try:
            while True:
                packet = self._reader.next_packet()
                if packet is None:
                    return self._on_no_packet()
                first, last, payload = packet
                if first != self._seq:
                    raise ProtocolError("Got packets out of order", code=1156, sqlstate="08S01")
                self._seq = (last + 1) & 0xFF
                event = self._HANDLERS[self._state](self, payload)
                if event is not None:
                    return event
        except ProtocolError as exc:
            return self._fail(exc)

    def _on_no_packet(self) -> ev.Event | None:
        if not self._eof:
            return None
        if self._reader.buffered_bytes and self._state not in _HANDSHAKE_STATES:
            return self._fail(ProtocolError("Got an error reading communication packets",
                                            code=ER_NET_READ_ERROR, sqlstate="08S01"))
        self._transition_to(_CLOSED)
        return self._report_closed(None)

    def _report_closed(self, error: Exception | None) -> ev.Event | None:
        if self._closed_reported:
            return None
        self._closed_reported = True
        return ev.ConnectionClosed(error)

    def _fail(self, exc: ProtocolError, send_err: bool = True) -> ev.Event | None:
        if self._tls is not None and not self._tls.handshake_done:
            send_err = False  # nothing can be said in clear once TLS has started
        if send_err:
            if self._reader.last_header_seq >= 0:  # answer the offending packet, as MySQL does
                self._seq = (self._reader.last_header_seq + 1) & 0xFF
            if self._state in _HANDSHAKE_STATES and exc.code not in (1153, 1156):
                exc = ProtocolError(f"Bad handshake: {exc.message}", code=ER_HANDSHAKE_ERROR,
                                    sqlstate="08S01")
            self._write(p.error_payload(exc))
        self._state = _ERROR  # any state may fail; not a table transition on purpose
        return self._report_closed(exc)

    def data_to_send(self) -> bytes:
        """Bytes for the socket, in order (encrypted once TLS is on). Never raises."""
        if self._tls is not None and self._out:
            try:  # one write, so packets share TLS records (not a record per packet header)
                self._tls.write(b"".join(self._out))
            except ssl.SSLError:  # the TLS session is broken: drop the rest, close
                self._state = _ERROR
            self._out.clear()
            self._raw_out.append(self._tls.take_output())
        if self._raw_out:
            self._raw_out.extend(self._out)
            self._out.clear()
            data = b"".join(self._raw_out)
            self._raw_out.clear()
            return data
        data = b"".join(self._out)
        self._out.clear()
        return data

    def _write(self, payload: bytes) -> None:
        seq = self._seq
        if len(payload) < p.MAX_PACKET_PAYLOAD:
            self._out.append(_HEADER.pack(len(payload) | (seq << 24)) + payload)
            self._seq = (seq + 1) & 0xFF
            return
        data, self._seq = p.frame(payload, seq)
        self._out.append(data)

    def _write_all(self, payloads: list[bytes]) -> None:
        """Frame many payloads (a result set) with one loop over the shared counter."""
        seq = self._seq
        out = self._out
        pack = _HEADER.pack
        for payload in payloads:
            n = len(payload)
            if n < p.MAX_PACKET_PAYLOAD:
                out.append(pack(n | (seq << 24)))
                out.append(payload)
                seq = (seq + 1) & 0xFF
            else:
                data, seq = p.frame(payload, seq)
                out.append(data)
        self._seq = seq

    # --- connection phase ---------------------------------------------------------------------

    def _on_greeted(self, payload: bytes) -> ev.Event | None:
        if is_ssl_request(payload):
            self._start_tls()
            return None
        return self._on_handshake_response(payload)

    def _start_tls(self) -> None:
        if self._ssl_context is None:
            raise p.malformed("TLS requested but not offered")
        self._transition_to(_TLS)
        self._raw_out.extend(self._out)  # anything queued in clear goes out before TLS
        self._out.clear()
        self._tls = tls = TlsChannel(self._ssl_context)
        leftover = self._reader.take_buffered()  # ClientHello bytes read with the SSLRequest
        if leftover:
            self._reader.feed(tls.feed(leftover))
            self._raw_out.append(tls.take_output())

    def _on_handshake_response(self, payload: bytes) -> ev.Event | None:
        login = decode_handshake_response(payload, self._settings.default_auth_plugin)
        self._client_caps = login.capabilities
        self.multi_statements = bool(login.capabilities & p.CLIENT_MULTI_STATEMENTS)
        if self._settings.require_secure_transport and not self.tls_active:
            return self._deny(MarmotError(
                "Connections using insecure transport are prohibited while "
                "--require_secure_transport=ON.", code=ER_SECURE_TRANSPORT_REQUIRED,
                sqlstate="HY000"))
        return self._begin_auth(login, change_user=False)

    def _begin_auth(self, login: LoginRequest, change_user: bool) -> ev.Event | None:
        self._login = login
        self._change_user = change_user
        stored = self._lookup_user(login.user)
        credential = parse_credential(stored) if stored is not None else None
        if credential is None:  # the same exchange, cost and error as a wrong password
            credential = impostor_credential(self._rng)
        settings = self._settings
        self._auth = AuthExchange(credential, self._scramble, tls=self.tls_active,
                                  rsa_key=self._rsa_key,
                                  default_plugin=settings.default_auth_plugin,
                                  fast_path_enabled=settings.caching_sha2_fast_path,
                                  native_allowed=settings.native_password_allowed,
                                  cache=self._cache, user=login.user)
        self._transition_to(_AUTHENTICATING)
        return self._apply_auth_step(self._auth.start(login.plugin, login.auth_answer))

    def _on_auth_packet(self, payload: bytes) -> ev.Event | None:
        assert self._auth is not None
        return self._apply_auth_step(self._auth.receive(payload))

    def _apply_auth_step(self, step: AuthStep) -> ev.Event | None:
        if step.passed is None:
            if step.reply:
                self._write(step.reply)
            return None
        throttle = self._throttle
        if throttle is not None:  # the decision is made: count it, and hold it if throttled
            login = self._login
            assert login is not None
            delay_s = throttle.delay_s(login.user, self._peer_host)
            throttle.record(login.user, self._peer_host, step.passed)
            if delay_s > 0:
                self._held_step = step
                self._hold_until = throttle.clock() + delay_s
                return None
        return self._decide(step)

    def _release_held(self) -> ev.Event | None:
        assert self._throttle is not None and self._held_step is not None
        if self._throttle.clock() < self._hold_until:
            return None
        step, self._held_step = self._held_step, None
        return self._decide(step)

    def _decide(self, step: AuthStep) -> ev.Event:
        if step.reply:
            self._write(step.reply)
        login = self._login
        assert login is not None and self._auth is not None
        if step.plugin_refused:
            return self._deny(MarmotError(f"Plugin '{step.plugin_refused}' is not loaded",
                                          code=ER_PLUGIN_IS_NOT_LOADED, sqlstate="HY000"))
        if not step.passed:
            return self._deny(AuthError(
                f"Access denied for user '{shown(login.user)}'@"
                f"'{shown(self._peer_host, HOST_SHOWN_CHARS_MAX)}' "
                f"(using password: {'YES' if step.password_used else 'NO'})"))
        if login.database is not None and not valid_database_name(login.database):
            return self._deny(_wrong_db_name(login.database))
        self._transition_to(_LOGIN_PENDING)
        return ev.Authenticated(login.user, login.database, login.attrs, self._client_caps,
                                self._auth.plugin, self.tls_active, self._change_user,
                                login.charset)

    def _deny(self, error: MarmotError) -> ev.Event:
        self._write(p.error_payload(error))
        self._transition_to(_CLOSED)
        self._closed_reported = True
        return ev.ConnectionClosed(error)

    def accept_login(self, status_flags: int = p.SERVER_STATUS_AUTOCOMMIT) -> None:
        """Let the authenticated user in (answers Authenticated)."""
        if self._state is not _LOGIN_PENDING or self._login is None:
            raise LocalProtocolError(f"no login to accept (state {self._state.name})")
        if self._change_user:
            self._statements.clear()
        self._status = status_flags & ~p.SERVER_MORE_RESULTS_EXISTS
        self.user = self._login.user
        self.database = self._login.database
        self._reader.max_allowed_packet_bytes = self._settings.max_allowed_packet_bytes
        self._input_hard_max = (self._settings.input_buffer_bytes_max
                                + self._settings.max_allowed_packet_bytes + 4)
        self._write(p.ok_payload(0, 0, self._status, 0))
        self._login = None
        self._auth = None
        self._seq = 0
        self._transition_to(_COMMAND)

    def reject_login(self, error: MarmotError) -> None:
        """Refuse the authenticated user (e.g. 1044 no grant on the database); then close.

        Also allowed right after construction (e.g. 1040 too many connections): if the
        greeting has not been taken by data_to_send() yet, the ERR replaces it, as in MySQL."""
        if self._state is _GREETED and self._out:
            self._out.clear()
            self._seq = 0
        elif self._state not in (_LOGIN_PENDING, _GREETED):
            raise LocalProtocolError(f"no login to reject (state {self._state.name})")
        self._deny(error)

    # --- command phase ------------------------------------------------------------------------

    def _on_command(self, payload: bytes) -> ev.Event | None:
        if not payload:
            raise p.malformed("empty command")
        handler = self._COMMANDS.get(payload[0])
        try:
            if handler is None:
                raise MarmotError("Unknown command", code=1047, sqlstate="08S01")
            return handler(self, payload)
        except ProtocolError:
            raise
        except MarmotError as exc:  # this command fails; the connection stays usable
            self._write(p.error_payload(exc))
            self._seq = 0
            return None

    def _expect_answer(self, command: int, event: ev.Event) -> ev.Event:
        self._answering = command
        self._transition_to(_ANSWERING)
        return event

    def _no_answer(self, event: ev.Event | None) -> ev.Event | None:
        self._seq = 0
        return event

    def _cmd_quit(self, payload: bytes) -> ev.Event:
        self._transition_to(_CLOSED)
        self._closed_reported = True
        return ev.Quit()

    def _cmd_query(self, payload: bytes) -> ev.Event:
        # surrogateescape keeps non-UTF-8 bytes (binary string literals, e.g. from mysqldump)
        # recoverable: sql.encode("utf-8", "surrogateescape") gives the original bytes.
        sql = payload[1:].decode("utf-8", "surrogateescape")
        return self._expect_answer(p.COM_QUERY, ev.Query(sql))

    def _cmd_init_db(self, payload: bytes) -> ev.Event:
        name = payload[1:].decode("utf-8", "replace")
        if not valid_database_name(name):
            raise _wrong_db_name(name)
        self._pending_db = name
        return self._expect_answer(p.COM_INIT_DB, ev.InitDb(name))

    def _cmd_ping(self, payload: bytes) -> ev.Event:
        return self._expect_answer(p.COM_PING, ev.Ping())

    def _cmd_field_list(self, payload: bytes) -> ev.Event:
        end = payload.find(b"\x00", 1)
        end = len(payload) if end < 0 else end
        table = payload[1:end].decode("utf-8", "replace")
        wildcard = payload[end + 1:].decode("utf-8", "replace")
        return self._expect_answer(p.COM_FIELD_LIST, ev.FieldList(table, wildcard))

    def _cmd_statistics(self, payload: bytes) -> ev.Event:
        return self._expect_answer(p.COM_STATISTICS, ev.Statistics())

    def _cmd_process_kill(self, payload: bytes) -> ev.Event:
        """COM_PROCESS_KILL (deprecated in MySQL 8.0, still served; PyMySQL's and aiomysql's
        ``kill()``): the same as the statement ``KILL <id>``, answered OK or ERR."""
        if len(payload) != 5:
            raise p.malformed("COM_PROCESS_KILL without a 4-byte connection id")
        (connection_id,) = struct.unpack_from("<I", payload, 1)
        return self._expect_answer(p.COM_QUERY, ev.Query(f"KILL {connection_id}"))

    def _cmd_reset_connection(self, payload: bytes) -> ev.Event:
        self._statements.clear()
        return self._expect_answer(p.COM_RESET_CONNECTION, ev.ResetConnection())

    def _cmd_change_user(self, payload: bytes) -> ev.Event | None:
        login = decode_change_user(payload, self._client_caps,
                                   self._settings.default_auth_plugin)
        return self._begin_auth(login, change_user=True)

    def _cmd_stmt_prepare(self, payload: bytes) -> ev.Event:
        stmt_id = self._statements.reserve_id()
        sql = payload[1:].decode("utf-8", "surrogateescape")
        return self._expect_answer(p.COM_STMT_PREPARE, ev.StmtPrepare(stmt_id, sql))

    def _cmd_stmt_execute(self, payload: bytes) -> ev.Event:
        event = self._statements.decode_execute(payload)
        return self._expect_answer(p.COM_STMT_EXECUTE, event)

    def _cmd_stmt_send_long_data(self, payload: bytes) -> None:
        self._statements.add_long_data(payload)
        self._seq = 0  # no answer: the next command starts a new exchange

    def _cmd_stmt_close(self, payload: bytes) -> ev.Event | None:
        stmt_id, _ = p.read_uint(payload, 1, 4)
        self._statements.close(stmt_id)
        return self._no_answer(ev.StmtClose(stmt_id))

    def _cmd_stmt_reset(self, payload: bytes) -> ev.Event:
        stmt_id, _ = p.read_uint(payload, 1, 4)
        self._statements.reset(stmt_id, "mysqld_stmt_reset")
        return self._expect_answer(p.COM_STMT_RESET, ev.StmtReset(stmt_id))

    def _cmd_stmt_fetch(self, payload: bytes) -> None:
        stmt_id, _ = p.read_uint(payload, 1, 4)
        self._statements.get(stmt_id, "mysqld_stmt_fetch")
        # Executes always send the whole result and never open a cursor.
        raise MarmotError(f"The statement ({stmt_id}) has no open cursor.", code=1421,
                          sqlstate="HY000")

    def _cmd_set_option(self, payload: bytes) -> None:
        option, _ = p.read_uint(payload, 1, 2)
        if option not in (0, 1):
            raise MarmotError("Unknown command", code=1047, sqlstate="08S01")
        self.multi_statements = option == 0
        self._write(self._end_of_rows(self._status, 0))
        self._seq = 0

    _COMMANDS: ClassVar[dict[int, Callable[[Any, bytes], Any]]] = {
        p.COM_QUIT: _cmd_quit, p.COM_QUERY: _cmd_query, p.COM_INIT_DB: _cmd_init_db,
        p.COM_PING: _cmd_ping, p.COM_FIELD_LIST: _cmd_field_list,
        p.COM_STATISTICS: _cmd_statistics, p.COM_PROCESS_KILL: _cmd_process_kill,
        p.COM_RESET_CONNECTION: _cmd_reset_connection,
        p.COM_CHANGE_USER: _cmd_change_user, p.COM_STMT_PREPARE: _cmd_stmt_prepare,
        p.COM_STMT_EXECUTE: _cmd_stmt_execute,
        p.COM_STMT_SEND_LONG_DATA: _cmd_stmt_send_long_data,
        p.COM_STMT_CLOSE: _cmd_stmt_close, p.COM_STMT_RESET: _cmd_stmt_reset,
        p.COM_STMT_FETCH: _cmd_stmt_fetch, p.COM_SET_OPTION: _cmd_set_option,
    }

    # --- answers ------------------------------------------------------------------------------

    def _require_answer(self, *commands: int) -> None:
        if self._state is not _ANSWERING:
            raise LocalProtocolError(f"no command to answer (state {self._state.name})")
        if commands and self._answering not in commands:
            raise LocalProtocolError(f"wrong answer to command {self._answering}")

    def _status_for(self, status_flags: int | None, more: bool) -> int:
        if status_flags is not None:
            self._status = status_flags & ~p.SERVER_MORE_RESULTS_EXISTS
        return self._status | p.SERVER_MORE_RESULTS_EXISTS if more else self._status

    def _finish_answer(self, more: bool) -> None:
        if more:
            return
        self._answering = None
        self._seq = 0
        self._transition_to(_COMMAND)

    def _end_of_rows(self, status: int, warnings: int) -> bytes:
        if self._client_caps & p.CLIENT_DEPRECATE_EOF:
            return p.ok_payload(0, 0, status, warnings, header=0xFE)
        return p.eof_payload(status, warnings)

    def send_ok(self, affected_rows: int = 0, last_insert_id: int = 0,
                status_flags: int | None = None, warnings: int = 0, info: str = "",
                more_results: bool = False) -> None:
        if self._state is not _ANSWERING:
            self._require_answer()
        more = more_results or bool((status_flags or 0) & p.SERVER_MORE_RESULTS_EXISTS)
        status = self._status_for(status_flags, more)
        self._write(p.ok_payload(affected_rows, last_insert_id, status, warnings, info))
        if self._answering == p.COM_INIT_DB and not more:
            self.database = self._pending_db
        self._finish_answer(more)

    def request_local_infile(self, filename: str) -> None:
        """Ask the client for the file of LOAD DATA LOCAL INFILE (answering a COM_QUERY). The
        client sends it as packets (``LocalInfileData`` events) and an empty packet
        (``LocalInfileEnd``); then the Query is answered as usual."""
        self._require_answer(p.COM_QUERY)
        self._write(bytes([p.LOCAL_INFILE_HEADER]) + filename.encode("utf-8", "surrogateescape"))
        self._transition_to(_INFILE)

    def _on_infile_packet(self, payload: bytes) -> ev.Event:
        if payload:
            return ev.LocalInfileData(payload)
        self._transition_to(_ANSWERING)
        return ev.LocalInfileEnd()

    def send_error(self, error: MarmotError) -> None:
        """Fail the command being answered (ends the answer), or refuse a pending login."""
        if self._state in (_LOGIN_PENDING, _GREETED):
            self.reject_login(error)
            return
        self._require_answer()
        self._stream_block = None
        self._write(p.error_payload(error))
        self._finish_answer(False)

    def send_disconnect_error(self, error: MarmotError) -> None:
        """An error sent unasked, between commands, before the server closes the connection
        (MySQL 8.0.24+: 4031 after wait_timeout), with sequence id 0; the connection ends."""
        if self._state is not _COMMAND:
            return
        self._seq = 0
        self._write(p.error_payload(error))
        self._transition_to(_CLOSED)

    def send_result_set(self, result: ResultSet, status_flags: int | None = None,
                        more_results: bool = False, binary: bool = False,
                        warnings: int = 0) -> None:
        self._require_answer(p.COM_QUERY, p.COM_STMT_EXECUTE)
        if not result.columns:
            self.send_ok(status_flags=status_flags, warnings=warnings, more_results=more_results)
            return
        status = self._status_for(status_flags, more_results)
        block, rows = encode_rows(result.columns, result.rows, binary)
        seq = self._seq
        self._out.append(block.framed(seq))
        self._seq = (seq + 1 + len(block.definitions)) & 0xFF
        if not self._client_caps & p.CLIENT_DEPRECATE_EOF:
            rows.insert(0, p.eof_payload(status))
        rows.append(self._end_of_rows(status, warnings))
        self._write_all(rows)
        self._finish_answer(more_results)

    # A result set sent in batches (a long read streamed from a worker as the socket drains):
    # ``start_rows`` announces the columns, ``send_rows`` any number of times, ``end_rows``
    # (or ``send_error``, which MySQL also sends in the middle of rows) ends it.

    def start_rows(self, columns: list[Column], rows: list[tuple], binary: bool) -> None:
        """The column block and the first batch (which may widen a column's announced type)."""
        self._require_answer(p.COM_QUERY, p.COM_STMT_EXECUTE)
        block, payloads = encode_rows(columns, rows, binary)
        self._stream_block, self._stream_binary = block, binary
        seq = self._seq
        self._out.append(block.framed(seq))
        self._seq = (seq + 1 + len(block.definitions)) & 0xFF
        if not self._client_caps & p.CLIENT_DEPRECATE_EOF:
            payloads.insert(0, p.eof_payload(self._status))
        self._write_all(payloads)

    def send_rows(self, rows: list[tuple]) -> None:
        self._require_answer(p.COM_QUERY, p.COM_STMT_EXECUTE)
        if self._stream_block is None:
            raise LocalProtocolError("send_rows before start_rows")
        try:
            payloads = encode_more_rows(self._stream_block, rows, self._stream_binary)
        except ValueMismatch:
            raise MarmotError("A value of a streamed result set does not fit the column type "
                              "announced for it; use CAST in the select list", code=1105,
                              sqlstate="HY000") from None
        self._write_all(payloads)

    def end_rows(self, status_flags: int | None = None, more_results: bool = False,
                 warnings: int = 0) -> None:
        self._require_answer(p.COM_QUERY, p.COM_STMT_EXECUTE)
        self._stream_block = None
        self._write(self._end_of_rows(self._status_for(status_flags, more_results), warnings))
        self._finish_answer(more_results)

    def send_prepare_ok(self, stmt_id: int, columns: list[Column], param_count: int,
                        warnings: int = 0) -> None:
        self._require_answer(p.COM_STMT_PREPARE)
        deprecate_eof = self._client_caps & p.CLIENT_DEPRECATE_EOF
        payloads = [_PREPARE_OK.pack(0, stmt_id, len(columns), param_count, 0, warnings)]
        if param_count:
            payloads.extend([_PARAM_DEFINITION] * param_count)
            if not deprecate_eof:
                payloads.append(p.eof_payload(self._status))
        if columns:
            payloads.extend(encode_column(c) for c in columns)
            if not deprecate_eof:
                payloads.append(p.eof_payload(self._status))
        self._statements.add(stmt_id, param_count, len(columns))
        self._write_all(payloads)
        self._finish_answer(False)

    def send_field_list(self, columns: list[Column]) -> None:
        self._require_answer(p.COM_FIELD_LIST)
        payloads = [encode_column(c) + b"\xfb" for c in columns]  # + NULL default value
        payloads.append(self._end_of_rows(self._status, 0))
        self._write_all(payloads)
        self._finish_answer(False)

    def send_statistics(self, text: str) -> None:
        self._require_answer(p.COM_STATISTICS)
        self._write(text.encode("utf-8"))
        self._finish_answer(False)

    _HANDLERS: ClassVar[dict[ConnectionState, Callable[[Any, bytes], Any]]] = {
        _GREETED: _on_greeted, _TLS: _on_handshake_response,
        _AUTHENTICATING: _on_auth_packet, _COMMAND: _on_command, _INFILE: _on_infile_packet,
    }


_PARAM_DEFINITION = encode_column(param_column())


def _wrong_db_name(name: str) -> MarmotError:
    return MarmotError(f"Incorrect database name '{shown(name, 64)}'", code=ER_WRONG_DB_NAME,
                       sqlstate="42000")
