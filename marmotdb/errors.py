"""One exception tree for marmotdb.

Every error a client can see carries a MySQL error code, a SQLSTATE and a ``retryable`` flag.
Foreign exceptions (SQLite's, sqlglot's, OS errors) are converted into this tree at exactly
one boundary each (``from_sqlite`` below for SQLite); the MySQL layer turns a ``MarmotError``
into an ERR packet in one place.

    MarmotError                     1105 HY000  (generic)
    ├── ProtocolError               1047/1153/08S01   malformed packets, unknown commands
    ├── AuthError                   1045/1044/1142/1227 28000/42000
    ├── SqlError                    parse and semantic errors (1064, 1146, 1054, ...)
    │   └── NotSupportedError       1235 42000  (names the construct)
    ├── ConstraintError             1062/1048/1452/1451/1406/1366/1264 23000/22001/HY000
    ├── TransientError (retryable)  1205 lock wait timeout, 1213 deadlock/conflict
    ├── QueryInterrupted            3024 max_execution_time exceeded, 1317 killed
    ├── CommitOutcomeUnknown        the coordinator lost contact after deciding
    ├── AutoIncrementExhausted      1467 HY000  a node's claimed AUTO_INCREMENT ids ran out
    ├── StorageError                corrupt input, snapshot/checksum failures
    └── ClockOffsetError (retryable) a peer's HLC timestamp is too far ahead of ours
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any


class MarmotError(Exception):
    """Base error: a MySQL error code, a SQLSTATE and whether the client may retry."""

    code: int = 1105
    sqlstate: str = "HY000"
    retryable: bool = False

    def __init__(self, message: str, *, code: int | None = None, sqlstate: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
            self.sqlstate = sqlstate or SQLSTATE_BY_CODE.get(code, "HY000")
        elif sqlstate is not None:
            self.sqlstate = sqlstate

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}, {self.sqlstate!r}, {self.message!r})"


class ProtocolError(MarmotError):
    code, sqlstate = 1047, "08S01"


class PacketTooLarge(ProtocolError):
    code, sqlstate = 1153, "08S01"


class AuthError(MarmotError):
    code, sqlstate = 1045, "28000"


class SqlError(MarmotError):
    code, sqlstate = 1064, "42000"


class NotSupportedError(SqlError):
    code, sqlstate = 1235, "42000"


class ConstraintError(MarmotError):
    code, sqlstate = 1062, "23000"


class TransientError(MarmotError):
    code, sqlstate, retryable = 1205, "HY000", True


class QueryInterrupted(MarmotError):
    code, sqlstate = 3024, "HY000"


class AutoIncrementExhausted(MarmotError):
    """A statement needed more AUTO_INCREMENT ids than this node's claimed ranges held
    (txn/DESIGN.md §9). The write path claims more and runs the statement again; a client
    sees it only when that keeps failing."""

    code, sqlstate = 1467, "HY000"

    def __init__(self, table: str, handed: int):
        super().__init__(f"Failed to read auto-increment value from storage engine (this "
                         f"node's claimed ids for table '{table}' ran out)")
        self.table = table
        self.handed = handed  # ids the statement took before it ran out


class CommitOutcomeUnknown(MarmotError):
    """The decision may or may not have committed: never a false success or failure."""

    code, sqlstate = 1180, "HY000"


class StorageError(MarmotError):
    code, sqlstate = 1105, "HY000"


class ClockOffsetError(MarmotError):
    """A remote HLC timestamp exceeds max_clock_offset_ms: refused, never absorbed."""

    code, sqlstate, retryable = 1105, "HY000", True


# MySQL error codes used by marmotdb, by name. One table so every module speaks the same codes.
ER_DUP_ENTRY = 1062
ER_BAD_NULL_ERROR = 1048
ER_NO_REFERENCED_ROW_2 = 1452
ER_ROW_IS_REFERENCED_2 = 1451
ER_DATA_TOO_LONG = 1406
ER_TRUNCATED_WRONG_VALUE_FOR_FIELD = 1366
ER_WARN_DATA_OUT_OF_RANGE = 1264
ER_CHECK_CONSTRAINT_VIOLATED = 3819
ER_PARSE_ERROR = 1064
ER_NO_SUCH_TABLE = 1146
ER_BAD_DB_ERROR = 1049
ER_BAD_FIELD_ERROR = 1054
ER_TABLE_EXISTS_ERROR = 1050
ER_BAD_TABLE_ERROR = 1051
ER_DB_CREATE_EXISTS = 1007
ER_DB_DROP_EXISTS = 1008
ER_NO_DB_ERROR = 1046
ER_ACCESS_DENIED_ERROR = 1045
ER_DBACCESS_DENIED_ERROR = 1044
ER_TABLEACCESS_DENIED_ERROR = 1142
ER_SPECIFIC_ACCESS_DENIED_ERROR = 1227
ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213
ER_NOT_SUPPORTED_YET = 1235
ER_BAD_FT_COLUMN = 1283
ER_WRONG_SUB_KEY = 1089
ER_FT_MATCHING_KEY_NOT_FOUND = 1191
ER_PS_MANY_PARAM = 1390
ER_UNKNOWN_SYSTEM_VARIABLE = 1193
ER_WRONG_VALUE_FOR_VAR = 1231
ER_UNKNOWN_COM_ERROR = 1047
ER_NET_PACKET_TOO_LARGE = 1153
ER_NET_READ_ERROR = 1158
ER_MALFORMED_PACKET = 1835
ER_QUERY_TIMEOUT = 3024
ER_QUERY_INTERRUPTED = 1317
ER_OUT_OF_RESOURCES = 1041  # a bounded queue of long statements is full (runtime/node_host.py)
ER_UNKNOWN_STMT_HANDLER = 1243
ER_WRONG_ARGUMENTS = 1210
ER_DUP_FIELDNAME = 1060
ER_DUP_KEYNAME = 1061
ER_CANT_DROP_FIELD_OR_KEY = 1091
ER_SP_DOES_NOT_EXIST = 1305
ER_UNKNOWN_ERROR = 1105
ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = 1792
ER_SP_DOES_NOT_EXIST_SAVEPOINT = 1305
ER_DIVISION_BY_ZERO = 1365
ER_TOO_MANY_USER_CONNECTIONS = 1203
ER_CON_COUNT_ERROR = 1040
ER_SERVER_SHUTDOWN = 1053
ER_HANDSHAKE_ERROR = 1043
ER_WRONG_VALUE_COUNT_ON_ROW = 1136
ER_OPERAND_COLUMNS = 1241
ER_NON_UNIQ_ERROR = 1052
ER_VIEW_INVALID = 1356
ER_UNKNOWN_TABLE = 1109
ER_NO_SUCH_USER = 1449
ER_OPTION_PREVENTS_STATEMENT = 1290
ER_CANT_CHANGE_TX_CHARACTERISTICS = 1568
ER_AUTOINC_READ_FAILED = 1467
ER_COMMIT_OUTCOME_UNKNOWN = 1180
ER_WRONG_DB_NAME = 1102
ER_TOO_MANY_PREPARED = 1461
ER_CANNOT_ADD_FOREIGN = 1215
ER_VIEW_SELECT_TMPTABLE = 1352
ER_TRG_ON_VIEW_OR_TEMP_TABLE = 1361
# DDL inside an open transaction with sql.ddl_implicit_commit = false (marmotdb/ddl/)
ER_CANT_DO_THIS_DURING_AN_TRANSACTION = 1179
# PARTITION BY (sql/definition/partitioning.py)
ER_PARTITION_REQUIRES_VALUES_ERROR = 1479
ER_PARTITION_WRONG_VALUES_ERROR = 1480
ER_PARTITION_MAXVALUE_ERROR = 1481
ER_PARTITIONS_MUST_BE_DEFINED_ERROR = 1492
ER_RANGE_NOT_INCREASING_ERROR = 1493
ER_UNIQUE_KEY_NEED_ALL_FIELDS_IN_PF = 1503
ER_FOREIGN_KEY_ON_PARTITIONED = 1506
ER_SAME_NAME_PARTITION = 1517
ER_DEPENDENT_BY_PARTITION_FUNC = 3855

SQLSTATE_BY_CODE: dict[int, str] = {
    1062: "23000", 1048: "23000", 1452: "23000", 1451: "23000", 1406: "22001",
    1366: "HY000", 1264: "22003", 3819: "HY000", 1064: "42000", 1146: "42S02",
    1049: "42000", 1054: "42S22", 1050: "42S01", 1051: "42S02", 1007: "HY000",
    1008: "HY000", 1046: "3D000", 1045: "28000", 1044: "42000", 1142: "42000",
    1227: "42000", 1205: "HY000", 1213: "40001", 1235: "42000", 1193: "HY000",
    1231: "42000", 1047: "08S01", 1053: "08S01", 1153: "08S01", 1158: "08S01", 1835: "HY000",
    3024: "HY000", 1317: "70100", 1243: "HY000", 1210: "HY000", 1060: "42S21",
    1061: "42000", 1091: "42000", 1305: "42000", 1105: "HY000", 1792: "25006",
    1365: "22012", 1203: "42000", 1040: "08004", 1043: "08S01", 1136: "21S01",
    1241: "21000", 1052: "23000", 1356: "HY000", 1109: "42S02", 1449: "HY000",
    1290: "HY000", 1568: "25001", 1180: "HY000", 1102: "42000", 1461: "42000",
    1215: "HY000", 1352: "HY000", 1361: "HY000", 1467: "HY000", 1179: "25000",
}

# System variables and character sets (the catalog's errors).
ER_UNKNOWN_CHARACTER_SET = 1115
ER_LOCAL_VARIABLE = 1228
ER_GLOBAL_VARIABLE = 1229
ER_WRONG_TYPE_FOR_VAR = 1232
ER_INCORRECT_GLOBAL_LOCAL_VAR = 1238
ER_UNKNOWN_COLLATION = 1273
ER_UNKNOWN_TIME_ZONE = 1298
ER_COLLATION_CHARSET_MISMATCH = 1253
ER_NONEXISTING_GRANT = 1141
ER_WRONG_OBJECT = 1347
ER_TRG_DOES_NOT_EXIST = 1360
ER_NO_BINARY_LOGGING = 1381
# Settings, threads, table locks and maintenance.
ER_VARIABLE_IS_READONLY = 1621
ER_NO_SECURE_TRANSPORTS_CONFIGURED = 3160
ER_CLIENT_INTERACTION_TIMEOUT = 4031
ER_NO_SUCH_THREAD = 1094
ER_KILL_DENIED_ERROR = 1095
ER_TABLE_NOT_LOCKED_FOR_WRITE = 1099
ER_TABLE_NOT_LOCKED = 1100
ER_LOCK_OR_ACTIVE_TRANSACTION = 1192
# Accounts and grants (marmotdb/accounts.py, sql/accounts/statements.py).
ER_CANNOT_USER = 1396
ER_NONEXISTING_TABLE_GRANT = 1147
ER_CANT_CREATE_USER_WITH_GRANT = 1410
ER_WRONG_USAGE = 1221
ER_ILLEGAL_GRANT_FOR_TABLE = 1144
ER_PLUGIN_IS_NOT_LOADED = 1524
ER_WRONG_STRING_LENGTH = 1470
ER_USER_DOES_NOT_EXIST = 3162
ER_USER_ALREADY_EXISTS = 3163
SQLSTATE_BY_CODE.update({1396: "HY000", 1410: "42000", 1221: "HY000", 1144: "42000",
                         1524: "HY000", 1470: "HY000", 3162: "HY000", 3163: "HY000",
                         1147: "42000"})
SQLSTATE_BY_CODE.update({1621: "HY000", 3160: "HY000", 4031: "HY000", 1094: "HY000",
                         1095: "HY000", 1099: "HY000", 1100: "HY000", 1192: "HY000"})
SQLSTATE_BY_CODE.update({1115: "42000", 1228: "HY000", 1229: "HY000", 1232: "42000",
                         1238: "HY000", 1273: "HY000", 1298: "HY000", 1253: "42000",
                         1141: "42000", 1347: "HY000", 1360: "HY000", 1381: "HY000"})

_CLASS_BY_CODE: dict[int, type[MarmotError]] = {
    1062: ConstraintError, 1048: ConstraintError, 1452: ConstraintError,
    1451: ConstraintError, 1406: ConstraintError, 1366: ConstraintError,
    1264: ConstraintError, 3819: ConstraintError,
    1205: TransientError, 1213: TransientError,
    1235: NotSupportedError,
    1045: AuthError, 1044: AuthError, 1142: AuthError, 1227: AuthError,
    3024: QueryInterrupted, 1317: QueryInterrupted,
    1047: ProtocolError, 1153: PacketTooLarge, 1158: ProtocolError, 1835: ProtocolError,
}

# SQL translation: value coercion, DDL validation, unsupported constructs.
ER_WARN_DATA_TRUNCATED = 1265
ER_TRUNCATED_WRONG_VALUE = 1292
ER_INVALID_JSON_TEXT = 3140
ER_INVALID_DEFAULT = 1067
ER_NO_DEFAULT_FOR_FIELD = 1364
ER_DATA_OUT_OF_RANGE = 1690
ER_DUPLICATED_VALUE_IN_TYPE = 1291
ER_MULTIPLE_PRI_KEY = 1068
ER_WRONG_AUTO_KEY = 1075
ER_KEY_COLUMN_DOES_NOT_EXIST = 1072
ER_FK_CANNOT_OPEN_PARENT = 1824
ER_WRONG_OBJECT = 1347
ER_TRG_ALREADY_EXISTS = 1359
ER_TRG_DOES_NOT_EXIST = 1360
ER_INVALID_GROUP_FUNC_USE = 1111
ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT = 1582
ER_WRONG_NUMBER_OF_COLUMNS_IN_SELECT = 1222
ER_SUBQUERY_NO_1_ROW = 1242
ER_BLOB_KEY_WITHOUT_LENGTH = 1170
ER_TOO_BIG_PRECISION = 1426
ER_TOO_BIG_SCALE = 1425
ER_M_BIGGER_THAN_D = 1427
ER_TOO_BIG_FIELDLENGTH = 1074
ER_BLOB_CANT_HAVE_DEFAULT = 1101
ER_WRONG_FIELD_SPEC = 1063
ER_FIELD_SPECIFIED_TWICE = 1110
ER_TRUNCATED_WRONG_VALUE_FOR_FIELD_IN_PARAM = 1411
ER_FUNC_INEXISTENT_NAME_COLLISION = 1630
ER_NON_INSERTABLE_TABLE = 1471
ER_NON_UPDATABLE_TABLE = 1288
ER_DROP_INDEX_FK = 1553
SQLSTATE_BY_CODE.update({1265: "01000", 1292: "22007", 3140: "22032", 1067: "42000",
                         1364: "HY000", 1690: "22003", 1291: "HY000", 1068: "42000",
                         1075: "42000", 1072: "42000", 1824: "HY000", 1347: "HY000",
                         1359: "HY000", 1360: "HY000", 1111: "HY000", 1582: "42000",
                         1222: "21000", 1242: "21000", 1170: "42000", 1426: "42000",
                         1425: "42000", 1427: "42000", 1074: "42000", 1101: "42000",
                         1063: "42000", 1110: "42000", 1411: "HY000", 1630: "42000",
                         1471: "HY000", 1288: "HY000", 1553: "HY000"})
_CLASS_BY_CODE.update({1265: ConstraintError, 1292: ConstraintError, 3140: ConstraintError,
                       1364: ConstraintError, 1690: ConstraintError})
# Set operations, EXPLAIN, index hints, locking reads, FOREIGN KEY rules of DDL, functional keys.
ER_TABLENAME_NOT_ALLOWED_HERE = 1250
ER_UNKNOWN_EXPLAIN_FORMAT = 1791
ER_TRUNCATE_ILLEGAL_FK = 1701
ER_KEY_DOES_NOT_EXIST = 1176
ER_LOCK_NOWAIT = 3572
# table options InnoDB refuses
ER_TABLESPACE_MISSING_WITH_NAME = 3510
ER_INVALID_JSON_ATTRIBUTE = 3980
ER_INNODB_INVALID_AUTOEXTEND_SIZE_VALUE = 4023
ER_INNODB_AUTOEXTEND_SIZE_OUT_OF_RANGE = 4025
ER_FUNCTIONAL_INDEX_PRIMARY_KEY = 3756
ER_FUNCTIONAL_INDEX_FUNCTION_IS_NOT_ALLOWED = 3758
ER_FUNCTIONAL_INDEX_ON_FIELD = 3762
ER_DEPENDENT_BY_FUNCTIONAL_INDEX = 3837
ER_DEPENDENT_BY_CHECK_CONSTRAINT = 3959
ER_FK_COLUMN_CANNOT_DROP_CHILD = 1829
ER_FK_DUP_NAME = 1826
ER_FK_CANNOT_DROP_PARENT = 3730
ER_FK_INCOMPATIBLE_COLUMNS = 3780
SQLSTATE_BY_CODE.update({1250: "42000", 1791: "HY000", 1701: "42000", 1176: "42000",
                         3572: "HY000", 3756: "HY000", 3758: "HY000", 3762: "HY000",
                         3837: "HY000", 3959: "HY000", 1826: "HY000", 1829: "HY000", 3730: "HY000", 3780: "HY000"})
ER_SIGNAL_EXCEPTION = 1644
ER_INVALID_USE_OF_NULL = 1138
SQLSTATE_BY_CODE[1644] = "45000"
SQLSTATE_BY_CODE[1138] = "22004"
# A trigger's SIGNAL becomes SQLite's RAISE(ABORT, 'MYSQL_SIGNAL:<message>') (rewrites/ddl/triggers.py).
_SQLITE_SIGNAL_PATTERN = (re.compile(r"MYSQL_SIGNAL:(.*)$", re.S), ER_SIGNAL_EXCEPTION, "{0}")


def error(code: int, message: str) -> MarmotError:
    """Build the right error class for a MySQL error code."""
    cls = _CLASS_BY_CODE.get(code, SqlError if 1000 <= code < 2000 else MarmotError)
    return cls(message, code=code, sqlstate=SQLSTATE_BY_CODE.get(code, "HY000"))


def not_supported(construct: str) -> MarmotError:
    """1235 naming a construct marmotdb refuses (MySQL's ER_NOT_SUPPORTED_YET)."""
    return error(ER_NOT_SUPPORTED_YET,
                 f"This version of marmotdb doesn't yet support '{construct}'")


# MySQL's foreign key sentences; with a known constraint its clause follows in parentheses.
_FK_SENTENCES = {
    ER_NO_REFERENCED_ROW_2: "Cannot add or update a child row: a foreign key constraint fails",
    ER_ROW_IS_REFERENCED_2: "Cannot delete or update a parent row: a foreign key constraint "
                            "fails",
}


# SQLite message patterns -> MySQL errors. Order matters: the first match wins.
_SQLITE_PATTERNS: list[tuple[re.Pattern[str], int, str]] = [
    _SQLITE_SIGNAL_PATTERN,
    (re.compile(r"wrong number of arguments to function (?:MYSQL_)?(\w+)\(\)"), 1582,
     "Incorrect parameter count in the call to native function '{0}'"),
    (re.compile(r"UNIQUE constraint failed: (.+)$"), ER_DUP_ENTRY, "{0}"),
    (re.compile(r"PRIMARY KEY must be unique|constraint failed: PRIMARY"), ER_DUP_ENTRY,
     "Duplicate entry for key 'PRIMARY'"),
    (re.compile(r"NOT NULL constraint failed: \w+\.(\w+)"), ER_BAD_NULL_ERROR,
     "Column '{0}' cannot be null"),
    (re.compile(r"FOREIGN KEY constraint failed"), ER_NO_REFERENCED_ROW_2,
     _FK_SENTENCES[ER_NO_REFERENCED_ROW_2]),
    (re.compile(r"CHECK constraint failed: (.+)"), ER_CHECK_CONSTRAINT_VIOLATED,
     "Check constraint '{0}' is violated."),
    (re.compile(r"no such table: (?:main\.)?(\S+)"), ER_NO_SUCH_TABLE,
     "Table '{0}' doesn't exist"),  # another database's table keeps its qualifier
    (re.compile(r"no such column: (\S+)"), ER_BAD_FIELD_ERROR,
     "Unknown column '{0}' in 'field list'"),
    (re.compile(r"table (\S+) already exists"), ER_TABLE_EXISTS_ERROR,
     "Table '{0}' already exists"),
    (re.compile(r"index (\S+) already exists"), ER_DUP_KEYNAME, "Duplicate key name '{0}'"),
    (re.compile(r"no such index: (\S+)"), ER_CANT_DROP_FIELD_OR_KEY,
     "Can't DROP '{0}'; check that column/key exists"),
    (re.compile(r"duplicate column name: (\S+)"), ER_DUP_FIELDNAME, "Duplicate column name '{0}'"),
    (re.compile(r"ambiguous column name: (\S+)"), ER_NON_UNIQ_ERROR,
     "Column '{0}' in field list is ambiguous"),
    (re.compile(r"no such savepoint: (\S+)"), ER_SP_DOES_NOT_EXIST, "SAVEPOINT {0} does not exist"),
    (re.compile(r"database is locked|database table is locked"), ER_LOCK_WAIT_TIMEOUT,
     "Lock wait timeout exceeded; try restarting transaction"),
    (re.compile(r"interrupted"), ER_QUERY_TIMEOUT,
     "Query execution was interrupted, maximum statement execution time exceeded"),
    (re.compile(r"syntax error|incomplete input|unrecognized token"), ER_PARSE_ERROR,
     "You have an error in your SQL syntax: {m}"),
    (re.compile(r"SELECTs to the left and right of .* do not have the same number of result "
                r"columns"), ER_WRONG_NUMBER_OF_COLUMNS_IN_SELECT,
     "The used SELECT statements have a different number of columns"),
    (re.compile(r"non-deterministic functions prohibited in index expressions"),
     ER_FUNCTIONAL_INDEX_FUNCTION_IS_NOT_ALLOWED,
     "Expression of functional index 'functional_index' contains a disallowed function."),
    (re.compile(r"(\d+) values for (\d+) columns"), ER_WRONG_VALUE_COUNT_ON_ROW,
     "Column count doesn't match value count at row 1"),
    (re.compile(r"no such function: (\S+)"), ER_SP_DOES_NOT_EXIST,
     "FUNCTION {0} does not exist"),
    (re.compile(r"access to ([^.\s]+)\.\S+ is prohibited"), ER_TABLEACCESS_DENIED_ERROR,
     "Access to table '{0}' is denied"),
    (re.compile(r"not authorized"), ER_SPECIFIC_ACCESS_DENIED_ERROR,
     "Access denied; this operation is not allowed"),
]


@dataclasses.dataclass(frozen=True)
class StatementContext:
    """What the statement's boundary knows and SQLite's message does not, for MySQL's text.

    ``conn``: the SQLite connection the statement failed on; only its schema is read
    (sqlite_master, PRAGMA index_list/index_info), which a failed statement never changes.
    ``database``: the MySQL database the statement ran in. ``table``: the table it wrote to.
    ``failing_row``: column -> value of the row of ``table`` being written when a UNIQUE or
    PRIMARY KEY check failed, only when the caller knows it exactly (sql/written_row.py; never
    re-derived from the statement text, which can be wrong); without it a duplicate entry
    names the key but not the value. ``every_row``: every row the statement wrote has these
    values, so a foreign key check (made when the statement ends) refused them too.
    ``updating``: the statement was an UPDATE (a foreign key fails on the child or the parent
    side, which SQLite's message does not say).
    """

    conn: Any = None
    database: str | None = None
    table: str | None = None
    failing_row: Mapping[str, Any] | None = None
    every_row: bool = False
    updating: bool = False


def from_sqlite(exc: BaseException, *, deleting: bool = False,
                context: StatementContext | None = None) -> MarmotError:
    """Convert a SQLite (APSW or stdlib) exception into a MarmotError. The one boundary.

    ``deleting``: the statement was a DELETE, so a foreign key failure is the parent-row
    error 1451 (SQLite words both directions the same). ``context``: see StatementContext;
    with it the messages are MySQL 8.0's to the letter (key and constraint names, values)."""
    if isinstance(exc, MarmotError):
        return exc
    converted = _from_sqlite(exc)
    if deleting and converted.code == ER_NO_REFERENCED_ROW_2:
        converted = error(ER_ROW_IS_REFERENCED_2, _FK_SENTENCES[ER_ROW_IS_REFERENCED_2])
    refine = _REFINERS.get(converted.code)
    if refine is None:
        return converted
    return refine(converted, exc, context or StatementContext())


def _from_sqlite(exc: BaseException) -> MarmotError:
    message = str(exc)
    # APSW prefixes messages with the class name ("ConstraintError: UNIQUE constraint ...").
    text = message.split(": ", 1)[1] if re.match(r"^\w+Error: ", message) else message
    for pattern, code, template in _SQLITE_PATTERNS:
        found = pattern.search(text)
        if found:
            groups = [g.strip("'\"`") for g in found.groups()]
            return error(code, template.format(*groups, m=text))
    if type(exc).__name__ in ("BusyError", "LockedError"):
        return error(ER_LOCK_WAIT_TIMEOUT, "Lock wait timeout exceeded; try restarting transaction")
    if type(exc).__name__ == "InterruptError":
        return error(ER_QUERY_TIMEOUT, "Query execution was interrupted")
    return error(ER_UNKNOWN_ERROR, text)


# ---------------------------------------------------------------------- MySQL 8.0's texts
# Refiners turn the first conversion into MySQL 8.0's exact message where the context allows.

SQLITE_CONSTRAINT_PRIMARYKEY = 1555
_MESSAGE_ARG_CHARS_MAX = 192  # MySQL's %-.192s in its error message formats


def _refine_duplicate(converted: MarmotError, exc: BaseException,
                      context: StatementContext) -> MarmotError:
    failed = converted.message  # "t.u, t.v" or "index 't.uk'" (the SQLite message's tail)
    named = re.fullmatch(r"index '?([^']+)'?", failed)
    if named:
        index: str | None = named.group(1)
        table, _, key = index.partition(".") if index else ("", "", "")
        columns = _index_columns(context.conn, index)
    else:
        pairs = [c.strip().split(".", 1) for c in failed.split(",")]
        table = pairs[0][0] if len(pairs[0]) == 2 else (context.table or "")
        columns = [(p[-1], None) for p in pairs]
        primary = getattr(exc, "extendedresult", None) == SQLITE_CONSTRAINT_PRIMARYKEY
        index = None if primary else _find_unique_index(context.conn, table,
                                                        [c for c, _ in columns])
        key = "PRIMARY" if primary else (index.partition(".")[2] if index else "")
    where = (f"'{table}.{key}'" if key else
             f"'{table}' ({', '.join(c for c, _ in columns)}): a unique key")
    row = context.failing_row if table.lower() == (context.table or "").lower() else None
    value = _key_value(row, columns)
    text = (f"Duplicate entry '{value}' for key {where}" if value is not None else
            f"Duplicate entry for key {where}")
    return error(ER_DUP_ENTRY, text)


def _index_columns(conn: Any, index: str | None) -> list[tuple[str, int | None]]:
    """(column, prefix length or None) of a SQLite index, from its CREATE INDEX text."""
    if conn is None or index is None:
        return []
    rows = list(conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                             (index,)))
    if not rows or not rows[0][0]:
        return []
    body = rows[0][0][rows[0][0].index("(", rows[0][0].index(" ON ")) + 1:-1]
    out: list[tuple[str, int | None]] = []
    for part in _split_top_level(body):
        prefix = re.fullmatch(r'substr\("((?:[^"]|"")+)", 1, (\d+)\)(?: DESC)?', part.strip())
        plain = re.fullmatch(r'"((?:[^"]|"")+)"(?: DESC)?', part.strip())
        if prefix:
            out.append((prefix.group(1).replace('""', '"'), int(prefix.group(2))))
        elif plain:
            out.append((plain.group(1).replace('""', '"'), None))
        else:
            return []  # an expression we cannot name: no value rather than a wrong one
    return out


def _split_top_level(text: str) -> list[str]:
    parts, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
        elif not quoted and ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _find_unique_index(conn: Any, table: str, columns: list[str]) -> str | None:
    """The unique index of ``table`` on exactly ``columns`` (SQLite names it '<table>.<key>')."""
    if conn is None or not table:
        return None
    for row in conn.execute("SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1 "
                            "AND origin = 'c'", (table,)):
        cols = [r[0] for r in conn.execute("SELECT name FROM pragma_index_info(?) ORDER BY "
                                           "seqno", (row[0],))]
        if [str(c).lower() for c in cols] == [c.lower() for c in columns] and "." in row[0]:
            return str(row[0])
    return None


def _key_value(row: Mapping[str, Any] | None, columns: list[tuple[str, int | None]]
               ) -> str | None:
    """MySQL's rendering of a key's value: parts joined by '-', prefixes cut, at most 192."""
    if row is None or not columns:
        return None
    lowered = {k.lower(): v for k, v in row.items()}
    parts = []
    for column, prefix in columns:
        if column.lower() not in lowered:
            return None
        value = lowered[column.lower()]
        if value is None:
            return None  # NULLs never collide: the stored value was not this (AUTO_INCREMENT)
        if isinstance(value, bytes):
            parts.append(_printable(value[:prefix] if prefix else value))
        else:
            text = str(value)
            parts.append(text[:prefix] if prefix else text)
    return "-".join(parts)[:_MESSAGE_ARG_CHARS_MAX]


def _printable(value: bytes) -> str:
    """MySQL's rendering of binary bytes in a message: printable ASCII as is, others \\xHH."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02X}" for b in value)


_FK_PATTERN = re.compile(
    r'CONSTRAINT "((?:[^"]|"")+)" FOREIGN KEY \(([^)]*)\) REFERENCES "((?:[^"]|"")+)" '
    r'\(([^)]*)\)((?: ON (?:DELETE|UPDATE) (?:CASCADE|SET NULL|SET DEFAULT|RESTRICT|'
    r'NO ACTION))*)')


@dataclasses.dataclass(frozen=True)
class _ForeignKey:
    table: str
    name: str
    columns: list[str]
    parent: str
    parent_columns: list[str]
    actions: str

    def clause(self, database: str) -> str:
        """MySQL's parenthesised description: (`db`.`child`, CONSTRAINT `fk` FOREIGN KEY ...)."""
        cols = ", ".join(f"`{c}`" for c in self.columns)
        refs = ", ".join(f"`{c}`" for c in self.parent_columns)
        return (f"`{database}`.`{self.table}`, CONSTRAINT `{self.name}` FOREIGN KEY ({cols}) "
                f"REFERENCES `{self.parent}` ({refs}){self.actions}")[:_MESSAGE_ARG_CHARS_MAX]


def _unquote_list(text: str) -> list[str]:
    return [c.strip().strip('"').replace('""', '"') for c in text.split(",")]


def _foreign_keys(conn: Any) -> list[_ForeignKey]:
    out = []
    for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                                  "AND sql LIKE '%FOREIGN KEY%'"):
        for found in _FK_PATTERN.finditer(sql):
            out.append(_ForeignKey(name, found.group(1).replace('""', '"'),
                                   _unquote_list(found.group(2)),
                                   found.group(3).replace('""', '"'),
                                   _unquote_list(found.group(4)), found.group(5)))
    return out


def _failing_child_key(conn: Any, candidates: list[_ForeignKey],
                       row: Mapping[str, Any] | None) -> _ForeignKey | None:
    """Of the child table's keys, the one the row violates: the only one, or the one whose
    parent row is missing for the row's values (the failed statement changed nothing)."""
    if len(candidates) == 1:
        return candidates[0]
    if row is None:
        return None
    lowered = {k.lower(): v for k, v in row.items()}
    missing = []
    for fk in candidates:
        values = [lowered.get(c.lower()) for c in fk.columns]
        if any(v is None for v in values):
            continue  # a NULL part satisfies a foreign key (an absent column was not written)
        where = " AND ".join(f'"{c}" = ?' for c in fk.parent_columns)
        if not list(conn.execute(f'SELECT 1 FROM "{fk.parent}" WHERE {where} LIMIT 1',
                                 tuple(values))):
            missing.append(fk)
    return missing[0] if len(missing) == 1 else None


def _refusing_parent_key(conn: Any, candidates: list[_ForeignKey],
                         updating: bool) -> _ForeignKey | None:
    """Of the keys referencing the table, the one that refused deleting or updating a parent
    row: only a RESTRICT / NO ACTION key refuses, and only one that has child rows at all."""
    verb = "UPDATE" if updating else "DELETE"
    refusing = [fk for fk in candidates
                if not re.search(rf"ON {verb} (?:CASCADE|SET NULL|SET DEFAULT)", fk.actions)]
    if len(refusing) > 1:
        refusing = [fk for fk in refusing if _has_child_rows(conn, fk)]
    return refusing[0] if len(refusing) == 1 else None


def _has_child_rows(conn: Any, fk: _ForeignKey) -> bool:
    where = " AND ".join(f'"{c}" IS NOT NULL' for c in fk.columns)
    return bool(list(conn.execute(f'SELECT 1 FROM "{fk.table}" WHERE {where} LIMIT 1')))


def _updated_side(code: int, parents: list[_ForeignKey], children: list[_ForeignKey],
                  written: Mapping[str, Any] | None
                  ) -> tuple[int, list[_ForeignKey], list[_ForeignKey]]:
    """An UPDATE fails a foreign key on the side whose columns it set (SQLite checks only
    those): the parent side is MySQL's 1451, the child side 1452; both or neither: unknown."""
    if written is None:
        return code, parents, children
    columns = {c.lower() for c in written}
    parents = [fk for fk in parents if columns & {c.lower() for c in fk.parent_columns}]
    children = [fk for fk in children if columns & {c.lower() for c in fk.columns}]
    if parents and not children:
        return ER_ROW_IS_REFERENCED_2, parents, children
    if children and not parents:
        return ER_NO_REFERENCED_ROW_2, parents, children
    return code, [], []


def _refine_foreign_key(converted: MarmotError, exc: BaseException,
                        context: StatementContext) -> MarmotError:
    if context.conn is None or not context.table or context.database is None:
        return converted
    table = context.table.lower()
    keys = _foreign_keys(context.conn)
    code = converted.code
    parents = [fk for fk in keys if fk.parent.lower() == table]
    children = [fk for fk in keys if fk.table.lower() == table]
    if context.updating:
        code, parents, children = _updated_side(code, parents, children, context.failing_row)
    if code == ER_ROW_IS_REFERENCED_2:
        found = _refusing_parent_key(context.conn, parents, context.updating)
    else:
        found = _failing_child_key(context.conn, children,
                                   context.failing_row if context.every_row else None)
    sentence = _FK_SENTENCES[code]
    return error(code, f"{sentence} ({found.clause(context.database)})" if found else sentence)


def _refine_no_such_table(converted: MarmotError, exc: BaseException,
                          context: StatementContext) -> MarmotError:
    found = re.fullmatch(r"Table '([^.']+)' doesn't exist", converted.message)
    if found is None or context.database is None:
        return converted
    return error(ER_NO_SUCH_TABLE, f"Table '{context.database}.{found.group(1)}' doesn't exist")


_REFINERS: dict[int, Callable[[MarmotError, BaseException, StatementContext], MarmotError]] = {
    ER_DUP_ENTRY: _refine_duplicate,
    ER_NO_REFERENCED_ROW_2: _refine_foreign_key,
    ER_ROW_IS_REFERENCED_2: _refine_foreign_key,
    ER_NO_SUCH_TABLE: _refine_no_such_table,
}

# Stored routines (sql/routines/): their codes' SQLSTATEs, as MySQL 8.0 sends them.
SQLSTATE_BY_CODE.update({1304: "42000", 1415: "0A000", 1313: "42000", 1320: "42000",
                         1318: "42000", 1414: "42000", 1327: "42000", 1329: "02000",
                         1172: "42000", 1456: "HY000", 1324: "42000", 1325: "24000",
                         1326: "24000", 1328: "HY000", 1339: "20000", 1330: "42000",
                         1407: "42000", 1645: "0K000", 1642: "01000", 1643: "02000",
                         1312: "0A000"})
