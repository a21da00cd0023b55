"""System variables (``@@x``, ``@@session.x``, ``@@global.x``, SHOW VARIABLES) and user variables.

Two layers, as in MySQL: ``GlobalVariables`` holds one node's global values (MySQL 8.0 names,
defaults from ``SPECS`` overridden by the config mapping the node passes in) and
``SessionVariables`` holds one connection's values: it starts from the globals and diverges
as the client runs SET. Session state is node-local; nothing here is replicated.

Values are stored in the form ``SELECT @@x`` returns them: booleans as 0/1 ints, numbers as
ints (floats for the few fractional ones), everything else as str, None for NULL. SHOW
VARIABLES renders booleans as ON/OFF.

Validation follows MySQL where applications rely on it (autocommit and other booleans,
sql_mode, transaction_isolation, time_zone, character sets and collations, the marmot
consistency levels, integer ranges) and raises 1231 (wrong value), 1232 (wrong type), 1238
(read only), 1228/1229 (wrong scope), 1193 (unknown variable on read), 1298 (time zone).
Deliberate differences from MySQL, because client tools need them:
* SET of an unknown variable is accepted and remembered (Django, mysqldump and MariaDB clients
  set variables MySQL 8.0 lacks); reading a never-set unknown variable is still 1193.
* ``tx_isolation`` / ``tx_read_only`` (removed in 8.0) remain aliases, since MariaDB-aware
  clients still read them.
* ``lock_wait_timeout`` defaults to 50 s like ``innodb_lock_wait_timeout`` (MySQL's 1 year
  applies to metadata locks, which would make a stuck DDL lock wait forever here).
* ``query_cache_size`` / ``query_cache_type`` (removed in 8.0) read as 0 / OFF, since
  Connector/J asks for them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.sql.catalog_charsets import charset_named, collation_named

MARMOT_VERSION = "0.1.0"
SERVER_VERSION = f"8.0.36-marmotdb-{MARMOT_VERSION}"


class Scope(enum.Enum):
    """Where a variable lives. BOTH: session value initialised from the global one."""

    SESSION = "session"
    GLOBAL = "global"
    BOTH = "both"


class _Default:
    """The value ``DEFAULT`` in ``SET x = DEFAULT``."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()

_UINT64_MAX = 18446744073709551615


@dataclass(frozen=True, slots=True)
class VariableSpec:
    """One system variable: its kind selects the coercion in ``_COERCIONS``."""

    name: str
    default: object
    kind: str = "str"  # bool | int | float | str | enum | sql_mode | time_zone | charset | ...
    scope: Scope = Scope.BOTH
    read_only: bool = False
    choices: tuple[str, ...] = ()
    minimum: int = 0
    maximum: int = _UINT64_MAX
    nullable: bool = False


def _b(name: str, default: bool, scope: Scope = Scope.BOTH, read_only: bool = False) -> VariableSpec:
    return VariableSpec(name, int(default), "bool", scope, read_only)


def _i(name: str, default: int, minimum: int = 0, maximum: int = _UINT64_MAX,
       scope: Scope = Scope.BOTH, read_only: bool = False) -> VariableSpec:
    return VariableSpec(name, default, "int", scope, read_only, minimum=minimum, maximum=maximum)


def _s(name: str, default: str | None, scope: Scope = Scope.BOTH, read_only: bool = False,
       nullable: bool = False) -> VariableSpec:
    return VariableSpec(name, default, "str", scope, read_only, nullable=nullable)


def _e(name: str, default: str, choices: tuple[str, ...], scope: Scope = Scope.BOTH,
       read_only: bool = False) -> VariableSpec:
    return VariableSpec(name, default, "enum", scope, read_only, choices=choices)


def _k(name: str, default: object, kind: str, scope: Scope = Scope.BOTH,
       nullable: bool = False) -> VariableSpec:
    return VariableSpec(name, default, kind, scope, nullable=nullable)


G, S = Scope.GLOBAL, Scope.SESSION
DEFAULT_SQL_MODE = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION")
_ISOLATION_LEVELS = ("READ-UNCOMMITTED", "READ-COMMITTED", "REPEATABLE-READ", "SERIALIZABLE")
_WRITE_LEVELS = ("ONE", "QUORUM", "ALL")
_READ_LEVELS = ("LOCAL", "QUORUM")
_ON_OFF = ("OFF", "ON")

SPECS: dict[str, VariableSpec] = {spec.name: spec for spec in (
    # --- identity of the server (global, read only) ---
    _s("version", SERVER_VERSION, G, True),
    _s("version_comment", "marmotdb - leaderless distributed SQLite", G, True),
    _s("version_compile_os", "Linux", G, True),
    _s("version_compile_machine", "x86_64", G, True),
    _s("version_compile_zlib", "1.2.13", G, True),
    _s("innodb_version", "8.0.36", G, True),
    _i("protocol_version", 10, scope=G, read_only=True),
    _s("hostname", "localhost", G, True),
    _i("port", 3306, maximum=65535, scope=G, read_only=True),
    _s("socket", "", G, True),
    _s("datadir", "./data/", G, True),
    _s("basedir", "/", G, True),
    _s("tmpdir", "/tmp", G, True),
    _s("pid_file", "", G, True),
    _s("license", "Apache-2.0", G, True),
    _s("system_time_zone", "UTC", G, True),
    _i("lower_case_table_names", 0, maximum=2, scope=G, read_only=True),
    _b("lower_case_file_system", False, G, True),
    _i("server_id", 1, scope=G),
    _s("server_uuid", "00000000-0000-0000-0000-000000000001", G, True),
    _s("have_ssl", "DISABLED", G, True),
    _s("have_openssl", "DISABLED", G, True),
    _s("have_query_cache", "NO", G, True),
    _s("tls_version", "TLSv1.2,TLSv1.3", G, True),
    _s("default_authentication_plugin", "caching_sha2_password", G, True),
    _s("authentication_policy", "*,,", G),
    _b("performance_schema", False, G, True),
    _i("query_cache_size", 0, scope=G),
    _s("init_connect", "", G),
    _b("log_bin", False, G, True),
    _s("gtid_mode", "OFF", G, True),
    _s("enforce_gtid_consistency", "OFF", G, True),
    _b("read_only", False, G),
    _b("super_read_only", False, G),
    _b("offline_mode", False, G),
    _b("skip_name_resolve", True, G, True),
    _b("skip_networking", False, G, True),
    _b("local_infile", False, G),
    _s("secure_file_priv", None, G, True, nullable=True),
    _b("require_secure_transport", False, G),
    _s("event_scheduler", "OFF", G),
    _b("general_log", False, G),
    _b("slow_query_log", False, G),
    _s("log_error", "stderr", G, True),
    _s("log_output", "FILE", G),
    _i("max_connections", 151, 1, 100000, scope=G),
    _i("max_connect_errors", 100, scope=G),
    _i("thread_cache_size", 9, scope=G),
    _s("thread_handling", "one-thread-per-connection", G, True),
    _i("table_open_cache", 4000, scope=G),
    _i("open_files_limit", 1048576, scope=G, read_only=True),
    _i("back_log", 151, scope=G, read_only=True),
    _i("key_buffer_size", 8388608, scope=G),
    _i("innodb_buffer_pool_size", 134217728, scope=G),
    _i("innodb_page_size", 16384, scope=G, read_only=True),
    _b("innodb_file_per_table", True, G),
    _i("innodb_autoinc_lock_mode", 2, maximum=2, scope=G, read_only=True),
    _i("innodb_flush_log_at_trx_commit", 1, maximum=2, scope=G),
    _s("innodb_default_row_format", "dynamic", G),
    _s("disabled_storage_engines", "", G, True),
    _s("character_sets_dir", "/usr/share/mysql/charsets/", G, True),
    _s("default_password_lifetime", "0", G),
    _i("information_schema_stats_expiry", 86400, maximum=31536000),
    # --- connection and protocol ---
    _i("max_allowed_packet", 67108864, 1024, 1073741824),
    _i("net_buffer_length", 16384, 1024, 1048576),
    _i("net_read_timeout", 30, 1),
    _i("net_write_timeout", 60, 1),
    _i("net_retry_count", 10, 1),
    _i("wait_timeout", 28800, 1, 31536000),
    _i("interactive_timeout", 28800, 1, 31536000),
    _i("connect_timeout", 10, 2, 31536000, scope=G),
    _i("max_user_connections", 0, maximum=4294967295),
    _s("session_track_system_variables",
       "time_zone,autocommit,character_set_client,character_set_results,character_set_connection"),
    _b("session_track_schema", True),
    _b("session_track_state_change", False),
    _e("session_track_gtids", "OFF", ("OFF", "OWN_GTID", "ALL_GTIDS")),
    _e("session_track_transaction_info", "OFF", ("OFF", "STATE", "CHARACTERISTICS")),
    _e("resultset_metadata", "FULL", ("FULL", "NONE"), S),
    # --- character sets ---
    _k("character_set_client", "utf8mb4", "charset"),
    _k("character_set_connection", "utf8mb4", "charset"),
    _k("character_set_database", "utf8mb4", "charset"),
    _k("character_set_results", "utf8mb4", "charset", nullable=True),
    _k("character_set_server", "utf8mb4", "charset"),
    _k("character_set_filesystem", "binary", "charset"),
    _s("character_set_system", "utf8mb3", G, True),
    _k("collation_connection", "utf8mb4_0900_ai_ci", "collation"),
    _k("collation_database", "utf8mb4_0900_ai_ci", "collation"),
    _k("collation_server", "utf8mb4_0900_ai_ci", "collation"),
    _k("default_collation_for_utf8mb4", "utf8mb4_0900_ai_ci", "collation"),
    _s("lc_messages", "en_US"),
    _s("lc_time_names", "en_US"),
    # --- SQL behaviour ---
    _k("sql_mode", DEFAULT_SQL_MODE, "sql_mode"),
    _b("autocommit", True),
    _e("transaction_isolation", "REPEATABLE-READ", _ISOLATION_LEVELS),
    _b("transaction_read_only", False),
    _e("completion_type", "NO_CHAIN", ("NO_CHAIN", "CHAIN", "RELEASE")),
    _k("time_zone", "SYSTEM", "time_zone"),
    _i("auto_increment_increment", 1, 1, 65535),
    _i("auto_increment_offset", 1, 1, 65535),
    _b("foreign_key_checks", True),
    _b("unique_checks", True),
    _b("sql_auto_is_null", False),
    _b("sql_big_selects", True),
    _b("sql_buffer_result", False),
    _b("sql_log_bin", True, S),
    _b("sql_notes", True),
    _b("sql_quote_show_create", True),
    _b("sql_safe_updates", False),
    _b("sql_warnings", False),
    _b("sql_require_primary_key", False),
    _b("sql_generate_invisible_primary_key", False),
    _i("sql_select_limit", _UINT64_MAX),
    _i("max_join_size", _UINT64_MAX, 1),
    _b("big_tables", False),
    _b("explicit_defaults_for_timestamp", True),
    _b("innodb_strict_mode", True),
    _b("end_markers_in_json", False),
    _b("keep_files_on_create", False),
    _b("old_alter_table", False),
    _b("profiling", False),
    _i("profiling_history_size", 15, maximum=100),
    _b("show_create_table_verbosity", False),
    _b("windowing_use_high_precision", True),
    _b("print_identified_with_as_hex", False),
    _b("require_row_format", False, S),
    _e("updatable_views_with_limit", "YES", ("NO", "YES")),
    _e("binlog_format", "ROW", ("ROW", "STATEMENT", "MIXED")),
    _e("binlog_row_image", "FULL", ("FULL", "MINIMAL", "NOBLOB")),
    _s("block_encryption_mode", "aes-128-ecb"),
    _s("default_storage_engine", "InnoDB"),
    _s("default_tmp_storage_engine", "InnoDB"),
    _s("internal_tmp_mem_storage_engine", "TempTable"),
    _s("optimizer_switch", "index_merge=on,index_merge_union=on,index_merge_sort_union=on,"
       "index_merge_intersection=on,engine_condition_pushdown=on,index_condition_pushdown=on,"
       "mrr=on,mrr_cost_based=on,block_nested_loop=on,batched_key_access=off,materialization=on,"
       "semijoin=on,loosescan=on,firstmatch=on,duplicateweedout=on,"
       "subquery_materialization_cost_based=on,use_index_extensions=on,"
       "condition_fanout_filter=on,derived_merge=on,use_invisible_indexes=off,skip_scan=on,"
       "hash_join=on,subquery_to_derived=off,prefer_ordering_index=on,hypergraph_optimizer=off,"
       "derived_condition_pushdown=on"),
    _s("optimizer_trace", "enabled=off,one_line=off"),
    _i("optimizer_prune_level", 1, maximum=1),
    _i("optimizer_search_depth", 62, maximum=62),
    _i("eq_range_index_dive_limit", 200, maximum=4294967295),
    _i("range_optimizer_max_mem_size", 8388608),
    _i("cte_max_recursion_depth", 1000, maximum=4294967295),
    _i("div_precision_increment", 4, maximum=30),
    _i("default_week_format", 0, maximum=7),
    _i("group_concat_max_len", 1024, 4),
    _i("max_execution_time", 0, maximum=4294967295),
    _i("lock_wait_timeout", 50, 1, 31536000),
    _i("innodb_lock_wait_timeout", 50, 1, 1073741824),
    _k("long_query_time", 10.0, "float"),
    _i("max_error_count", 1024, maximum=65535),
    _i("max_heap_table_size", 16777216, 16384),
    _i("tmp_table_size", 16777216, 1024),
    _i("max_sort_length", 1024, 4, 8388608),
    _i("max_length_for_sort_data", 4096, 4, 8388608),
    _i("max_seeks_for_key", _UINT64_MAX, 1),
    _i("max_sp_recursion_depth", 0, maximum=255),
    _i("max_points_in_geometry", 65536, 3, 1048576),
    _i("min_examined_row_limit", 0),
    _i("sort_buffer_size", 262144, 32768),
    _i("join_buffer_size", 262144, 128),
    _i("read_buffer_size", 131072, 8192, 2147479552),
    _i("read_rnd_buffer_size", 262144, 1, 2147483647),
    _i("bulk_insert_buffer_size", 8388608),
    _i("preload_buffer_size", 32768, 1024, 1073741824),
    _i("transaction_alloc_block_size", 8192, 1024, 131072),
    _i("transaction_prealloc_size", 4096, 1024, 131072),
    _i("histogram_generation_max_mem_size", 20000000, 1000000),
    _e("query_cache_type", "OFF", ("OFF", "ON", "DEMAND")),
    # --- session only ---
    _i("warning_count", 0, scope=S, read_only=True),
    _i("error_count", 0, scope=S, read_only=True),
    _i("identity", 0, scope=S),
    _i("last_insert_id", 0, scope=S),
    _i("insert_id", 0, scope=S),
    _i("pseudo_thread_id", 0, scope=S),
    _s("gtid_next", "AUTOMATIC", S),
    _s("external_user", None, S, True, nullable=True),
    _s("proxy_user", None, S, True, nullable=True),
    _k("timestamp", 0.0, "float", S),
    # --- marmotdb ---
    _e("marmot_write_consistency", "QUORUM", _WRITE_LEVELS),
    _e("marmot_read_consistency", "LOCAL", _READ_LEVELS),
    _s("marmot_node_id", "1", G, True),
    _s("marmot_version", MARMOT_VERSION, G, True),
)}
del G, S

# Names that read and write another variable.
ALIASES: dict[str, str] = {
    "tx_isolation": "transaction_isolation",
    "tx_read_only": "transaction_read_only",
    "storage_engine": "default_storage_engine",
}

# Variables whose value depends on the session's live state, computed by the catalog.
DYNAMIC = frozenset({"warning_count", "error_count", "pseudo_thread_id", "timestamp",
                     "last_insert_id", "identity"})


def canonical_name(name: str) -> str:
    key = name.lower()
    return ALIASES.get(key, key)


def spec_for(name: str) -> VariableSpec | None:
    """The spec of a known variable (aliases resolved), or None for an unknown name."""
    return SPECS.get(canonical_name(name))


# ---------------------------------------------------------------------------------- sql_mode
# Bit order of MySQL 8.0's sql_mode_names: @@sql_mode lists modes in this order.
_SQL_MODE_ORDER = (
    "REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE", "NOT_USED",
    "ONLY_FULL_GROUP_BY", "NO_UNSIGNED_SUBTRACTION", "NO_DIR_IN_CREATE", "NOT_USED_9",
    "NOT_USED_10", "NOT_USED_11", "NOT_USED_12", "NOT_USED_13", "NOT_USED_14", "NOT_USED_15",
    "NOT_USED_16", "NOT_USED_17", "NOT_USED_18", "ANSI", "NO_AUTO_VALUE_ON_ZERO",
    "NO_BACKSLASH_ESCAPES", "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE",
    "NO_ZERO_DATE", "ALLOW_INVALID_DATES", "ERROR_FOR_DIVISION_BY_ZERO", "TRADITIONAL",
    "NOT_USED_29", "HIGH_NOT_PRECEDENCE", "NO_ENGINE_SUBSTITUTION", "PAD_CHAR_TO_FULL_LENGTH",
    "TIME_TRUNCATE_FRACTIONAL",
)
_SQL_MODE_POSITION = {name: i for i, name in enumerate(_SQL_MODE_ORDER)
                      if not name.startswith("NOT_USED")}
_SQL_MODE_COMBINATIONS = {
    "ANSI": ("REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE",
             "ONLY_FULL_GROUP_BY"),
    "TRADITIONAL": ("STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE",
                    "NO_ZERO_DATE", "ERROR_FOR_DIVISION_BY_ZERO", "NO_ENGINE_SUBSTITUTION"),
}


def normalize_sql_mode(value: object, name: str = "sql_mode") -> str:
    """Validate a sql_mode value (names or bitmask) and return MySQL's canonical string."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0 or value >> len(_SQL_MODE_ORDER):
            raise _wrong_value(name, value)
        modes = {_SQL_MODE_ORDER[bit] for bit in range(len(_SQL_MODE_ORDER)) if value >> bit & 1}
    elif isinstance(value, str):
        modes = {part.strip().upper() for part in value.split(",") if part.strip()}
    else:
        raise _wrong_type(name)
    if any(mode not in _SQL_MODE_POSITION for mode in modes):
        raise _wrong_value(name, value)
    for combination, parts in _SQL_MODE_COMBINATIONS.items():
        if combination in modes:
            modes.update(parts)
    return ",".join(sorted(modes, key=_SQL_MODE_POSITION.__getitem__))


# ---------------------------------------------------------------------------------- coercion
def _wrong_value(name: str, value: object) -> MarmotError:
    shown = "NULL" if value is None else value
    return errors.error(errors.ER_WRONG_VALUE_FOR_VAR,
                        f"Variable '{name}' can't be set to the value of '{shown}'")


def _wrong_type(name: str) -> MarmotError:
    return errors.error(errors.ER_WRONG_TYPE_FOR_VAR, f"Incorrect argument type to variable '{name}'")


def _as_bool(spec: VariableSpec, value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if value in (0, 1):
            return value
        raise _wrong_value(spec.name, value)
    if isinstance(value, str):
        word = value.upper()
        if word in ("ON", "TRUE", "1"):
            return 1
        if word in ("OFF", "FALSE", "0"):
            return 0
        raise _wrong_value(spec.name, value)
    if value is None:
        raise _wrong_value(spec.name, value)
    raise _wrong_type(spec.name)


def _as_int(spec: VariableSpec, value: object) -> object:
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int):
        if value is None:
            raise _wrong_value(spec.name, value)
        raise _wrong_type(spec.name)
    # MySQL clamps an out-of-range value to the nearest bound (with a truncation warning).
    return min(max(value, spec.minimum), spec.maximum)


def _as_float(spec: VariableSpec, value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if value is None:
        raise _wrong_value(spec.name, value)
    raise _wrong_type(spec.name)


def _as_str(spec: VariableSpec, value: object) -> object:
    if value is None:
        if spec.nullable:
            return None
        raise _wrong_value(spec.name, value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _as_enum(spec: VariableSpec, value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(spec.choices):
            return spec.choices[value]
        raise _wrong_value(spec.name, value)
    if isinstance(value, str):
        word = value.upper()
        if word in spec.choices:
            return word
        raise _wrong_value(spec.name, value)
    if value is None:
        raise _wrong_value(spec.name, value)
    raise _wrong_type(spec.name)


def _as_sql_mode(spec: VariableSpec, value: object) -> object:
    if value is None:
        raise _wrong_value(spec.name, value)
    return normalize_sql_mode(value, spec.name)


_OFFSET = re.compile(r"^([+-])(\d{1,2}):(\d{2})$")


def normalize_time_zone(value: object) -> str:
    """'SYSTEM', a '+HH:MM' offset (MySQL 8.0 range -13:59..+14:00) or an IANA zone name."""
    if not isinstance(value, str):
        raise errors.error(errors.ER_UNKNOWN_TIME_ZONE, f"Unknown or incorrect time zone: '{value}'")
    if value.upper() == "SYSTEM":
        return "SYSTEM"
    found = _OFFSET.match(value)
    if found:
        hours, minutes = int(found.group(2)), int(found.group(3))
        minutes_total = (hours * 60 + minutes) * (-1 if found.group(1) == "-" else 1)
        if minutes < 60 and -(13 * 60 + 59) <= minutes_total <= 14 * 60:
            return f"{found.group(1)}{hours:02d}:{minutes:02d}"
    elif _zone_exists(value):
        return value
    raise errors.error(errors.ER_UNKNOWN_TIME_ZONE, f"Unknown or incorrect time zone: '{value}'")


def _zone_exists(name: str) -> bool:
    import zoneinfo  # local: only needed for named zones, never on the SET NAMES path

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _as_time_zone(spec: VariableSpec, value: object) -> object:
    return normalize_time_zone(value)


def _as_charset(spec: VariableSpec, value: object) -> object:
    if value is None and spec.nullable:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        from marmotdb.sql.catalog_charsets import collation_by_id

        found_collation = collation_by_id(value)
        if found_collation is None:
            raise errors.error(errors.ER_UNKNOWN_CHARACTER_SET, f"Unknown character set: '{value}'")
        return found_collation.charset
    if not isinstance(value, str):
        raise _wrong_value(spec.name, value)
    found = charset_named(value)
    if found is None:
        raise errors.error(errors.ER_UNKNOWN_CHARACTER_SET, f"Unknown character set: '{value}'")
    return found.name


def _as_collation(spec: VariableSpec, value: object) -> object:
    if not isinstance(value, str):
        raise _wrong_value(spec.name, value)
    found = collation_named(value)
    if found is None:
        raise errors.error(errors.ER_UNKNOWN_COLLATION, f"Unknown collation: '{value}'")
    return found.name


_COERCIONS: dict[str, Callable[[VariableSpec, object], object]] = {
    "bool": _as_bool, "int": _as_int, "float": _as_float, "str": _as_str, "enum": _as_enum,
    "sql_mode": _as_sql_mode, "time_zone": _as_time_zone, "charset": _as_charset,
    "collation": _as_collation,
}

# Setting one of a character set / collation pair also sets the other, as MySQL does.
_CHARSET_PAIRS = {
    "character_set_connection": "collation_connection",
    "character_set_database": "collation_database",
    "character_set_server": "collation_server",
}
_COLLATION_PAIRS = {collation: charset for charset, collation in _CHARSET_PAIRS.items()}


def coerce(spec: VariableSpec, value: object) -> object:
    """Validate ``value`` for ``spec`` and return the stored form (raises 1231/1232/...)."""
    return _COERCIONS[spec.kind](spec, value)


def render(value: object) -> str:
    """A stored value as SHOW VARIABLES prints it (booleans are printed by ``render_spec``)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def render_spec(spec: VariableSpec | None, value: object) -> str:
    if spec is not None and spec.kind == "bool" and isinstance(value, int):
        return _ON_OFF[1 if value else 0]
    return render(value)


# ---------------------------------------------------------------------------------- globals
class GlobalVariables:
    """One node's @@global values: MySQL defaults overridden by the node's config mapping.

    ``config`` keys are variable names (e.g. ``version``, ``hostname``, ``port``,
    ``marmot_write_consistency``, ``lower_case_table_names``, ``have_ssl``); values are
    validated like SET GLOBAL would, but read-only variables may be given. Unknown keys are
    kept as extra variables.
    """

    def __init__(self, config: Mapping[str, object] | None = None) -> None:
        self._values: dict[str, object] = {name: spec.default for name, spec in SPECS.items()}
        self._extra: dict[str, object] = {}
        for name, value in (config or {}).items():
            spec = spec_for(name)
            if spec is None:
                self._extra[name.lower()] = value
            else:
                self._values[spec.name] = coerce(spec, value)
                _apply_pairs(self._values, spec.name)

    def get(self, name: str) -> object:
        key = canonical_name(name)
        if key in self._values:
            return self._values[key]
        if key in self._extra:
            return self._extra[key]
        raise unknown_variable(name)

    def set(self, name: str, value: object) -> None:
        """SET GLOBAL name = value (value may be DEFAULT)."""
        key = canonical_name(name)
        spec = SPECS.get(key)
        if spec is None:
            self._extra[key] = None if value is DEFAULT else value
            return
        if spec.read_only:
            raise read_only_variable(spec.name)
        if spec.scope is Scope.SESSION:
            raise errors.error(errors.ER_LOCAL_VARIABLE, f"Variable '{spec.name}' is a SESSION "
                               "variable and can't be used with SET GLOBAL")
        self._values[key] = spec.default if value is DEFAULT else coerce(spec, value)
        _apply_pairs(self._values, key)

    def session_values(self) -> dict[str, object]:
        """A copy of the values a new session starts from (session-scoped variables)."""
        return {name: self._values[name] for name in _SESSION_NAMES}

    def items(self) -> Iterable[tuple[str, object]]:
        yield from self._values.items()
        yield from self._extra.items()


_SESSION_NAMES = tuple(name for name, spec in SPECS.items() if spec.scope is not Scope.GLOBAL)


def _apply_pairs(values: dict[str, object], name: str) -> None:
    """Keep character_set_X and collation_X consistent after one of them changed."""
    if name in _CHARSET_PAIRS and values[name] is not None:
        charset = charset_named(str(values[name]))
        if charset is not None:
            values[_CHARSET_PAIRS[name]] = charset.default_collation
    elif name in _COLLATION_PAIRS:
        collation = collation_named(str(values[name]))
        if collation is not None:
            values[_COLLATION_PAIRS[name]] = collation.charset


def unknown_variable(name: str) -> MarmotError:
    return errors.error(errors.ER_UNKNOWN_SYSTEM_VARIABLE, f"Unknown system variable '{name}'")


def read_only_variable(name: str) -> MarmotError:
    return errors.error(errors.ER_INCORRECT_GLOBAL_LOCAL_VAR,
                        f"Variable '{name}' is a read only variable")


# ---------------------------------------------------------------------------------- session
class SessionVariables:
    """One connection's system variables (over a node's GlobalVariables) and user variables.

    ``get``/``set`` take the variable name and the scope as written: None for ``@@x`` / plain
    ``SET x``, "session" (also "local") or "global". Typed properties give the executor the
    values it acts on (autocommit, isolation, sql_mode, time_zone, consistency levels, ...).

    ``SET TRANSACTION ...`` without SESSION/GLOBAL only affects the next transaction: it is
    kept in ``next_isolation`` / ``next_read_only`` until the executor calls
    ``take_next_transaction()`` when that transaction starts.
    """

    __slots__ = (
        "_extra",
        "_modes_cache",
        "_user",
        "_values",
        "global_variables",
        "next_isolation",
        "next_read_only",
    )

    def __init__(self, global_variables: GlobalVariables | None = None) -> None:
        self.global_variables = global_variables or GlobalVariables()
        self._values = self.global_variables.session_values()
        self._extra: dict[str, object] = {}
        self._user: dict[str, object] = {}
        self.next_isolation: str | None = None
        self.next_read_only: bool | None = None
        self._modes_cache: tuple[str, frozenset[str]] = ("", frozenset())

    # ------------------------------------------------------------------ system variables
    def get(self, name: str, scope: str | None = None) -> object:
        """The value of ``@@[scope.]name``; 1193 for an unknown, never-set variable."""
        key = canonical_name(name)
        spec = SPECS.get(key)
        if spec is None:
            return self._get_extra(name, key, scope)
        if scope == "global":
            if spec.scope is Scope.SESSION:
                raise errors.error(errors.ER_INCORRECT_GLOBAL_LOCAL_VAR,
                                   f"Variable '{spec.name}' is a SESSION variable")
            return self.global_variables.get(key)
        if spec.scope is Scope.GLOBAL:
            if scope is not None:
                raise errors.error(errors.ER_INCORRECT_GLOBAL_LOCAL_VAR,
                                   f"Variable '{spec.name}' is a GLOBAL variable")
            return self.global_variables.get(key)
        return self._values[key]

    def _get_extra(self, name: str, key: str, scope: str | None) -> object:
        if scope != "global" and key in self._extra:
            return self._extra[key]
        return self.global_variables.get(name)  # raises 1193 when never set

    def set(self, name: str, value: object, scope: str | None = None) -> None:
        """SET [scope] name = value; ``value`` may be ``DEFAULT``."""
        if scope == "global":
            self.global_variables.set(name, value)
            return
        key = canonical_name(name)
        spec = SPECS.get(key)
        if spec is None:
            self._extra[key] = None if value is DEFAULT else value
            return
        if spec.read_only:
            raise read_only_variable(spec.name)
        if spec.scope is Scope.GLOBAL:
            raise errors.error(errors.ER_GLOBAL_VARIABLE, f"Variable '{spec.name}' is a GLOBAL "
                               "variable and should be set with SET GLOBAL")
        if value is DEFAULT:
            stored = self.global_variables.get(key) if spec.scope is Scope.BOTH else spec.default
        else:
            stored = coerce(spec, value)
        self._values[key] = stored
        _apply_pairs(self._values, key)

    def set_names(self, charset: str | None, collation: str | None = None) -> None:
        """SET NAMES charset [COLLATE collation] (charset None means DEFAULT)."""
        spec = SPECS["character_set_client"]
        name = str(self.global_variables.get("character_set_server")) if charset is None \
            else str(coerce(spec, charset))
        chosen = collation_named(collation) if collation else None
        if collation and chosen is None:
            raise errors.error(errors.ER_UNKNOWN_COLLATION, f"Unknown collation: '{collation}'")
        if chosen is not None and chosen.charset != name:
            raise errors.error(errors.ER_COLLATION_CHARSET_MISMATCH, f"COLLATION '{chosen.name}' "
                               f"is not valid for CHARACTER SET '{name}'")
        for variable in ("character_set_client", "character_set_results",
                         "character_set_connection"):
            self._values[variable] = name
        _apply_pairs(self._values, "character_set_connection")
        if chosen is not None:
            self._values["collation_connection"] = chosen.name

    def set_character_set(self, charset: str | None) -> None:
        """SET CHARACTER SET charset: client and results; connection follows the database."""
        spec = SPECS["character_set_client"]
        name = str(self.global_variables.get("character_set_server")) if charset is None \
            else str(coerce(spec, charset))
        self._values["character_set_client"] = name
        self._values["character_set_results"] = name
        self._values["character_set_connection"] = self._values["character_set_database"]
        _apply_pairs(self._values, "character_set_connection")

    def items(self, scope: str | None = None) -> list[tuple[str, object]]:
        """(name, value) of every variable visible at ``scope`` (SHOW VARIABLES), sorted."""
        merged: dict[str, object] = {}
        for name, value in self.global_variables.items():
            spec = SPECS.get(name)
            if scope != "global" and spec is not None and spec.scope is not Scope.GLOBAL:
                value = self._values[name]
            elif scope == "global" and spec is not None and spec.scope is Scope.SESSION:
                continue
            merged[name] = value
        if scope != "global":
            merged.update(self._extra)
        return sorted(merged.items())

    # ------------------------------------------------------------------ user variables
    def user(self, name: str) -> object:
        """@name (case-insensitive); None when never set, as in MySQL."""
        return self._user.get(name.lower())

    def set_user(self, name: str, value: object) -> None:
        self._user[name.lower()] = value

    @property
    def user_variables(self) -> dict[str, object]:
        return self._user

    # ------------------------------------------------------------------ transactions
    def set_next_transaction(self, isolation: str | None, read_only: bool | None) -> None:
        if isolation is not None:
            self.next_isolation = str(coerce(SPECS["transaction_isolation"], isolation))
        if read_only is not None:
            self.next_read_only = read_only

    def take_next_transaction(self) -> tuple[str, bool]:
        """(isolation, read_only) for the transaction starting now; clears the one-shot
        SET TRANSACTION characteristics."""
        isolation = self.next_isolation or str(self._values["transaction_isolation"])
        read_only = self.next_read_only if self.next_read_only is not None \
            else bool(self._values["transaction_read_only"])
        self.next_isolation = None
        self.next_read_only = None
        return isolation, read_only

    # ------------------------------------------------------------------ typed views
    @property
    def autocommit(self) -> bool:
        return bool(self._values["autocommit"])

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._values["autocommit"] = int(bool(value))

    @property
    def transaction_isolation(self) -> str:
        return str(self._values["transaction_isolation"])

    @property
    def transaction_read_only(self) -> bool:
        return bool(self._values["transaction_read_only"])

    @property
    def sql_mode(self) -> str:
        return str(self._values["sql_mode"])

    @property
    def sql_modes(self) -> frozenset[str]:
        """The sql_mode flags as a set (cached per distinct sql_mode string)."""
        text = str(self._values["sql_mode"])
        if self._modes_cache[0] != text:
            self._modes_cache = (text, frozenset(filter(None, text.split(","))))
        return self._modes_cache[1]

    @property
    def strict(self) -> bool:
        modes = self.sql_modes
        return "STRICT_TRANS_TABLES" in modes or "STRICT_ALL_TABLES" in modes

    @property
    def time_zone(self) -> str:
        """The session time zone; 'SYSTEM' resolved to @@system_time_zone."""
        zone = str(self._values["time_zone"])
        return str(self.global_variables.get("system_time_zone")) if zone == "SYSTEM" else zone

    @property
    def write_consistency(self) -> str:
        return str(self._values["marmot_write_consistency"])

    @property
    def read_consistency(self) -> str:
        return str(self._values["marmot_read_consistency"])

    @property
    def foreign_key_checks(self) -> bool:
        return bool(self._values["foreign_key_checks"])

    @property
    def max_execution_time_ms(self) -> int:
        return int(self._values["max_execution_time"])  # type: ignore[call-overload]

    @property
    def lock_wait_timeout_s(self) -> int:
        return int(self._values["lock_wait_timeout"])  # type: ignore[call-overload]

    @property
    def character_set_results(self) -> str | None:
        value = self._values["character_set_results"]
        return None if value is None else str(value)
