"""The catalogue of MySQL 8.0 system variables marmotdb knows: name, default, kind, scope.

Each ``VariableSpec``'s ``kind`` selects the validation in values.py. The
defaults are MySQL 8.0's (or what a MySQL 8.0 server reports about itself) unless
scopes.py's docstring lists a deliberate difference; the node's config overrides them
through ``GlobalVariables``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

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
_READ_LEVELS = ("LOCAL", "QUORUM", "STALE")  # STALE: never wait, even while catching up
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
    _i("server_id", 1, scope=G, read_only=True),
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
    _i("max_prepared_stmt_count", 16382, 0, 4194304, scope=G),
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
