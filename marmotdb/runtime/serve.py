"""``marmotdb serve``: one node's process — listener, signals, clean shutdown.

Shutdown (SIGTERM/SIGINT): stop accepting, let statements in flight finish (bounded by
``shutdown_grace_s``), then close every client connection; closing a session rolls back its
open transaction. Data already committed is on disk (WAL), nothing else is lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from marmotdb import __version__
from marmotdb.config import Config
from marmotdb.mysql.auth import make_credential
from marmotdb.mysql.connection import ProtocolSettings
from marmotdb.runtime import tls
from marmotdb.runtime.mysql_server import MysqlService
from marmotdb.sql.server_state import ServerState
from marmotdb.users import Users

logger = logging.getLogger("marmotdb")
SHUTDOWN_GRACE_S = 10.0


def _announce_root_password(password: str) -> None:
    print(f"marmotdb: generated root password (shown once): {password}", file=sys.stderr,
          flush=True)


def build_state(config: Config) -> ServerState:
    data_dir = config.data_path
    data_dir.mkdir(parents=True, exist_ok=True)
    users = Users.load(data_dir, config.auth.users, config.auth.root_password, make_credential,
                       lambda: secrets.token_urlsafe(12), _announce_root_password)
    return ServerState(
        data_dir, clock=time.time, version=server_version(config), users=users,
        rng=random.SystemRandom(),
        durability=config.storage.durability, cache_size_mb=config.storage.cache_size_mb,
        busy_timeout_ms=config.storage.busy_timeout_ms,
        global_defaults={"sql_mode": config.sql.sql_mode, "time_zone": config.sql.time_zone,
                         "max_execution_time": config.sql.max_execution_time_ms,
                         "innodb_lock_wait_timeout": int(config.sql.lock_wait_timeout_s),
                         "max_allowed_packet": config.mysql.max_allowed_packet_bytes,
                         "version": server_version(config), "port": config.mysql.port,
                         "server_id": config.node_id,
                         "have_ssl": "YES" if config.mysql.tls else "DISABLED"})


def server_version(config: Config) -> str:
    return f"{config.mysql.server_version}-marmotdb-{__version__}"


def build_service(config: Config, state: ServerState) -> MysqlService:
    data_dir = config.data_path
    context = tls.server_context(data_dir, config.mysql.tls_cert_file,
                                 config.mysql.tls_key_file) if config.mysql.tls else None
    return MysqlService(
        state, server_version=server_version(config), ssl_context=context,
        rsa_key=tls.rsa_key(data_dir),
        settings=ProtocolSettings(max_allowed_packet_bytes=config.mysql.max_allowed_packet_bytes),
        max_connections=config.mysql.max_connections,
        lock_wait_timeout_s=config.sql.lock_wait_timeout_s,
        handshake_timeout_s=config.mysql.handshake_timeout_ms / 1000)


async def serve(config: Config) -> None:
    state = build_state(config)
    service = build_service(config, state)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(service.protocol, config.mysql.host, config.mysql.port,
                                      backlog=1024, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    logger.info("marmotdb %s node %s listening for MySQL on %s:%s (data in %s)", __version__,
                config.node_id, config.mysql.host, port, Path(config.data_dir).resolve())
    cluster = await start_cluster(config, state, port)
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
    service.read_pool.shutdown(wait=True, cancel_futures=True)
    state.close()
    logger.info("stopped")


class ClusterRuntime:
    """Membership and the admin API of a node with cluster.peer_port set."""

    def __init__(self, membership: Any, admin: Any):
        self.membership, self.admin = membership, admin

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.close()
        await self.membership.stop(leave=True)


async def start_cluster(config: Config, state: ServerState, mysql_port: int
                        ) -> ClusterRuntime | None:
    """Join the cluster (gossip on cluster.peer_port) and serve the admin API; None if single."""
    if not config.cluster.peer_port:
        return None
    from marmotdb.cluster.messages import NodeAddr
    from marmotdb.runtime import admin, membership_service
    membership = membership_service.from_config(config, NodeAddr(config.mysql.host, mysql_port))
    await membership.start()
    state.cluster_nodes = membership.cluster_rows
    server = None
    if config.cluster.admin_port:
        server = admin.AdminServer(membership, config.cluster.secret, config.cluster.admin_host,
                                   config.cluster.admin_port)
        await server.start()
    return ClusterRuntime(membership, server)


def run(config: Config) -> None:
    uvloop.run(serve(config))
