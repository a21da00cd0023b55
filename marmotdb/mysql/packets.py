"""MySQL packet framing, length-encoded values, OK/ERR/EOF payloads and protocol constants.

Theory of operation
-------------------
Every MySQL packet is a 4-byte header (3-byte little-endian payload length, 1-byte sequence
id) followed by the payload. A payload of 16 MiB - 1 (0xFFFFFF) bytes or more is split into
0xFFFFFF-byte packets followed by a shorter one (possibly empty); the receiver joins them.
Sequence ids count every packet of one exchange in both directions and wrap at 256: a
command starts at 0, so the server's first reply packet is 1.

``PacketReader`` takes arbitrary byte chunks (TCP does not preserve boundaries) and yields
whole, joined payloads with the sequence ids of their first and last packet; the connection
checks them against what it expects. The reader refuses a payload larger than
``max_allowed_packet_bytes`` as soon as the headers announce it, before buffering it.
``frame`` does the reverse. Parsing helpers raise ``ProtocolError`` (1835, malformed packet)
on truncated input and never anything else.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from marmotdb.errors import (
    ER_MALFORMED_PACKET,
    ER_NET_PACKET_TOO_LARGE,
    MarmotError,
    PacketTooLarge,
    ProtocolError,
)

# --- capability flags (Protocol::CapabilityFlags) -------------------------------------------
CLIENT_LONG_PASSWORD = 1
CLIENT_FOUND_ROWS = 1 << 1
CLIENT_LONG_FLAG = 1 << 2
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_NO_SCHEMA = 1 << 4
CLIENT_COMPRESS = 1 << 5
CLIENT_ODBC = 1 << 6
CLIENT_LOCAL_FILES = 1 << 7
LOCAL_INFILE_HEADER = 0xFB  # the server asks the client for a file (LOAD DATA LOCAL)
CLIENT_IGNORE_SPACE = 1 << 8
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_INTERACTIVE = 1 << 10
CLIENT_SSL = 1 << 11
CLIENT_IGNORE_SIGPIPE = 1 << 12
CLIENT_TRANSACTIONS = 1 << 13
CLIENT_RESERVED = 1 << 14
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PS_MULTI_RESULTS = 1 << 18
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_CONNECT_ATTRS = 1 << 20
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22
CLIENT_SESSION_TRACK = 1 << 23
CLIENT_DEPRECATE_EOF = 1 << 24
CLIENT_OPTIONAL_RESULTSET_METADATA = 1 << 25
CLIENT_QUERY_ATTRIBUTES = 1 << 27

# What marmotdb offers; CLIENT_SSL is added when TLS is configured. LOCAL_FILES: the server
# asks only for the file the client's own LOAD DATA LOCAL statement names, and only when the
# client opted in too. Not offered: COMPRESS, SESSION_TRACK, QUERY_ATTRIBUTES,
# OPTIONAL_RESULTSET_METADATA.
SERVER_CAPABILITIES = (
    CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB
    | CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41
    | CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_RESERVED
    | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS
    | CLIENT_DEPRECATE_EOF | CLIENT_LOCAL_FILES  # LOAD DATA LOCAL: the client must opt in too
)

# --- server status flags (SERVER_STATUS_*) --------------------------------------------------
SERVER_STATUS_IN_TRANS = 1
SERVER_STATUS_AUTOCOMMIT = 2
SERVER_MORE_RESULTS_EXISTS = 8
SERVER_QUERY_NO_GOOD_INDEX_USED = 16
SERVER_QUERY_NO_INDEX_USED = 32
SERVER_STATUS_CURSOR_EXISTS = 64
SERVER_STATUS_LAST_ROW_SENT = 128
SERVER_STATUS_DB_DROPPED = 256
SERVER_STATUS_NO_BACKSLASH_ESCAPES = 512
SERVER_STATUS_METADATA_CHANGED = 1024
SERVER_QUERY_WAS_SLOW = 2048
SERVER_PS_OUT_PARAMS = 4096
SERVER_STATUS_IN_TRANS_READONLY = 8192
SERVER_SESSION_STATE_CHANGED = 16384


class Command(IntEnum):
    """First byte of a command-phase packet."""

    SLEEP = 0x00
    QUIT = 0x01
    INIT_DB = 0x02
    QUERY = 0x03
    FIELD_LIST = 0x04
    CREATE_DB = 0x05
    DROP_DB = 0x06
    REFRESH = 0x07
    SHUTDOWN = 0x08
    STATISTICS = 0x09
    PROCESS_INFO = 0x0A
    CONNECT = 0x0B
    PROCESS_KILL = 0x0C
    DEBUG = 0x0D
    PING = 0x0E
    TIME = 0x0F
    DELAYED_INSERT = 0x10
    CHANGE_USER = 0x11
    BINLOG_DUMP = 0x12
    TABLE_DUMP = 0x13
    CONNECT_OUT = 0x14
    REGISTER_SLAVE = 0x15
    STMT_PREPARE = 0x16
    STMT_EXECUTE = 0x17
    STMT_SEND_LONG_DATA = 0x18
    STMT_CLOSE = 0x19
    STMT_RESET = 0x1A
    SET_OPTION = 0x1B
    STMT_FETCH = 0x1C
    DAEMON = 0x1D
    BINLOG_DUMP_GTID = 0x1E
    RESET_CONNECTION = 0x1F


# The same codes as plain ints: Enum member access costs ~100-200 ns in Python 3.11, and the
# command loop reads them on every command.
COM_QUIT = int(Command.QUIT)
COM_INIT_DB = int(Command.INIT_DB)
COM_QUERY = int(Command.QUERY)
COM_FIELD_LIST = int(Command.FIELD_LIST)
COM_STATISTICS = int(Command.STATISTICS)
COM_PING = int(Command.PING)
COM_CHANGE_USER = int(Command.CHANGE_USER)
COM_STMT_PREPARE = int(Command.STMT_PREPARE)
COM_STMT_EXECUTE = int(Command.STMT_EXECUTE)
COM_STMT_SEND_LONG_DATA = int(Command.STMT_SEND_LONG_DATA)
COM_STMT_CLOSE = int(Command.STMT_CLOSE)
COM_STMT_RESET = int(Command.STMT_RESET)
COM_SET_OPTION = int(Command.SET_OPTION)
COM_STMT_FETCH = int(Command.STMT_FETCH)
COM_RESET_CONNECTION = int(Command.RESET_CONNECTION)
COM_PROCESS_KILL = int(Command.PROCESS_KILL)


MAX_PACKET_PAYLOAD = 0xFFFFFF
DEFAULT_MAX_ALLOWED_PACKET_BYTES = 64 << 20  # MySQL 8.0 default

_HEADER = struct.Struct("<I")  # 3-byte length | sequence id << 24, in one little-endian word
_U16 = struct.Struct("<H")
_U24_LOW = 0xFFFFFF


def malformed(what: str) -> ProtocolError:
    """The one way to report a packet that does not parse (1835)."""
    return ProtocolError(f"Malformed communication packet ({what})", code=ER_MALFORMED_PACKET)


def packet_too_large() -> PacketTooLarge:
    return PacketTooLarge("Got a packet bigger than 'max_allowed_packet' bytes",
                          code=ER_NET_PACKET_TOO_LARGE)


# --- framing ----------------------------------------------------------------------------------


def frame(payload: bytes, seq: int) -> tuple[bytes, int]:
    """Frame one payload starting at sequence id ``seq``; returns (bytes, next seq id)."""
    n = len(payload)
    if n < MAX_PACKET_PAYLOAD:
        return _HEADER.pack(n | (seq << 24)) + payload, (seq + 1) & 0xFF
    parts = []
    pos = 0
    while True:
        chunk = payload[pos:pos + MAX_PACKET_PAYLOAD]
        parts.append(_HEADER.pack(len(chunk) | (seq << 24)))
        parts.append(chunk)
        seq = (seq + 1) & 0xFF
        pos += MAX_PACKET_PAYLOAD
        if len(chunk) < MAX_PACKET_PAYLOAD:
            return b"".join(parts), seq


class PacketReader:
    """Bytes in, whole payloads out: ``(first_seq, last_seq, payload)``."""

    __slots__ = (
        "_buf",
        "_first_seq",
        "_last_seq",
        "_parts",
        "_parts_len",
        "last_header_seq",
        "max_allowed_packet_bytes",
    )

    def __init__(self, max_allowed_packet_bytes: int = DEFAULT_MAX_ALLOWED_PACKET_BYTES):
        self._buf = bytearray()
        self._parts: list[bytes] = []  # fragments of a payload split over 0xFFFFFF packets
        self._parts_len = 0
        self._first_seq = 0
        self._last_seq = 0
        self.last_header_seq = -1  # of the last header parsed; an ERR answering it uses +1
        self.max_allowed_packet_bytes = max_allowed_packet_bytes

    def feed(self, data: bytes) -> None:
        self._buf += data

    def take_buffered(self) -> bytes:
        """Hand over the raw bytes not yet parsed (the start of a TLS ClientHello that came in
        the same read as the SSLRequest)."""
        data = bytes(self._buf)
        self._buf.clear()
        return data

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf) + self._parts_len

    def next_packet(self) -> tuple[int, int, bytes] | None:
        """The next complete payload, or None if more bytes are needed.

        Raises PacketTooLarge (1153) or ProtocolError (fragments out of sequence)."""
        buf = self._buf
        while len(buf) >= 4:
            word = _HEADER.unpack_from(buf)[0]
            length = word & _U24_LOW
            seq = self.last_header_seq = word >> 24
            if self._parts_len + length > self.max_allowed_packet_bytes:
                raise packet_too_large()
            if self._parts and seq != (self._last_seq + 1) & 0xFF:
                raise ProtocolError("Got packets out of order", code=1156, sqlstate="08S01")
            if len(buf) < 4 + length:
                return None
            payload = bytes(buf[4:4 + length])
            del buf[:4 + length]
            if length == MAX_PACKET_PAYLOAD:
                if not self._parts:
                    self._first_seq = seq
                self._parts.append(payload)
                self._parts_len += length
                self._last_seq = seq
                continue
            if self._parts:
                self._parts.append(payload)
                whole = b"".join(self._parts)
                first = self._first_seq
                self._parts.clear()
                self._parts_len = 0
                return first, seq, whole
            return seq, seq, payload
        return None


# --- length-encoded integers and strings ------------------------------------------------------

_LENENC_2 = struct.Struct("<BH")
_LENENC_8 = struct.Struct("<BQ")


def lenenc_int(n: int) -> bytes:
    if n < 251:
        return bytes((n,))
    if n < 0x10000:
        return _LENENC_2.pack(0xFC, n)
    if n < 0x1000000:
        return b"\xfd" + n.to_bytes(3, "little")
    return _LENENC_8.pack(0xFE, n)


def lenenc_bytes(b: bytes) -> bytes:
    n = len(b)
    if n < 251:
        return bytes((n,)) + b
    return lenenc_int(n) + b


def read_lenenc_int(buf: bytes, pos: int) -> tuple[int | None, int]:
    """Read a length-encoded int at ``pos``; 0xFB (NULL) gives None."""
    if pos >= len(buf):
        raise malformed("truncated length")
    first = buf[pos]
    if first < 0xFB:
        return first, pos + 1
    width = _LENENC_WIDTH.get(first)
    if width is None:
        if first == 0xFB:
            return None, pos + 1
        raise malformed("bad length prefix")
    end = pos + 1 + width
    if end > len(buf):
        raise malformed("truncated length")
    return int.from_bytes(buf[pos + 1:end], "little"), end


_LENENC_WIDTH = {0xFC: 2, 0xFD: 3, 0xFE: 8}


def read_lenenc_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = read_lenenc_int(buf, pos)
    if n is None:
        raise malformed("unexpected NULL string")
    end = pos + n
    if end > len(buf):
        raise malformed("truncated string")
    return bytes(buf[pos:end]), end


def read_nul_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    """A NUL-terminated string at ``pos`` (the terminator is consumed, not returned)."""
    end = buf.find(b"\x00", pos)
    if end < 0:
        raise malformed("unterminated string")
    return bytes(buf[pos:end]), end + 1


def read_fixed(buf: bytes, pos: int, n: int) -> tuple[bytes, int]:
    end = pos + n
    if end > len(buf):
        raise malformed("truncated field")
    return bytes(buf[pos:end]), end


def read_uint(buf: bytes, pos: int, n: int) -> tuple[int, int]:
    end = pos + n
    if end > len(buf):
        raise malformed("truncated integer")
    return int.from_bytes(buf[pos:end], "little"), end


# --- generic response payloads ----------------------------------------------------------------

_OK_TAIL = struct.Struct("<HH")


def ok_payload(affected_rows: int, last_insert_id: int, status_flags: int, warnings: int,
               info: str = "", header: int = 0x00) -> bytes:
    """OK_Packet. ``header`` 0xFE makes the EOF-replacing OK of CLIENT_DEPRECATE_EOF.

    ``info`` goes as a length-encoded string, as MySQL's and MariaDB's servers write it
    (``net_store_data``) whatever the protocol docs say without SESSION_TRACK: libmariadb
    (the mariadb CLI, mysqlclient) reads the length and fails with 2027 on bare text.

    ``last_insert_id`` is MySQL's unsigned 64-bit number: an explicit negative value put in an
    AUTO_INCREMENT column (Django's range tests insert -32768) goes as its two's complement,
    as MySQL sends it (was an internal error)."""
    last_insert_id &= 0xFFFF_FFFF_FFFF_FFFF
    if 0 <= affected_rows < 251 and last_insert_id < 251:
        head = bytes((header, affected_rows, last_insert_id))
    else:
        head = bytes((header,)) + lenenc_int(affected_rows) + lenenc_int(last_insert_id)
    tail = _OK_TAIL.pack(status_flags, warnings)
    if info:
        encoded = info.encode("utf-8")
        return head + tail + lenenc_int(len(encoded)) + encoded
    return head + tail


def err_payload(code: int, sqlstate: str, message: str) -> bytes:
    """ERR_Packet with the SQLSTATE marker (every client we accept speaks PROTOCOL_41)."""
    state = (sqlstate.encode("ascii", "replace") + b"HY000")[:5]
    return b"\xff" + _U16.pack(code) + b"#" + state + message.encode("utf-8", "replace")


def error_payload(error: MarmotError) -> bytes:
    return err_payload(error.code, error.sqlstate, error.message)


_EOF = struct.Struct("<BHH")


def eof_payload(status_flags: int, warnings: int = 0) -> bytes:
    return _EOF.pack(0xFE, warnings, status_flags)
