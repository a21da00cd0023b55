"""``marmotdb serve``: one node's process — listener, signals, clean shutdown.

Shutdown (SIGTERM/SIGINT): stop accepting, let statements in flight finish (bounded by
``shutdown_grace_s``), then close every client connection; closing a session rolls back its
open transaction. Data already committed is on disk (WAL), nothing else is lost.
"""

from __future__ import annotations

import asyncio
import gc
import errno
import logging
import os
import random
import secrets
import signal
from pathlib import Path
from typing import Any, Callable

import uvloop

from marmotdb import __version__
from marmotdb.peer.codec import SECRET_BYTES_MIN
from marmotdb.config import Config, ConfigError, describe
from marmotdb.mysql.auth import make_credential
from marmotdb.mysql.connection import ProtocolSettings
from marmotdb.mysql.login_throttle import LoginThrottle
from marmotdb.runtime import tls
from marmotdb.node import Node
from marmotdb.runtime.mysql_server import MysqlService
from marmotdb.runtime.node_host import NodeHost
from marmotdb.sql import server_settings
from marmotdb.users import Users

logger = logging.getLogger("marmotdb")
SHUTDOWN_GRACE_S = 10.0


ROOT_PASSWORD_FILE = "root-password.txt"
CLUSTER_STATE_FILE = "cluster.json"  # written by `marmotdb cluster up` (cluster_state)


def _announce_root_password(data_dir: Path) -> Callable[[str], None]:
    """A generated root password goes to a 0600 file, never to the terminal or the log."""
    def announce(password: str) -> None:
        path = data_dir / ROOT_PASSWORD_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        logger.warning("generated a root password: it is in %s (readable by you only; delete "
                       "the file once you have it, or set MARMOTDB_ROOT_PASSWORD before the "
                       "first start)", path.resolve())
    return announce


def check_startup(config: Config) -> None:
    """Mistakes found before anything binds or writes, each one line naming the fix."""
    marker = config.data_path / CLUSTER_STATE_FILE
    if marker.exists():
        raise ConfigError(
            f"{config.data_dir} is the folder of a local cluster (it holds {CLUSTER_STATE_FILE}),"
            f" not of one node: use `marmotdb cluster start NODE --data-dir {config.data_dir}`,"
            f" or serve one node's folder (--data-dir {config.data_path / 'node1'})")
    if config.cluster.peer_port and len(config.cluster.secret.encode()) < SECRET_BYTES_MIN:
        raise ConfigError(
            "a node with a peer port needs the cluster secret: set MARMOTDB_CLUSTER_SECRET (or "
            f"[cluster] secret, --cluster-secret) to the same {SECRET_BYTES_MIN}+ character "
            "value on every node, e.g. export MARMOTDB_CLUSTER_SECRET=$(head -c 18 "
            "/dev/urandom | base64)")
    if config.cluster.metrics_port and not config.cluster.peer_port:
        raise ConfigError("cluster.metrics_port (--metrics-port) needs cluster.peer_port "
                          "(--peer-port): metrics come from the cluster runtime")
    sql = config.sql
    if min(sql.read_threads, sql.write_threads) < 1 or \
            min(sql.long_reads_queued_max, sql.long_writes_queued_max) < 0:
        raise ConfigError("sql.read_threads and sql.write_threads must be at least 1, "
                          "sql.long_reads_queued_max and sql.long_writes_queued_max at least 0")


def _bind_error(what: str, host: str, port: int, setting: str, exc: OSError) -> ConfigError:
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"{what} port {host}:{port} is already in use (another marmotdb or "
                           f"MySQL?): choose another with {describe(*setting.split('.'))}")
    return ConfigError(f"cannot listen for {what} on {host}:{port}: {exc.strerror or exc} "
                       f"({describe(*setting.split('.'))})")


def build_node(config: Config, host: NodeHost) -> Node:
    """The node this process hosts, its databases opened from ``data_dir``."""
    data_dir = config.data_path
    data_dir.mkdir(parents=True, exist_ok=True)
    users = Users.load(data_dir, config.auth.users, config.auth.root_password, make_credential,
                       lambda: secrets.token_urlsafe(12), _announce_root_password(data_dir))
    return host.build_node(
        data_dir, users=users, node_id=config.node_id, rng=random.SystemRandom(),
        version=server_version(config),
        state_options=server_settings.state_options(config, server_version(config)))


def server_version(config: Config) -> str:
    return f"{config.mysql.server_version}-marmotdb-{__version__}"


def build_service(config: Config, host: NodeHost) -> MysqlService:
    data_dir = config.data_path
    context = tls.server_context(data_dir, config.mysql.tls_cert_file,
                                 config.mysql.tls_key_file) if config.mysql.tls else None
    return MysqlService(
        host, server_version=server_version(config), ssl_context=context,
        rsa_key=tls.rsa_key(data_dir),
        settings=ProtocolSettings(  # max_allowed_packet: @@global, read at connect time
            preauth_packet_bytes_max=config.mysql.preauth_packet_bytes_max,
            input_buffer_bytes_max=config.mysql.input_buffer_bytes_max,
            long_data_bytes_max=config.mysql.long_data_bytes_max,
            native_password_allowed=config.auth.native_password),
        login_throttle=LoginThrottle(
            asyncio.get_running_loop().time,
            failures_before_delay=config.auth.failed_logins_before_delay,
            delay_min_ms=config.auth.login_delay_min_ms,
            delay_max_ms=config.auth.login_delay_max_ms,
            entries_max=config.auth.login_throttle_entries_max))


async def serve(config: Config) -> None:
    check_startup(config)
    loop = asyncio.get_running_loop()
    host = NodeHost(loop, read_threads=config.sql.read_threads,
                    write_threads=config.sql.write_threads,
                    long_reads_queued_max=config.sql.long_reads_queued_max,
                    long_writes_queued_max=config.sql.long_writes_queued_max)
    node = build_node(config, host)
    service = build_service(config, host)
    try:
        server = await loop.create_server(service.protocol, config.mysql.host,
                                          config.mysql.port, backlog=1024, reuse_address=True)
    except OSError as exc:
        host.close()
        raise _bind_error("MySQL", config.mysql.host, config.mysql.port, "mysql.port",
                          exc) from None
    port = server.sockets[0].getsockname()[1]
    logger.info("marmotdb %s node %s listening for MySQL on %s:%s (data in %s)", __version__,
                config.node_id, config.mysql.host, port, Path(config.data_dir).resolve())
    try:
        cluster = await start_cluster(config, host, port)
    except BaseException:
        server.close()
        host.close()
        raise
    if cluster is None:
        node.state.cluster_nodes = single_node_rows(config, port)
    # Everything built so far (modules, sqlglot's tables, the node) lives as long as the
    # process: out of the cycle collector's sight, a full collection no longer walks ~80,000
    # objects with the GIL held (~60-100 ms of CPU each, measured during long writes, when
    # they come every few hundred ms and stall every client; issue 11).
    gc.freeze()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    logger.info("shutting down")
    if cluster is not None:
        await cluster.stop()
    service.closing = True
    server.close()
    deadline = loop.time() + SHUTDOWN_GRACE_S
    while service.busy and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for protocol in list(service.connections.values()):
        protocol.kill()
    await asyncio.sleep(0)
    for protocol in list(service.connections.values()):
        protocol.connection_lost(None)
    host.close()
    logger.info("stopped")


class ClusterRuntime:
    """Membership and the admin API of a node with cluster.peer_port set."""

    def __init__(self, membership: Any, admin: Any, metrics: Any = None):
        self.membership, self.admin, self.metrics = membership, admin, metrics

    async def stop(self) -> None:
        for server in (self.admin, self.metrics):
            if server is not None:
                await server.close()
        await self.membership.stop(leave=True)


def single_node_rows(config: Config, mysql_port: int) -> Callable[[], list[tuple[Any, ...]]]:
    """MARMOT_CLUSTER_NODES of a node without a cluster: itself, ALIVE (it is serving)."""
    row = (config.node_id, f"{config.mysql.host}:{mysql_port}", None, None, "ALIVE", 0)
    return lambda: [row]


async def start_cluster(config: Config, host: NodeHost, mysql_port: int
                        ) -> ClusterRuntime | None:
    """Join the cluster (gossip on cluster.peer_port) and serve the admin API; None if single."""
    if not config.cluster.peer_port:
        return None
    from marmotdb.cluster.messages import NodeAddr
    from marmotdb.runtime import admin, membership_service
    cluster = config.cluster
    membership = membership_service.from_config(config, NodeAddr(config.mysql.host, mysql_port),
                                                node_host=host)
    try:
        await membership.start()
    except OSError as exc:
        raise _bind_error("peer", cluster.peer_host, cluster.peer_port, "cluster.peer_port",
                          exc) from None
    host.node.state.cluster_nodes = membership.cluster_rows
    runtime = ClusterRuntime(membership, None)
    try:
        for setting, port, public in (("cluster.admin_port", cluster.admin_port, False),
                                      ("cluster.metrics_port", cluster.metrics_port, True)):
            if port:
                server = admin.AdminServer(membership, cluster.secret, cluster.admin_host, port,
                                           metrics_only=public, node=host.node)
                try:
                    await server.start()
                except OSError as exc:
                    raise _bind_error("metrics" if public else "admin", cluster.admin_host,
                                      port, setting, exc) from None
                setattr(runtime, "metrics" if public else "admin", server)
    except BaseException:
        await runtime.stop()
        raise
    return runtime


def run(config: Config) -> None:
    uvloop.run(serve(config))
