"""Events a ``ServerConnection`` hands to its caller, one per client request.

Plain slotted dataclasses (no msgspec): they are built once per command on the hot path and
never serialised. Each docstring says how the caller must answer; events marked "no answer"
must not be answered (the client does not read a reply for them).

Don't subclass these: the runtime dispatches on ``type(event)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Authenticated:
    """The client proved it knows the password of ``user``.

    Answer with ``accept_login()`` (after checking the database grant, if ``database`` is set)
    or ``reject_login(error)``. ``change_user`` is True when this came from COM_CHANGE_USER:
    on accept the caller resets the session (variables, transaction, temporary state).
    """

    user: str
    database: str | None
    attrs: dict[str, str]
    client_capabilities: int
    auth_plugin: str
    tls: bool
    change_user: bool = False
    charset: int = 0


@dataclass(slots=True)
class Query:
    """COM_QUERY. Answer with one or more results: send_ok / send_result_set with
    ``more_results=True`` on all but the last, or send_error (which ends the answer)."""

    sql: str


@dataclass(slots=True)
class InitDb:
    """COM_INIT_DB (``USE db``). Answer send_ok or send_error."""

    database: str


@dataclass(slots=True)
class Ping:
    """COM_PING. Answer send_ok()."""


@dataclass(slots=True)
class Quit:
    """COM_QUIT. No answer; the connection is now CLOSED and the caller closes the socket."""


@dataclass(slots=True)
class FieldList:
    """COM_FIELD_LIST (mariadb CLI auto-rehash). Answer send_field_list(columns) or send_error."""

    table: str
    wildcard: str


@dataclass(slots=True)
class Statistics:
    """COM_STATISTICS (``status`` in the mysql CLI). Answer send_statistics(text)."""


@dataclass(slots=True)
class ResetConnection:
    """COM_RESET_CONNECTION. The machine has already dropped this connection's prepared
    statements; the caller resets its session state and answers send_ok()."""


@dataclass(slots=True)
class StmtPrepare:
    """COM_STMT_PREPARE. ``stmt_id`` is the id the machine reserved for this statement.
    Answer ``send_prepare_ok(stmt_id, columns, param_count)`` or send_error."""

    stmt_id: int
    sql: str


@dataclass(slots=True)
class StmtExecute:
    """COM_STMT_EXECUTE with its parameters decoded to Python values (int, float, str, bytes,
    Decimal or str for DECIMAL, temporal values as MySQL-formatted str, None for NULL).

    ``param_types`` are the MySQL type codes in force (sent now or remembered from the last
    execute), each ``(FieldType, unsigned)``. Answer like a Query, with ``binary=True``.
    """

    stmt_id: int
    flags: int
    params: list[Any]
    param_types: list[tuple[int, bool]] = field(default_factory=list)


@dataclass(slots=True)
class StmtReset:
    """COM_STMT_RESET. The machine has cleared the statement's long-data buffers; the caller
    closes any open cursor for it and answers send_ok()."""

    stmt_id: int


@dataclass(slots=True)
class StmtClose:
    """COM_STMT_CLOSE. No answer; the caller drops its plan for ``stmt_id``."""

    stmt_id: int


@dataclass(slots=True)
class ConnectionClosed:
    """The peer closed the connection, or the machine hit a protocol error (``error`` set and
    an ERR packet, if one could be sent, is queued in data_to_send()). No answer: flush
    data_to_send() and close the socket."""

    error: Exception | None = None


@dataclass(slots=True)
class LocalInfileData:
    """A packet of the file the client sends after ``request_local_infile`` (LOAD DATA LOCAL
    INFILE): at most max_allowed_packet bytes. No answer; more data or the end follows."""

    data: bytes


@dataclass(slots=True)
class LocalInfileEnd:
    """The client's empty packet: the file is complete (or the client could not read it).
    Answer the Query that asked for the file: send_ok / send_error."""


Event = (Authenticated | Query | InitDb | Ping | Quit | FieldList | Statistics | ResetConnection
         | StmtPrepare | StmtExecute | StmtReset | StmtClose | ConnectionClosed
         | LocalInfileData | LocalInfileEnd)
