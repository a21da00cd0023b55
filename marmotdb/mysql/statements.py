"""The prepared statements of one connection, as the protocol layer sees them.

The protocol layer keeps only what decoding needs: each statement's parameter count, the
parameter types of its last execute (clients such as libmariadb/sysbench send types once and
then re-execute with new-params-bound-flag = 0) and the long-data buffers built by
COM_STMT_SEND_LONG_DATA. The SQL layer keeps the plan under the same statement id.

Bounds: at most ``max_prepared_stmt_count`` statements per connection (ERR 1461 beyond); the
long data of one statement at most ``max_allowed_packet_bytes`` in total, and of all the
connection's statements together at most ``long_data_bytes_max`` (beyond either, that
statement's data is dropped and its next execute answers ERR 1153, as MySQL does for the
first). These errors answer the one command; only malformed packets (ProtocolError) end the
connection.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from marmotdb.errors import MarmotError
from marmotdb.mysql.events import StmtExecute
from marmotdb.mysql.packets import malformed, read_uint
from marmotdb.mysql.params import UNSIGNED_FLAG, decode_params

ER_MAX_PREPARED_STMT_COUNT_REACHED = 1461
ER_UNKNOWN_STMT_HANDLER = 1243
_EXECUTE_HEAD = struct.Struct("<IBI")  # stmt id, flags, iteration count
_LONG_DATA_HEAD = struct.Struct("<IH")


@dataclass(slots=True)
class PreparedStatement:
    param_count: int
    column_count: int
    param_types: list[tuple[int, bool]] | None = None
    long_data: dict[int, bytearray] = field(default_factory=dict)
    long_data_bytes: int = 0
    long_data_overflow: bool = False

    def reset(self) -> None:
        self.long_data.clear()
        self.long_data_bytes = 0
        self.long_data_overflow = False


class StatementTable:
    """Statement id -> PreparedStatement, with the bounds in the module docstring."""

    __slots__ = ("_next_id", "_statements", "long_data_bytes", "max_count",
                 "max_long_data_bytes", "max_connection_long_data_bytes")

    def __init__(self, max_count: int, max_long_data_bytes: int,
                 max_connection_long_data_bytes: int | None = None):
        self._statements: dict[int, PreparedStatement] = {}
        self._next_id = 1
        self.max_count = max_count
        self.max_long_data_bytes = max_long_data_bytes
        self.max_connection_long_data_bytes = (max_long_data_bytes
                                               if max_connection_long_data_bytes is None
                                               else max_connection_long_data_bytes)
        self.long_data_bytes = 0  # buffered by all statements together

    def __len__(self) -> int:
        return len(self._statements)

    def reserve_id(self) -> int:
        """The id for the next COM_STMT_PREPARE; raises ERR 1461 at the bound."""
        if len(self._statements) >= self.max_count:
            raise MarmotError(
                "Can't create more than max_prepared_stmt_count statements "
                f"(current value: {self.max_count})",
                code=ER_MAX_PREPARED_STMT_COUNT_REACHED, sqlstate="42000")
        stmt_id = self._next_id
        self._next_id = (self._next_id % 0xFFFFFFFF) + 1
        return stmt_id

    def add(self, stmt_id: int, param_count: int, column_count: int) -> None:
        self._statements[stmt_id] = PreparedStatement(param_count, column_count)

    def get(self, stmt_id: int, command: str) -> PreparedStatement:
        stmt = self._statements.get(stmt_id)
        if stmt is None:
            raise MarmotError(f"Unknown prepared statement handler ({stmt_id}) given to "
                              f"{command}", code=ER_UNKNOWN_STMT_HANDLER, sqlstate="HY000")
        return stmt

    def close(self, stmt_id: int) -> None:
        stmt = self._statements.pop(stmt_id, None)
        if stmt is not None:
            self._release(stmt)

    def clear(self) -> None:
        self._statements.clear()
        self.long_data_bytes = 0

    def reset(self, stmt_id: int, command: str) -> None:
        """COM_STMT_RESET: drop the statement's long data (ERR 1243 if unknown)."""
        self._release(self.get(stmt_id, command))

    def _release(self, stmt: PreparedStatement) -> None:
        self.long_data_bytes -= stmt.long_data_bytes
        stmt.reset()

    def add_long_data(self, payload: bytes) -> None:
        """COM_STMT_SEND_LONG_DATA: no answer, so errors surface at the next execute."""
        if len(payload) < 1 + _LONG_DATA_HEAD.size:
            raise malformed("short send_long_data")
        stmt_id, param_id = _LONG_DATA_HEAD.unpack_from(payload, 1)
        stmt = self._statements.get(stmt_id)
        if stmt is None or param_id >= stmt.param_count or stmt.long_data_overflow:
            return
        chunk = payload[1 + _LONG_DATA_HEAD.size:]
        if (stmt.long_data_bytes + len(chunk) > self.max_long_data_bytes
                or self.long_data_bytes + len(chunk) > self.max_connection_long_data_bytes):
            self._release(stmt)
            stmt.long_data_overflow = True
            return
        stmt.long_data.setdefault(param_id, bytearray()).extend(chunk)
        stmt.long_data_bytes += len(chunk)
        self.long_data_bytes += len(chunk)

    def decode_execute(self, payload: bytes) -> StmtExecute:
        """COM_STMT_EXECUTE -> event; remembers the types; consumes the long data."""
        if len(payload) < 1 + _EXECUTE_HEAD.size:
            raise malformed("short execute")
        stmt_id, flags, _iterations = _EXECUTE_HEAD.unpack_from(payload, 1)
        stmt = self.get(stmt_id, "mysqld_stmt_execute")
        if stmt.long_data_overflow:
            self._release(stmt)
            raise MarmotError("Parameter of prepared statement which is set through "
                                 "mysql_send_long_data() is longer than 'max_allowed_packet' "
                                 "bytes", code=1153, sqlstate="HY000")
        try:
            params = self._decode_params(stmt, payload, 1 + _EXECUTE_HEAD.size)
        finally:
            self._release(stmt)
        return StmtExecute(stmt_id, flags, params, stmt.param_types or [])

    def _decode_params(self, stmt: PreparedStatement, payload: bytes, pos: int) -> list:
        n = stmt.param_count
        if n == 0:
            return []
        bitmap_len = (n + 7) // 8
        if pos + bitmap_len + 1 > len(payload):
            raise malformed("truncated execute")
        null_bitmap = payload[pos:pos + bitmap_len]
        pos += bitmap_len
        bound, pos = read_uint(payload, pos, 1)
        if bound:
            if pos + 2 * n > len(payload):
                raise malformed("truncated parameter types")
            raw = payload[pos:pos + 2 * n]
            stmt.param_types = [(raw[2 * i], bool(raw[2 * i + 1] & UNSIGNED_FLAG))
                                for i in range(n)]
            pos += 2 * n
        elif stmt.param_types is None:
            raise MarmotError("Prepared statement executed without parameter types",
                                code=1210, sqlstate="HY000")
        return decode_params(payload, pos, stmt.param_types, null_bitmap, stmt.long_data)
