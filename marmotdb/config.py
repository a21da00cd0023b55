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


@dataclass
class MysqlConfig:
    host: str = setting("127.0.0.1", "Address the MySQL listener binds to.")
    port: int = setting(3306, "TCP port of the MySQL listener.")
    max_connections: int = setting(2000, "Client connections accepted at once; more get 1040.")
    max_allowed_packet_bytes: int = setting(
        64 * 1024 * 1024, "Largest client packet (and statement) accepted; larger gets 1153.")
    server_version: str = setting("8.0.36", "MySQL version announced to clients (suffix added).")
    tls: bool = setting(True, "Offer TLS to clients (certificate generated on first start).")
    tls_cert_file: str = setting("", "PEM certificate; empty = <data_dir>/tls/server.pem.")
    tls_key_file: str = setting("", "PEM private key; empty = <data_dir>/tls/server.key.")
    handshake_timeout_ms: int = setting(
        10_000, "A client must finish login within this time (slowloris bound).")
    idle_timeout_s: int = setting(28_800, "Idle client connections are closed after this (wait_timeout).")


@dataclass
class SqlConfig:
    lock_wait_timeout_s: float = setting(
        50.0, "How long a writer waits for a database's write lock before error 1205.")
    max_execution_time_ms: int = setting(
        0, "Default limit for SELECT statements (0 = none); per session via max_execution_time.")
    long_read_threshold_rows: int = setting(
        2_000, "A read still producing rows past this moves to a worker thread.")
    statement_cache_size: int = setting(10_000, "Translated statement shapes kept per node.")
    sql_mode: str = setting(
        "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION", "Default sql_mode of new sessions.")
    time_zone: str = setting("SYSTEM", "Default time_zone of new sessions.")


@dataclass
class StorageConfig:
    durability: str = setting(
        "normal", "'normal' (WAL, synchronous=NORMAL: survives process crash) or 'fsync' "
        "(synchronous=FULL: survives power loss).")
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
    admin_port: int = setting(0, "Admin HTTP port; 0 = disabled.")
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

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)


SECTIONS = ("mysql", "sql", "storage", "auth", "logging", "cluster")


def _fields(obj: Any) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(obj) if f.name not in SECTIONS}


_KINDS: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "list": list}


def _coerce(value: Any, annotation: Any, name: str) -> Any:
    kind = _KINDS.get(str(annotation).split("[", 1)[0], object)
    try:
        if kind is bool and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
            return lowered in ("1", "true", "yes", "on")
        if kind is list and isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if kind in (int, float, str) and not isinstance(value, kind):
            if kind is int and isinstance(value, float):
                raise ValueError(value)
            return kind(value)
        return value
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}: {value!r} is not a valid {kind.__name__}") from None


def _assign(target: Any, key: str, value: Any, prefix: str) -> None:
    fields = _fields(target)
    if key not in fields:
        raise ConfigError(f"unknown setting {prefix}{key}")
    setattr(target, key, _coerce(value, fields[key].type, prefix + key))


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
            setattr(owner, name, _coerce(environ[env], f.type, env))
    if environ.get("MARMOTDB_ROOT_PASSWORD"):
        config.auth.root_password = environ["MARMOTDB_ROOT_PASSWORD"]


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (``--mysql-port``, ``--data-dir``); default None = not given."""
    for section, name, owner, f in iter_settings(Config()):
        flag = "--" + "-".join(p for p in (section, name) if p).replace("_", "-")
        parser.add_argument(flag, dest=f"cfg__{section}__{name}", default=None,
                            help=f.metadata.get("help"))


def apply_flags(config: Config, args: argparse.Namespace) -> None:
    for key, value in vars(args).items():
        if not key.startswith("cfg__") or value is None:
            continue
        _, section, name = key.split("__", 2)
        owner = getattr(config, section) if section else config
        _assign(owner, name, value, f"--{section}-" if section else "--")


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
    ("logging", "format"): ("human", "json"),
    ("logging", "level"): ("debug", "info", "warning", "error"),
}


def validate(config: Config) -> None:
    for (section, name), allowed in _CHOICES.items():
        value = getattr(getattr(config, section), name)
        if value not in allowed:
            raise ConfigError(f"{section}.{name} must be one of {', '.join(allowed)}; got {value!r}")
    if not 0 <= config.mysql.port <= 65535:
        raise ConfigError(f"mysql.port out of range: {config.mysql.port}")


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
