"""A node's configuration as ``ServerState``'s options (what my.cnf is to MySQL).

``state_options`` is the one place the SQL half of a node reads its config: storage settings,
the size of the translation cache, and the @@global values the node starts with
(``global_defaults``). The listener and the executor then read the variables, so ``SET GLOBAL``
changes what the config set, for connections and sessions that start afterwards, as in MySQL.
"""

from __future__ import annotations

import math
from typing import Any

from marmotdb.config import Config

CONNECT_TIMEOUT_S_MIN = 2  # MySQL's lower bound for connect_timeout
WAIT_TIMEOUT_S_MAX = 31_536_000  # MySQL's upper bound for wait_timeout: mysql.idle_timeout_s 0


def state_options(config: Config, version: str) -> dict[str, Any]:
    """Keyword arguments of ``ServerState`` (through ``Node(state_options=…)``)."""
    storage = config.storage
    return dict(durability=storage.durability, cache_size_mb=storage.cache_size_mb,
                busy_timeout_ms=storage.busy_timeout_ms,
                batch_txns_max=storage.commit_batch_txns_max,
                translation_cache_entries_max=max(1, config.sql.statement_cache_size),
                auto_increment_block_size=config.cluster.auto_increment_block_size,
                ddl_lock_lease_ms=config.cluster.ddl_lock_lease_ms,
                ddl_implicit_commit=config.sql.ddl_implicit_commit,
                global_defaults=global_defaults(config, version))


def global_defaults(config: Config, version: str) -> dict[str, object]:
    """Global variable values (by MySQL name) for ``GlobalVariables``."""
    mysql, sql = config.mysql, config.sql
    tls = "YES" if mysql.tls else "DISABLED"
    lock_wait_s = max(1, round(sql.lock_wait_timeout_s))
    idle_s = mysql.idle_timeout_s or WAIT_TIMEOUT_S_MAX
    return {
        "version": version, "port": mysql.port, "server_id": config.node_id,
        "marmot_node_id": str(config.node_id), "have_ssl": tls, "have_openssl": tls,
        "sql_mode": sql.sql_mode, "time_zone": sql.time_zone,
        "max_execution_time": sql.max_execution_time_ms,
        "innodb_lock_wait_timeout": lock_wait_s, "lock_wait_timeout": lock_wait_s,
        "marmot_write_consistency": config.cluster.write_consistency,
        "max_allowed_packet": mysql.max_allowed_packet_bytes,
        "max_connections": mysql.max_connections,
        "wait_timeout": idle_s, "interactive_timeout": idle_s,
        "connect_timeout": max(CONNECT_TIMEOUT_S_MIN,
                               math.ceil(mysql.handshake_timeout_ms / 1000)),
        # "normal" answers once the commit is in the WAL (OS cache): MySQL's 2; "fsync" is 1.
        "innodb_flush_log_at_trx_commit": 1 if config.storage.durability == "fsync" else 2,
    }
