"""MembershipService: one ``SwimNode`` driven by the real clock over the real network.

Theory of operation
-------------------
The SWIM node (cluster/swim.py) is a sans-I/O state machine; this is its asyncio glue, in the
shape of aioquic's protocol.py:

- input: every frame the ``PeerTransport`` receives goes to the node's ``AsyncPeerEndpoint``,
  which hands frames with a membership tag (1-31) to ``node.receive_frame(src, frame, now_ms)``
  and keeps request/response traffic for the other subsystems (``service.peer``);
- timers: after every input, one loop timer is (re)armed at ``node.next_deadline_ms()``; when it
  fires, ``node.handle_timer(now_ms)`` runs and the timer is re-armed;
- output: the node calls ``transport.send`` itself (the transport queues, never blocks).

In ``marmotdb serve`` the SWIM node is hosted by the node (``node.py``, through
``runtime/node_host.py``): frames reach it as the node's inputs, its frames leave as the node's
``SendFrame`` outputs, and the node's one timer covers its deadlines. Alone (``node_host``
not given, as the membership tests run it) the service drives it as described above.

Time is the event loop's monotonic clock in whole milliseconds (``LoopClock``, shared with the
peer endpoint), clamped so it never runs backwards between calls. Wall-clock time is used
only to report when a member's state changed (``MemberView.state_since_ms``), for operators
and for the fault tests that measure detection.

Restart: our incarnation is persisted in ``<data_dir>/cluster/incarnation`` whenever it changes,
and a restarted node starts one above it, so its ALIVE beats whatever the others last believed
(SUSPECT or DEAD of the previous life) without waiting for a refutation round.

Stop: ``stop()`` announces a graceful leave and waits (bounded by ``leave_propagate_max_ms``)
until the LEAVING fact has been gossiped, so the others record LEAVING rather than DEAD.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import ssl
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from marmotdb import __version__
from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.membership import Member, MemberEvent
from marmotdb.cluster.messages import MEMBERSHIP_CODES, MemberState, NodeAddr, NodeMeta
from marmotdb.cluster.swim import SwimNode
from marmotdb.config import Config, ConfigError
from marmotdb.peer.address import parse_node_id
from marmotdb.peer.catalog import all_messages
from marmotdb.peer.codec import SECRET_BYTES_MIN, FrameCodec
from marmotdb.peer.registry import MessageRegistry
from marmotdb.runtime import tls
from marmotdb.runtime.faults import FaultInjector, FaultRuleError, parse_rules
from marmotdb.node import swim_joined, swim_roster
from marmotdb.peer.registry import PEER_MESSAGES
from marmotdb.runtime.node_host import NodeHost
from marmotdb.txn.cluster import CommitSettings
from marmotdb.runtime.peer_transport import (
    AsyncPeerEndpoint,
    DeadlineTimer,
    PeerSettings,
    PeerTransport,
)

logger = logging.getLogger("marmotdb.membership")

EVENT_HISTORY_MAX = 512  # member changes kept for GET /cluster/events
LEAVE_POLL_MS = 20
_PROFILES: dict[str, Callable[[], SwimConfig]] = {
    "lan": SwimConfig.lan, "local": SwimConfig.local, "wan": SwimConfig.wan}
_OVERRIDES = ("probe_interval_ms", "probe_timeout_ms", "suspicion_mult", "gossip_interval_ms",
              "push_pull_interval_ms", "reconnect_interval_ms")


@dataclasses.dataclass(frozen=True)
class MemberView:
    """One member as this node sees it, in plain types (admin API, SQL, CLI)."""

    node_id: int
    state: str
    incarnation: int
    peer_address: str
    mysql_address: str | None
    admin_address: str | None
    software_version: str
    is_self: bool
    state_since_ms: int  # wall-clock epoch ms of the last state change seen by this node

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class EventView:
    at_ms: int  # wall-clock epoch ms
    node_id: int
    previous: str | None
    current: str | None
    incarnation: int


def _state_name(state: MemberState | None) -> str | None:
    return state.name if state is not None else None


class MembershipService:
    def __init__(self, node: SwimNode, peer: AsyncPeerEndpoint, *,
                 state_dir: Path | None = None, wall_clock: Callable[[], float] = time.time,
                 host: NodeHost | None = None):
        self.node = node
        self.peer = peer
        self.transport = peer.transport
        self._state_dir = state_dir
        self._wall_clock = wall_clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock = peer.clock
        # hosted by the node (serve): its inputs and timer are the node's; alone: its own timer
        self._host = host
        self._timer = DeadlineTimer(self._clock, node.next_deadline_ms, node.handle_timer) \
            if host is None else None
        self._persisted_incarnation = -1
        self.events: deque[EventView] = deque(maxlen=EVENT_HISTORY_MAX)
        node.subscribe(self._on_event)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()
        self.peer.add_frame_receiver(MEMBERSHIP_CODES, self._on_frame)
        self.node.start(self.now_ms())
        self._arm()
        logger.info("node %s joined the peer network on %s as %s (incarnation %d)",
                    self.node.node_id, self.node.addr, self.node.state.name,
                    self.node.incarnation)

    async def stop(self, leave: bool = True) -> None:
        """Announce a graceful leave (bounded wait), then stop timers and the transport."""
        if leave and self._loop is not None:
            self.node.leave(self.now_ms())
            self._arm()
            deadline_ms = self.now_ms() + self.node.config.leave_propagate_max_ms
            while not self.node.leave_complete(self.now_ms()) and self.now_ms() < deadline_ms:
                await asyncio.sleep(LEAVE_POLL_MS / 1000)
        if self._timer is not None:
            self._timer.cancel()
        if self._host is not None:
            self._host.node.attach_membership(None)
        await self.peer.close()
        await self.transport.close()

    # ------------------------------------------------------------------ the state machine

    def now_ms(self) -> int:
        assert self._loop is not None, "MembershipService used before start()"
        return self._clock.now_ms()

    def _on_frame(self, src: NodeAddr, frame: bytes, now_ms: int) -> None:
        if self._host is not None:
            self._host.receive_frame(src, frame, now_ms)
        else:
            self.node.receive_frame(src, frame, now_ms)
            self._arm()

    def _arm(self) -> None:
        """After an input into the SWIM node: its next deadline may have moved."""
        if self._timer is not None:
            self._timer.arm()
        else:
            assert self._host is not None
            self._host.arm()

    def _on_event(self, event: MemberEvent) -> None:
        self.events.append(EventView(self._wall_ms_of(event.at_ms), event.node_id,
                                     _state_name(event.previous), _state_name(event.current),
                                     event.incarnation))
        if event.node_id == self.node.node_id and event.current is not None:
            self._persist_incarnation(event.incarnation)
        if event.previous is not event.current:
            logger.info("member %s: %s -> %s (incarnation %d)", event.node_id,
                        _state_name(event.previous), _state_name(event.current),
                        event.incarnation)

    # ------------------------------------------------------------------ admin surface

    def members(self) -> list[MemberView]:
        return [self._view(m) for m in self.node.members_snapshot()]

    def cluster_rows(self) -> list[tuple[Any, ...]]:
        """Rows of MARMOT_CLUSTER_NODES: node_id (an integer), mysql, peer, admin address,
        state, incarnation."""
        return [(v.node_id, v.mysql_address, v.peer_address, v.admin_address, v.state,
                 v.incarnation) for v in self.members()]

    def remove_member(self, node_id: int) -> None:
        self.node.remove_member(node_id, self.now_ms())
        self._arm()

    def allow_member(self, node_id: int) -> None:
        self.node.allow_member(node_id, self.now_ms())
        self._arm()

    def resolve_peer(self, name: str) -> str:
        """A node id or a host:port to the peer address fault rules match on."""
        try:
            member = self.node.members.get(parse_node_id(name))
        except ValueError:
            member = None
        return str(member.meta.peer_addr) if member is not None else name

    def _view(self, member: Member) -> MemberView:
        meta = member.meta
        return MemberView(
            member.node_id, member.state.name, member.incarnation, str(meta.peer_addr),
            str(meta.mysql_addr) if meta.mysql_addr else None,
            str(meta.admin_addr) if meta.admin_addr else None, meta.software_version,
            member.node_id == self.node.node_id, self._wall_ms_of(member.state_change_ms))

    def _wall_ms_of(self, loop_ms: int) -> int:
        wall_now_ms = int(self._wall_clock() * 1000)
        if self._loop is None:
            return wall_now_ms
        return wall_now_ms - (self._clock.now_ms() - loop_ms)

    # ------------------------------------------------------------------ incarnation on disk

    def _persist_incarnation(self, incarnation: int) -> None:
        if self._state_dir is None or incarnation == self._persisted_incarnation:
            return
        self._persisted_incarnation = incarnation
        write_incarnation(self._state_dir, incarnation)


def read_incarnation(state_dir: Path) -> int | None:
    try:
        return int((state_dir / "incarnation").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def write_incarnation(state_dir: Path, incarnation: int) -> None:
    """Atomic replace, so a crash leaves the old or the new number, never a torn file."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / "incarnation.tmp"
    tmp.write_text(f"{incarnation}\n")
    os.replace(tmp, state_dir / "incarnation")


# ---------------------------------------------------------------------- building from config


def swim_config(config: Config) -> SwimConfig:
    cluster = config.cluster
    profile = _PROFILES.get(cluster.swim_profile)
    if profile is None:
        raise ConfigError(f"cluster.swim_profile must be one of {', '.join(_PROFILES)}; "
                          f"got {cluster.swim_profile!r}")
    base = profile()
    overrides: dict[str, int] = {n: getattr(cluster, n) for n in _OVERRIDES if getattr(cluster, n)}
    interval_ms = overrides.get("probe_interval_ms", base.probe_interval_ms)
    if "probe_timeout_ms" not in overrides and base.probe_timeout_ms >= interval_ms:
        overrides["probe_timeout_ms"] = max(1, interval_ms // 2)
    try:
        return dataclasses.replace(base, **overrides)
    except ValueError as exc:
        raise ConfigError(f"cluster: {exc}") from None


def cluster_secrets(config: Config) -> list[bytes]:
    secret = config.cluster.secret.encode()
    if len(secret) < SECRET_BYTES_MIN:
        raise ConfigError(f"cluster.secret (or MARMOTDB_CLUSTER_SECRET) must be at least "
                          f"{SECRET_BYTES_MIN} bytes when cluster.peer_port is set")
    return [secret]


def peer_ssl_contexts(config: Config) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    cluster = config.cluster
    if not cluster.peer_tls:
        return None, None
    server = tls.server_context(config.data_path, cluster.peer_tls_cert_file,
                                cluster.peer_tls_key_file)
    if cluster.peer_tls_ca_file:  # mutual TLS: both ends show a certificate of the CA
        client = ssl.create_default_context(cafile=cluster.peer_tls_ca_file)
        tls_dir = config.data_path / "tls"
        client.load_cert_chain(cluster.peer_tls_cert_file or str(tls_dir / "server.pem"),
                               cluster.peer_tls_key_file or str(tls_dir / "server.key"))
        server.load_verify_locations(cafile=cluster.peer_tls_ca_file)
        server.verify_mode = ssl.CERT_REQUIRED
    else:  # encrypted, and the cluster secret authenticates the peer (see the handshake)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
    client.minimum_version = ssl.TLSVersion.TLSv1_2
    return server, client


def fault_injector(config: Config, node_id: int) -> FaultInjector:
    try:
        rules = parse_rules(config.cluster.fault_rules)
    except FaultRuleError as exc:
        raise ConfigError(f"cluster.fault_rules: {exc}") from None
    seed = config.cluster.fault_seed or zlib.crc32(str(node_id).encode())
    if rules:
        logger.warning("fault injection active on this node: %d rule(s)", len(rules))
    return FaultInjector(rules, random.Random(seed))


def from_config(config: Config, mysql_addr: NodeAddr | None,
                seed_addrs: Sequence[NodeAddr] | None = None,
                registry: MessageRegistry | None = None,
                node_host: NodeHost | None = None) -> MembershipService:
    """Build the SWIM node, its transport, its peer endpoint and its service (``start()``
    later). With ``node_host`` the SWIM node is hosted by the host's ``Node`` (its frames leave as
    the node's outputs, its timer is the node's); without, the service drives it alone.

    The peer endpoint (``service.peer``) is where other subsystems register their request
    handlers and send their requests; it shares the service's clock and transport."""
    cluster = config.cluster
    node_id = config.node_id
    swim = swim_config(config)
    secrets = cluster_secrets(config)
    host = cluster.advertise_host or cluster.peer_host
    peer_addr = NodeAddr(host, cluster.peer_port)
    admin_addr = NodeAddr(host, cluster.admin_port) if cluster.admin_port else None
    if mysql_addr is not None and mysql_addr.host in ("0.0.0.0", "::", ""):
        mysql_addr = NodeAddr(host, mysql_addr.port)
    settings = PeerSettings(
        frame_bytes_max=swim.frame_bytes_max, queue_frames_max=cluster.peer_queue_frames_max,
        connect_timeout_ms=cluster.peer_connect_timeout_ms,
        backoff_min_ms=cluster.peer_backoff_min_ms, backoff_max_ms=cluster.peer_backoff_max_ms,
        request_timeout_ms=cluster.peer_request_timeout_ms, links_max=swim.members_max)
    server_ssl, client_ssl = peer_ssl_contexts(config)
    transport = PeerTransport(NodeAddr(cluster.peer_host, cluster.peer_port), secrets,
                              advertise_addr=peer_addr, settings=settings,
                              faults=fault_injector(config, node_id), server_ssl=server_ssl,
                              client_ssl=client_ssl)
    seeds = seed_addrs if seed_addrs is not None else _parse_seeds(cluster.seed_nodes)
    state_dir = config.data_path / "cluster"
    previous = read_incarnation(state_dir)
    meta = NodeMeta(peer_addr, mysql_addr, admin_addr, __version__)
    codec = FrameCodec(secrets, swim.frame_bytes_max, registry=registry or all_messages())
    frames: Any = transport if node_host is None else node_host.node.peer_transport
    node = SwimNode(node_id, meta, swim, frames, codec, random.Random(), seed_addrs=seeds,
                    incarnation=0 if previous is None else previous + 1)
    peer = AsyncPeerEndpoint(transport, codec, random.Random(),
                             clock=None if node_host is None else node_host.clock)
    if node_host is not None:
        _host_cluster(node_host, node, codec, peer, cluster)
    return MembershipService(node, peer, state_dir=state_dir, host=node_host)


def _host_cluster(node_host: NodeHost, swim: SwimNode, codec: FrameCodec,
                  peer: AsyncPeerEndpoint, cluster: Any) -> None:
    """The node hosts SWIM and the distributed commit: its frames leave through the peer
    transport, and the frames of both (and the peer layer's failures, answers to the node's
    requests) come back to it as inputs."""
    node = node_host.node
    node_host.frames_out = peer.transport.send
    node.attach_membership(swim)
    node.attach_cluster(codec, lambda: swim_roster(swim), CommitSettings(
        prepare_timeout_ms=cluster.txn_prepare_timeout_ms,
        decision_timeout_ms=cluster.txn_decision_timeout_ms,
        recovery_timeout_ms=cluster.txn_recovery_timeout_ms,
        schema_wait_ms=cluster.txn_schema_wait_ms), cluster.catch_up_interval_ms,
        cluster.log_trim_interval_ms, cluster.log_retention_max_hours,
        joined=lambda: swim_joined(swim))
    peer.add_frame_receiver(PEER_MESSAGES.tags_of("txn") | PEER_MESSAGES.tags_of("replication")
                            | PEER_MESSAGES.tags_of("cdc") | PEER_MESSAGES.tags_of("peer"),
                            node_host.receive_frame)


def _parse_seeds(texts: Sequence[str]) -> list[NodeAddr]:
    try:
        return [NodeAddr.parse(t) for t in texts]
    except ValueError as exc:
        raise ConfigError(f"cluster.seed_nodes: {exc}") from None
