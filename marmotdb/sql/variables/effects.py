"""What SET does to each system variable here: no SET answers OK and then changes nothing.

Every variable a client may SET (``catalog_variable_specs.SPECS`` less the read-only ones) is in
exactly one class; ``tests/sql/test_variable_effects.py`` fails on one that is in none.

* ``EXECUTOR``: read by the executor (sql/, txn/) at the moment it matters; a SET takes effect
  at once for the session, a SET GLOBAL for sessions that start afterwards (MySQL's rule for
  variables that have a session value).
* ``LISTENER``: read by the MySQL listener (runtime/) through ``ServerState`` and ``Session``:
  ``max_connections``, ``connect_timeout``, ``max_allowed_packet``, ``max_prepared_stmt_count``
  and ``require_secure_transport`` when a connection is accepted, ``wait_timeout`` /
  ``interactive_timeout`` / ``net_read_timeout`` / ``net_write_timeout`` / ``max_execution_time``
  while it is served. A SET GLOBAL applies to connections accepted afterwards, as in MySQL.
* ``FIXED``: marmotdb behaves as one value of the variable (its global value, e.g.
  ``sql_select_limit`` unlimited, ``binlog_format`` ROW). SET to that value is accepted (dump
  files save and restore old values); any other value is refused with 1235, naming the value
  that stays — the server does not pretend to limit rows it does not limit.
* ``INERT``: sizes and hints of MySQL's own machinery (buffers, optimizer switches, the slow
  log) whose value changes no result a client can observe, only MySQL's memory or speed.
  Accepted and shown back; there is nothing for them to tune here.
* ``UNENFORCED``: accepted and shown but not yet honoured, each listed with what a client sees
  in docs/compatibility.md: refusing them would break applications that merely raise a limit
  (``SET SESSION group_concat_max_len = 1000000``) or announce a character set.

``SESSION_READ_ONLY``: MySQL's own rule that the session value may not be SET (1621, "Use SET
GLOBAL"): ``max_allowed_packet``, ``net_buffer_length``, ``max_user_connections``.
``NEEDS_TLS``: ``require_secure_transport`` may be switched on only when TLS is offered (3160).
"""

from __future__ import annotations

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.sql.variables.specs import VariableSpec

EXECUTOR = frozenset({
    "autocommit", "foreign_key_checks", "local_infile", "information_schema_stats_expiry",
    "innodb_lock_wait_timeout", "lock_wait_timeout", "marmot_read_consistency",
    "marmot_write_consistency", "sql_mode", "sql_notes",
    "sql_quote_show_create", "time_zone", "timestamp", "transaction_isolation",
    "transaction_read_only",
})

LISTENER = frozenset({
    "connect_timeout", "interactive_timeout", "max_allowed_packet", "max_connections",
    "max_execution_time", "max_prepared_stmt_count", "net_read_timeout", "net_write_timeout",
    "require_secure_transport", "wait_timeout",
})

FIXED = frozenset({
    # server-wide switches and sizes of features marmotdb does not have
    "authentication_policy", "default_password_lifetime", "event_scheduler", "general_log",
    "init_connect", "innodb_default_row_format", "innodb_file_per_table",
    "innodb_flush_log_at_trx_commit", "key_buffer_size", "innodb_buffer_pool_size",
    "log_output", "max_connect_errors", "net_buffer_length", "offline_mode",
    "query_cache_size", "read_only", "slow_query_log", "super_read_only", "table_open_cache",
    "thread_cache_size",
    # session behaviour marmotdb has one way of
    "auto_increment_increment", "auto_increment_offset", "binlog_format", "binlog_row_image",
    "block_encryption_mode", "completion_type", "default_collation_for_utf8mb4",
    "default_storage_engine", "default_week_format", "div_precision_increment",
    "explicit_defaults_for_timestamp", "gtid_next", "identity", "innodb_strict_mode",
    "insert_id", "last_insert_id",
    "lc_messages", "lc_time_names", "max_error_count", "max_join_size", "max_user_connections",
    "optimizer_trace", "profiling", "query_cache_type", "require_row_format",
    "resultset_metadata", "session_track_gtids", "session_track_schema",
    "session_track_state_change", "session_track_system_variables",
    "session_track_transaction_info", "show_create_table_verbosity", "sql_auto_is_null",
    "sql_big_selects", "sql_generate_invisible_primary_key", "sql_log_bin",
    "sql_require_primary_key", "sql_safe_updates", "sql_select_limit", "sql_warnings",
    "updatable_views_with_limit",
})

INERT = frozenset({
    "big_tables", "bulk_insert_buffer_size", "character_set_filesystem",
    "default_tmp_storage_engine", "end_markers_in_json", "eq_range_index_dive_limit",
    "histogram_generation_max_mem_size", "internal_tmp_mem_storage_engine", "join_buffer_size",
    "keep_files_on_create", "long_query_time", "max_heap_table_size",
    "max_length_for_sort_data", "max_points_in_geometry", "max_seeks_for_key",
    "max_sort_length", "max_sp_recursion_depth", "min_examined_row_limit", "net_retry_count",
    "old_alter_table", "optimizer_prune_level", "optimizer_search_depth", "optimizer_switch",
    "preload_buffer_size", "print_identified_with_as_hex", "profiling_history_size",
    "pseudo_thread_id", "range_optimizer_max_mem_size", "read_buffer_size",
    "read_rnd_buffer_size", "sort_buffer_size", "sql_buffer_result", "tmp_table_size",
    "transaction_alloc_block_size", "transaction_prealloc_size", "unique_checks",
    "windowing_use_high_precision",
})

UNENFORCED = frozenset({
    "character_set_client", "character_set_connection", "character_set_database",
    "character_set_results", "character_set_server", "collation_connection",
    "collation_database", "collation_server", "cte_max_recursion_depth",
    "group_concat_max_len",
})

SESSION_READ_ONLY = frozenset({"max_allowed_packet", "net_buffer_length", "max_user_connections"})
NEEDS_TLS = frozenset({"require_secure_transport"})


def check_session_scope(spec: VariableSpec) -> None:
    """SET [SESSION] of a variable whose session value MySQL keeps read-only: 1621."""
    if spec.name in SESSION_READ_ONLY:
        raise errors.error(errors.ER_VARIABLE_IS_READONLY, f"SESSION variable '{spec.name}' is "
                           "read-only. Use SET GLOBAL to assign the value")


def check_value(spec: VariableSpec, value: object, current: object) -> None:
    """A FIXED variable may only be set to the value marmotdb behaves as (``current``)."""
    if spec.name in FIXED and value != current:
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           f"support 'SET {spec.name} = {_shown(value)}' (it stays "
                           f"{_shown(current)})")


def check_tls(spec: VariableSpec, value: object, tls_offered: bool) -> None:
    if spec.name in NEEDS_TLS and value and not tls_offered:
        raise no_secure_transport()


def no_secure_transport() -> MarmotError:
    return errors.error(errors.ER_NO_SECURE_TRANSPORTS_CONFIGURED, "No secure transports (SSL "
                        "or Shared Memory) are configured, unable to set "
                        "--require_secure_transport=ON.")


def _shown(value: object) -> str:
    return "NULL" if value is None else f"'{value}'" if isinstance(value, str) else str(value)
