"""Typed configuration: defaults < TOML file < MARMOTDB_* environment < command-line flags.

Every setting is a dataclass field with a unit in its name where it has one and a docstring-like
``help`` in its metadata; ``marmotdb config --print-defaults`` prints them all as commented TOML.
Names are stable: scripts and tests outside the project use them.

Environment: ``MARMOTDB_<SECTION>_<FIELD>`` (``MARMOTDB_MYSQL_PORT=3307``), top-level fields as
``MARMOTDB_<FIELD>`` (``MARMOTDB_DATA_DIR``). Flags: ``--<section>-<field>`` with dashes
(``--mysql-port``), top-level ``--<field>`` (``--data-dir``). ``MARMOTDB_ROOT_PASSWORD`` sets the
root password used on first start.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marmotdb.errors import MarmotError


class ConfigError(MarmotError):
    """A setting is unknown or has a value of the wrong type."""


def setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


def setting_list(help: str) -> Any:
    return field(default_factory=list, metadata={"help": help})


TLS_SESSION_TICKETS_MAX = 8  # tickets per handshake: a few serve parallel resumptions


@dataclass
class MysqlConfig:
    host: str = setting("127.0.0.1", "Address the MySQL listener binds to.")
    port: int = setting(3306, "TCP port of the MySQL listener.")
    max_connections: int = setting(
        2000, "Start value of @@global.max_connections: client connections served at once, "
        "plus one kept for an administrator; more get 1040.")
    max_allowed_packet_bytes: int = setting(
        64 * 1024 * 1024, "Largest client packet (and statement) accepted; larger gets 1153.")
    server_version: str = setting("8.0.36", "MySQL version announced to clients (suffix added).")
    tls: bool = setting(True, "Offer TLS to clients (certificate generated on first start).")
    tls_cert_file: str = setting("", "PEM certificate; empty = <data_dir>/tls/server.pem.")
    tls_key_file: str = setting("", "PEM private key; empty = <data_dir>/tls/server.key.")
    tls_session_tickets: int = setting(
        1, "TLS 1.3 session tickets sent after each full TLS handshake (0-8): a client that "
        "resumes with one skips the certificate and its signature on its next "
        "connect; for clients that never resume (PyMySQL, libmariadb, the mariadb CLI) each "
        "costs ~25 us of server CPU per connect. OpenSSL's and MariaDB's default is 2.")
    handshake_timeout_ms: int = setting(
        10_000, "A client must finish login within this time (slowloris bound); start value "
        "of @@global.connect_timeout (whole seconds, at least 2).")
    preauth_packet_bytes_max: int = setting(
        16 * 1024, "Before login: largest packet, and all a client may make the server buffer.")
    input_buffer_bytes_max: int = setting(
        1024 * 1024, "After login: pipelined input held while an answer is pending; the server "
        "stops reading the connection at this bound.")
    long_data_bytes_max: int = setting(
        64 * 1024 * 1024, "COM_STMT_SEND_LONG_DATA buffered by one connection's statements.")
    idle_timeout_s: int = setting(
        28_800, "Start value of @@global.wait_timeout and interactive_timeout: a client idle "
        "this long between commands is disconnected (0 = one year, MySQL's longest).")


@dataclass
class SqlConfig:
    lock_wait_timeout_s: float = setting(
        50.0, "How long a writer waits for a database's write lock before error 1205.")
    max_execution_time_ms: int = setting(
        0, "Default limit for SELECT statements (0 = none); per session via max_execution_time.")
    statement_cache_size: int = setting(
        10_000, "Translated statement shapes kept (one cache per process, least recently used "
        "out first).")
    sql_mode: str = setting(
        "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION", "Default sql_mode of new sessions.")
    time_zone: str = setting("SYSTEM", "Default time_zone of new sessions.")
    read_threads: int = setting(
        4, "Threads for long reads (past their in-loop budget); their rows stream from there.")
    write_threads: int = setting(
        2, "Threads for long writes (a DML scanning a big table, txn/DESIGN.md §2.1).")
    long_reads_queued_max: int = setting(
        64, "Long reads that may wait for a read thread; one more is refused with 1041.")
    long_writes_queued_max: int = setting(
        16, "Long writes that may wait for a writer thread; one more is refused with 1041.")
    ddl_implicit_commit: bool = setting(
        True, "DDL inside an open transaction commits it first, as in MySQL; false refuses "
        "such a DDL with 1179 (SQLSTATE 25000) and leaves the transaction open.")


@dataclass
class StorageConfig:
    durability: str = setting(
        "normal", "'normal' (WAL; a commit is answered once in the WAL: survives a process "
        "crash) or 'fsync' (answered once the WAL is fsynced, one fsync per group of commits "
        "off the event loop: survives power loss).")
    commit_batch_txns_max: int = setting(
        256, "Transactions made durable by one group-commit COMMIT at most.")
    cache_size_mb: int = setting(64, "SQLite page cache per database connection.")
    busy_timeout_ms: int = setting(5_000, "SQLite busy timeout for internal connections.")


@dataclass
class AuthConfig:
    root_password: str = setting(
        "", "Root password on first start (or MARMOTDB_ROOT_PASSWORD); empty = generate and "
        "print once. Only the hash is kept.")
    users: list[dict[str, Any]] = setting_list(
        "Extra users: [[auth.users]] name, credential (from `marmotdb user hash`), "
        "grants = ['db:rw', '*:r', '*:admin'].")
    native_password: bool = setting(
        True, "Accept mysql_native_password logins (False: caching_sha2_password only, as "
        "MySQL 8.4's mysql_native_password=OFF).")
    failed_logins_before_delay: int = setting(
        3, "Failed logins per user and host before each further attempt is delayed.")
    login_delay_min_ms: int = setting(1_000, "First delay after that many failures; it grows "
                                      "by this much per further failure.")
    login_delay_max_ms: int = setting(
        8_000, "Longest login delay (keep it below mysql.handshake_timeout_ms).")
    login_throttle_entries_max: int = setting(
        10_000, "User/host pairs with failed logins remembered (oldest forgotten first).")


@dataclass
class LoggingConfig:
    format: str = setting("human", "'human' or 'json' (one JSON object per line).")
    level: str = setting("info", "debug, info, warning or error.")


@dataclass
class ClusterConfig:
    secret: str = setting("", "Shared cluster secret for peer traffic (MARMOTDB_CLUSTER_SECRET).")
    peer_host: str = setting("127.0.0.1", "Address for peer (gossip and replication) traffic.")
    peer_port: int = setting(0, "Peer port (UDP probes + TCP); 0 = single node, no cluster.")
    admin_host: str = setting("127.0.0.1", "Address of the admin HTTP API and /metrics.")
    admin_port: int = setting(0, "Admin HTTP port (needs the cluster secret); 0 = disabled.")
    metrics_port: int = setting(
        0, "Prometheus /metrics without authentication on admin_host (nothing else is served "
        "there); 0 = /metrics only on the admin port, with the secret.")
    seed_nodes: list[str] = setting_list("host:port peer addresses to join through.")
    advertise_host: str = setting(
        "", "Host other nodes use to reach this node's peer, MySQL and admin ports; empty = "
        "peer_host (set it when peer_host is 0.0.0.0).")
    swim_profile: str = setting(
        "lan", "Base SWIM timings: 'lan' (dead within ~5-10 s), 'local' (one host: faster "
        "suspicion) or 'wan'. The *_ms settings below override single timings when non-zero.")
    probe_interval_ms: int = setting(
        0, "Time between two probes of this node (0 = profile: lan 1000). Lower detects "
        "failures sooner, costs more packets.")
    probe_timeout_ms: int = setting(
        0, "Wait for a direct ack before indirect probes (0 = profile: lan 500); above the "
        "round-trip time under load, below probe_interval_ms.")
    suspicion_mult: int = setting(
        0, "Minimum suspicion timeout in probe intervals, scaled by log10(members) (0 = "
        "profile: lan 4). Higher: fewer false deaths, slower detection.")
    gossip_interval_ms: int = setting(
        0, "Pace of dedicated gossip packets while updates are queued (0 = profile: lan 200).")
    push_pull_interval_ms: int = setting(
        0, "Full member-table exchange with one random member over TCP (0 = profile: lan "
        "30000).")
    reconnect_interval_ms: int = setting(
        0, "Push-pull with one random DEAD member, which heals partitions (0 = profile: lan "
        "10000).")
    peer_queue_frames_max: int = setting(
        1024, "Frames queued per peer TCP connection; past it new frames are dropped (counted).")
    peer_connect_timeout_ms: int = setting(
        2_000, "TCP connect plus peer handshake to another node must finish within this.")
    peer_backoff_min_ms: int = setting(
        100, "First wait before reconnecting to a peer after a failed connection (doubles).")
    peer_backoff_max_ms: int = setting(
        5_000, "Longest wait between reconnection attempts to one peer.")
    peer_request_timeout_ms: int = setting(
        5_000, "Default timeout of a request/response exchange with a peer.")
    peer_tls: bool = setting(
        False, "TLS on peer TCP connections (UDP probes stay HMAC-authenticated, unencrypted).")
    peer_tls_cert_file: str = setting(
        "", "PEM certificate for peer TLS; empty = <data_dir>/tls/server.pem.")
    peer_tls_key_file: str = setting("", "PEM private key for peer TLS; empty = generated one.")
    peer_tls_ca_file: str = setting(
        "", "CA bundle peers' certificates must chain to; empty = encrypt without verifying "
        "(the cluster secret still authenticates every peer).")
    fault_rules: list[str] = setting_list(
        "Fault injection for tests (never in production): rules 'peer=HOST:PORT|*;direction="
        "in|out|both;drop=0.3;delay_ms=50;jitter_ms=20;duplicate=0.1;reorder=0.2;partition=1'. "
        "Changeable at run time through POST /faults.")
    fault_seed: int = setting(0, "Seed of the fault layer's random decisions (0 = from node id).")
    write_consistency: str = setting(
        "QUORUM", "Default write level of new sessions (SET marmot_write_consistency): ONE "
        "(this node decides; others converge by last-write-wins), QUORUM (a majority of all "
        "members votes and accepts the decision) or ALL (every member votes).")
    txn_prepare_timeout_ms: int = setting(
        2_000, "A batch's votes not in by then count as missing (the members needing them get "
        "1047, not committed).")
    txn_decision_timeout_ms: int = setting(
        2_000, "A commit decision not accepted by a quorum by then: the client gets 1180 "
        "(outcome unknown) and the cluster finishes the decision.")
    catch_up_interval_ms: int = setting(
        1_000, "How often a node compares its commit vectors with one peer's and pulls the "
        "transactions it missed (after a restart or a partition).")
    log_retention_max_hours: float = setting(
        24.0, "Commit-log entries are trimmed once every member (DEAD ones included) applied "
        "them, or after this many hours even if a member lags (Marmot v2's "
        "gc_max_retention_hours); a member that missed trimmed entries restores a snapshot. "
        "0 = keep until every member applied them.")
    log_trim_interval_ms: int = setting(
        10_000, "How often a node trims its commit logs and collects tombstones (bounded work "
        "per database per run, through the database's commit pipeline).")
    auto_increment_block_size: int = setting(
        1_000, "AUTO_INCREMENT ids a node claims at a time per table (a committed QUORUM "
        "write); it claims the next block in the background once fewer than half are left. "
        "Larger: fewer claims, bigger gaps (a restart skips the rest of its blocks); the "
        "default lets a 32-bit INT column take two million claims. Single node: unused.")
    ddl_lock_lease_ms: int = setting(
        30_000, "Lease of a database's cluster DDL lock (marmotdb/ddl/DESIGN.md): the holder "
        "renews it every third of it while its DDL runs; a holder that died blocks DDL and "
        "DML on that database at most this long (plus the 500 ms clock-offset margin). "
        "Shorter: faster recovery after a crash, more renewal writes.")
    txn_schema_wait_ms: int = setting(
        1_000, "A member asked to vote on writes built on a schema version it has not reached "
        "(it missed a DDL) pulls that DDL from the coordinator for up to this long before "
        "voting, instead of refusing at once (1213 and a retry); at most half of "
        "txn_prepare_timeout_ms is used (a later vote would be lost). 0 = refuse at once.")
    txn_recovery_timeout_ms: int = setting(
        5_000, "A batch left undecided this long by its coordinator (crashed, cut off) is "
        "finished by the other members (Paxos Commit recovery); keep it above "
        "txn_decision_timeout_ms.")


@dataclass
class CdcConfig:
    sinks: list[dict[str, Any]] = setting_list(
        "CDC sinks, one [[cdc.sinks]] table each (docs/cdc.md): name, kind (nats | kafka), "
        "url or servers, prefix, filters, batching, backoff, snapshot_mode. Empty = no CDC.")
    backlog_max_bytes: int = setting(
        1 << 30, "Commit-log bytes a sink may have left to publish on this node before it is "
        "failed (and stops holding the log back from trimming): writes are never blocked or "
        "slowed by a sink, its backlog is bounded by this much disk.")
    cursor_report_interval_ms: int = setting(
        1_000, "How often a publisher sends its sink cursors to its peers; a node taking over a "
        "dead publisher's origins republishes at most about this much.")
    status_interval_ms: int = setting(
        1_000, "How often each sink's lag and backlog are measured (metrics, admin /cdc, the "
        "backlog_max_bytes check) and ownership of origins is re-evaluated.")


@dataclass
class SinkConfig:
    """One ``[[cdc.sinks]]`` entry (checked by ``sink_configs``)."""

    name: str
    kind: str
    url: str = "nats://127.0.0.1:4222"  # nats
    servers: list[str] = field(default_factory=list)  # kafka bootstrap host:port list
    prefix: str = "marmot"  # topics <prefix>.<db>.<table>, schema changes on <prefix>
    stream: str = ""  # nats: JetStream stream name; empty = the prefix, made a valid name
    include_databases: list[str] = field(default_factory=list)
    exclude_databases: list[str] = field(default_factory=list)
    include_tables: list[str] = field(default_factory=list)  # globs on table or db.table
    exclude_tables: list[str] = field(default_factory=list)
    records_max: int = 1_000  # records per publish call
    bytes_max: int = 4 << 20  # bytes (keys + values) per publish call
    linger_ms: int = 10  # wait this long for more records when a batch was not full
    in_flight_max: int = 256  # publishes awaiting broker acks at once (pipelining)
    publish_timeout_ms: int = 10_000  # a broker ack later than this fails the call (retried)
    retry_initial_ms: int = 100  # backoff after the first failure
    retry_max_ms: int = 30_000  # backoff cap
    retry_multiplier: float = 2.0
    snapshot_mode: str = "initial"  # initial (op r of every row first) | never
    transaction_events: bool = False  # BEGIN/END events on <prefix>.transaction
    # Debezium's skipped.operations: ops among c, u, d, t not published ("none" or []: all)
    skipped_operations: list[str] = field(default_factory=lambda: ["t"])
    partitions: int = 4  # kafka: partitions of a topic the sink creates (existing: as they are)
    replication_factor: int = 1  # kafka: replicas of a topic the sink creates (3 in production)
    record_bytes_max: int = 1 << 20  # kafka: a larger record fails the sink; <= message.max.bytes


# kind -> runtime module whose ``build_sink(SinkConfig)`` makes the sink (runtime/cdc_*.py).
# Another broker is one line here plus its module.
SINK_KINDS: dict[str, str] = {
    "nats": "marmotdb.runtime.cdc_nats",
    "kafka": "marmotdb.runtime.cdc_kafka",
}
_SINK_CHOICES = {"snapshot_mode": ("initial", "never")}
# Settings only some kinds read: given to another kind, they are refused rather than ignored.
SINK_KIND_SETTINGS: dict[str, tuple[str, ...]] = {
    "url": ("nats",), "stream": ("nats",), "servers": ("kafka",), "partitions": ("kafka",),
    "replication_factor": ("kafka",), "record_bytes_max": ("kafka",)}


def sink_configs(entries: list[dict[str, Any]]) -> list[SinkConfig]:
    """The ``[[cdc.sinks]]`` entries (``cdc.sinks``) as checked ``SinkConfig``s; ConfigError
    naming the first defect (unknown key or kind, wrong type, duplicate name, bad choice)."""
    fields = {f.name: f for f in dataclasses.fields(SinkConfig)}
    out: list[SinkConfig] = []
    for i, entry in enumerate(entries):
        where = f"cdc.sinks[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table ([[cdc.sinks]])")
        for key in ("name", "kind"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ConfigError(f"{where}.{key} is required (a string)")
        values: dict[str, Any] = {}
        for key, value in entry.items():
            f = fields.get(key)
            if f is None:
                raise ConfigError(f"unknown setting {where}.{key}; known: {', '.join(fields)}")
            kind = {"list[str]": list}.get(str(f.type), _KINDS.get(str(f.type), str))
            if kind is list and isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"{where}.{key}: {value!r} is not {_KIND_WORDS[kind]}")
            values[key] = value
        sink = SinkConfig(**values)
        if sink.kind not in SINK_KINDS:
            raise ConfigError(f"{where}.kind must be one of {', '.join(SINK_KINDS)}; "
                              f"got {sink.kind!r}")
        for key in values:
            kinds = SINK_KIND_SETTINGS.get(key)
            if kinds is not None and sink.kind not in kinds:
                raise ConfigError(f"{where}.{key} is a setting of kind {', '.join(kinds)} "
                                  f"sinks, not of {sink.kind}")
        for key, allowed in _SINK_CHOICES.items():
            if getattr(sink, key) not in allowed:
                raise ConfigError(f"{where}.{key} must be one of {', '.join(allowed)}")
        if sink.skipped_operations == ["none"]:
            sink.skipped_operations = []
        if not set(sink.skipped_operations) <= {"c", "u", "d", "t"}:
            raise ConfigError(f"{where}.skipped_operations: {sink.skipped_operations!r}; "
                              "allowed: any of c, u, d, t, or none")
        if any(s.name == sink.name for s in out):
            raise ConfigError(f"{where}.name {sink.name!r} is used by another sink")
        if min(sink.records_max, sink.bytes_max, sink.in_flight_max, sink.retry_initial_ms,
               sink.publish_timeout_ms) < 1 or sink.retry_max_ms < sink.retry_initial_ms \
                or sink.retry_multiplier < 1 or sink.linger_ms < 0:
            raise ConfigError(f"{where}: records_max, bytes_max, in_flight_max, "
                              "publish_timeout_ms and retry_initial_ms must be at least 1, "
                              "retry_max_ms at least retry_initial_ms, retry_multiplier at "
                              "least 1, linger_ms not negative")
        out.append(sink)
    return out


@dataclass
class Config:
    node_id: int = setting(1, "Stable node id (never random); unique in a cluster.")
    data_dir: str = setting("./marmotdb-data", "Directory holding one SQLite file per database.")
    mysql: MysqlConfig = field(default_factory=MysqlConfig)
    sql: SqlConfig = field(default_factory=SqlConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    cdc: CdcConfig = field(default_factory=CdcConfig)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


# The lease must outlast a few renewal rounds and the clock-offset margin (marmotdb/ddl/).
DDL_LOCK_LEASE_MS_MIN = 300

SECTIONS = ("mysql", "sql", "storage", "auth", "logging", "cluster", "cdc")


def _fields(obj: Any) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(obj) if f.name not in SECTIONS}


_KINDS: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "list": list}
_KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string",
               list: "a list (comma-separated in flags and variables)"}
_BOOL_WORDS = {"1": True, "true": True, "yes": True, "on": True,
               "0": False, "false": False, "no": False, "off": False}


def kind_of(f: dataclasses.Field[Any]) -> type:
    return _KINDS.get(str(f.type).split("[", 1)[0], str)


def _parse_text(text: str, kind: type) -> Any:
    """A flag or environment value (always text) as ``kind``; ValueError if it is not one."""
    if kind is bool:
        return _BOOL_WORDS[text.strip().lower()]
    if kind is list:
        return [v.strip() for v in text.split(",") if v.strip()]
    return kind(text.strip()) if kind is not str else text


def _coerce(value: Any, f: dataclasses.Field[Any], where: str) -> Any:
    """``value`` for field ``f``, from text (flags, environment) or TOML; ConfigError saying
    where the value came from, what it should be and what the setting is, if it does not fit."""
    kind = kind_of(f)
    try:
        if isinstance(value, str) and kind is not str:
            return _parse_text(value, kind)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value
    except (KeyError, TypeError, ValueError):
        pass
    raise ConfigError(f"{where}: {value!r} is not {_KIND_WORDS[kind]} "
                      f"({f.metadata.get('help', '').rstrip('.')})") from None


def _assign(target: Any, key: str, value: Any, prefix: str) -> None:
    fields = _fields(target)
    if key not in fields:
        close = difflib.get_close_matches(key, list(fields), n=1)
        hint = f"; did you mean {prefix}{close[0]}?" if close else ""
        raise ConfigError(f"unknown setting {prefix}{key}{hint}")
    setattr(target, key, _coerce(value, fields[key], prefix + key))


def apply_mapping(config: Config, data: dict[str, Any]) -> None:
    """Apply a parsed TOML document (nested dicts) onto ``config``."""
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table")
            for sub_key, sub_value in value.items():
                _assign(getattr(config, key), sub_key, sub_value, key + ".")
        else:
            _assign(config, key, value, "")


def iter_settings(config: Config) -> typing.Iterator[tuple[str, str, Any, Any]]:
    """Yield (section or '', field name, owner object, Field) for every setting."""
    for name, f in _fields(config).items():
        yield "", name, config, f
    for section in SECTIONS:
        owner = getattr(config, section)
        for name, f in _fields(owner).items():
            yield section, name, owner, f


def apply_environment(config: Config, environ: typing.Mapping[str, str]) -> None:
    for section, name, owner, f in iter_settings(config):
        env = "MARMOTDB_" + "_".join(p for p in (section, name) if p).upper()
        if env in environ:
            setattr(owner, name, _coerce(environ[env], f, f"environment {env}"))
    if environ.get("MARMOTDB_ROOT_PASSWORD"):
        config.auth.root_password = environ["MARMOTDB_ROOT_PASSWORD"]


def env_name(section: str, name: str) -> str:
    return "MARMOTDB_" + "_".join(p for p in (section, name) if p).upper()


def flag_name(section: str, name: str) -> str:
    return "--" + "-".join(p for p in (section, name) if p).replace("_", "-")


_SECTION_TITLES = {
    "": "node", "mysql": "MySQL listener", "sql": "SQL sessions", "storage": "SQLite storage",
    "auth": "accounts", "logging": "logging", "cluster": "cluster membership, peers, admin API",
    "cdc": "change data capture (Debezium events to brokers)",
}


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (``--mysql-port``, ``--data-dir``), grouped by TOML section, each
    with its type, default and environment variable; default None = not given."""
    defaults = Config()
    groups: dict[str, Any] = {}
    for section, name, owner, f in iter_settings(defaults):
        if section not in groups:
            table = f"[{section}]" if section else "top level"
            groups[section] = parser.add_argument_group(
                f"{_SECTION_TITLES[section]} (TOML {table}, "
                f"{env_name(section, 'NAME') if section else 'MARMOTDB_NAME'})")
        default = getattr(owner, name)
        shown = _toml_value(default) if default not in ("", []) else "none"
        groups[section].add_argument(
            flag_name(section, name), dest=f"cfg__{section}__{name}", default=None,
            metavar=kind_of(f).__name__.upper(),
            help=f"{f.metadata.get('help', '')} [default {shown}; {env_name(section, name)}]"
                 .replace("%", "%%"))


def apply_flags(config: Config, args: argparse.Namespace) -> None:
    for key, value in vars(args).items():
        if not key.startswith("cfg__") or value is None:
            continue
        _, section, name = key.split("__", 2)
        owner = getattr(config, section) if section else config
        setattr(owner, name, _coerce(value, _fields(owner)[name], flag_name(section, name)))


def load(path: str | None, environ: typing.Mapping[str, str] | None = None,
         args: argparse.Namespace | None = None) -> Config:
    config = Config()
    if path:
        try:
            with open(path, "rb") as fh:
                apply_mapping(config, tomllib.load(fh))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    apply_environment(config, os.environ if environ is None else environ)
    if args is not None:
        apply_flags(config, args)
    validate(config)
    return config


_CHOICES = {
    ("storage", "durability"): ("normal", "fsync"),
    ("cluster", "write_consistency"): ("ONE", "QUORUM", "ALL"),
    ("logging", "format"): ("human", "json"),
    ("logging", "level"): ("debug", "info", "warning", "error"),
    ("cluster", "swim_profile"): ("lan", "local", "wan"),
}
_SECRETS = {("auth", "root_password"), ("cluster", "secret")}


def describe(section: str, name: str) -> str:
    """How a user sets it: ``mysql.port (--mysql-port, MARMOTDB_MYSQL_PORT)``."""
    return (f"{section + '.' if section else ''}{name} ({flag_name(section, name)}, "
            f"{env_name(section, name)})")


def validate(config: Config) -> None:
    """Values of the right type but outside what the setting allows: one line naming it."""
    for (section, name), allowed in _CHOICES.items():
        value = getattr(getattr(config, section), name)
        if value not in allowed:
            raise ConfigError(f"{describe(section, name)} must be one of {', '.join(allowed)}; "
                              f"got {value!r}")
    for section, name, owner, f in iter_settings(config):
        value = getattr(owner, name)
        if (name == "port" or name.endswith("_port")) and not 0 <= value <= 65535:
            raise ConfigError(f"{describe(section, name)} must be a TCP port 0..65535; "
                              f"got {value}")
        if kind_of(f) in (int, float) and value < 0:
            raise ConfigError(f"{describe(section, name)} must not be negative; got {value}")
    sink_configs(config.cdc.sinks)
    if config.mysql.tls_session_tickets > TLS_SESSION_TICKETS_MAX:
        raise ConfigError(f"{describe('mysql', 'tls_session_tickets')} must be 0.."
                          f"{TLS_SESSION_TICKETS_MAX}; got {config.mysql.tls_session_tickets}")
    if config.cluster.ddl_lock_lease_ms < DDL_LOCK_LEASE_MS_MIN:
        raise ConfigError(f"{describe('cluster', 'ddl_lock_lease_ms')} must be at least "
                          f"{DDL_LOCK_LEASE_MS_MIN}; got {config.cluster.ddl_lock_lease_ms}")
    if config.cluster.auto_increment_block_size < 1:
        raise ConfigError(f"{describe('cluster', 'auto_increment_block_size')} must be at "
                          f"least 1; got {config.cluster.auto_increment_block_size}")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def render_defaults() -> str:
    """Every setting with its help text and default, as a TOML document."""
    lines = ["# marmotdb configuration: every setting with its default.", ""]
    current = None
    for section, name, owner, f in iter_settings(Config()):
        if section != current and section:
            lines += ["", f"[{section}]"]
            current = section
        lines.append(f"# {f.metadata.get('help', '')}")
        lines.append(f"{name} = {_toml_value(getattr(owner, name))}")
    return "\n".join(lines) + "\n"


def render(config: Config) -> str:
    """The effective settings as TOML, secrets masked (``marmotdb config --config FILE``)."""
    lines = ["# marmotdb configuration in effect (defaults < file < environment)."]
    current = None
    for section, name, owner, f in iter_settings(config):
        if section != current and section:
            lines += ["", f"[{section}]"]
            current = section
        value = getattr(owner, name)
        if value and isinstance(value, list) and isinstance(value[0], dict):
            lines.append(f"# {name}: {len(value)} entries (credentials not shown)")
            continue
        masked = (section, name) in _SECRETS and value
        lines.append(f"{name} = {_toml_value('********' if masked else value)}")
    return "\n".join(lines) + "\n"
