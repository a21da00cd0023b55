"""Admin HTTP API of one node: members, health, Prometheus metrics, fault rules.

Theory of operation
-------------------
A deliberately small HTTP/1.1 server on asyncio streams (no web framework in the dependencies):
one request at a time per connection, keep-alive, ``Content-Length`` bodies only, every size and
wait bounded (``REQUEST_HEAD_BYTES_MAX``, ``REQUEST_BODY_BYTES_MAX``, ``REQUEST_TIMEOUT_S``,
``CONNECTIONS_MAX``). Every endpoint requires the cluster secret, either as
``Authorization: Bearer <secret>`` or as ``X-Marmot-Secret: <secret>``; a missing or wrong one
gets 401, is counted and logged (at most once per client host per ``REFUSED_LOG_INTERVAL_S``).
The same class, with ``metrics_only``, serves ``cluster.metrics_port``: GET /metrics without
the secret and nothing else (Prometheus scrapes it with a plain ``static_configs`` job).

    GET    /health                      200 {"status": "ok", node_id, state, incarnation, members}
                                        (503 while LEAVING or REMOVED)
    GET    /cluster/members             200 [{node_id, state, incarnation, addresses, ...}]
                                        (node ids are JSON integers, as in the config)
    GET    /cluster/events              200 the last member changes seen by this node
    GET    /cluster/ddl-locks           200 {"locks": [{db, node_id, connection_id, expires_ms,
                                        expires_in_ms, statement}], "held_here": [...],
                                        "lease_ms", "counts"}: the cluster DDL locks as this
                                        node's copy shows them (marmotdb/ddl/DESIGN.md)
    GET    /cluster/lag                 200 {node_id, txn: {in_doubt, waiting_for_bases,
                                        examples, ...}, catch_up: {catching_up, snapshot,
                                        ...}}: why this node is behind (in-doubt instances and
                                        pulled entries, each with what it waits for)
    POST   /cluster/members/<id>/remove admin removal (refused until allowed)
    POST   /cluster/members/<id>/allow  lift a removal
    GET    /metrics                     Prometheus text format
    GET    /faults                      200 {"rules": [...], "stats": {...}}
    POST   /faults                      replace the rules: {"rules": [rule, ...]} (JSON objects
                                        or compact strings, see runtime/faults.py); ``peer``
                                        may name a node id
    DELETE /faults                      heal: no rules
    GET    /cdc                         200 [{name, kind, state, error, published, lag_entries,
                                        backlog_bytes, owned_origins, cursors}] per CDC sink

Routing is a dict from (method, path) to a handler; member actions match a path pattern.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from marmotdb.cluster.messages import MemberState
from marmotdb.peer.address import parse_node_id
from marmotdb.runtime.faults import FaultRuleError, parse_rules
from marmotdb.runtime.membership_service import MembershipService

logger = logging.getLogger("marmotdb.admin")

REQUEST_HEAD_BYTES_MAX = 16 * 1024
REQUEST_BODY_BYTES_MAX = 256 * 1024
REQUEST_TIMEOUT_S = 10.0
CONNECTIONS_MAX = 64
REFUSED_LOG_INTERVAL_S = 10.0
_MEMBER_ACTION = re.compile(r"^/cluster/members/([^/]+)/(remove|allow)$")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 503: "Service Unavailable"}


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class MembershipCollector:
    """Prometheus collector reading the live counters at scrape time (nothing to keep in sync)."""

    def __init__(self, service: MembershipService, admin: AdminServer):
        self._service, self._admin = service, admin

    def _replication_metrics(self) -> list[Metric]:
        node = self._admin.node
        return _replication_gauges(node) if node is not None else []

    def collect(self) -> list[Metric]:
        node = self._service.node
        members = GaugeMetricFamily("marmotdb_cluster_members",
                                    "Members by state, as this node sees them", labels=["state"])
        counts = {s: 0 for s in MemberState}
        for member in node.members:
            counts[member.state] += 1
        for state, count in counts.items():
            members.add_metric([state.name.lower()], count)
        metrics: list[Metric] = [
            members,
            _gauge("marmotdb_cluster_incarnation", "This node's incarnation", node.incarnation),
            _gauge("marmotdb_cluster_awareness_score", "Lifeguard health score (0 = healthy)",
                   node.awareness_score),
            _gauge("marmotdb_fault_rules", "Fault-injection rules active on this node",
                   len(self._service.transport.faults.rules)),
        ]
        metrics += _counters("marmotdb_swim", node.stats)
        rejected = CounterMetricFamily("marmotdb_swim_frames_rejected",
                                       "Peer frames refused (wrong secret, garbage)",
                                       labels=["reason"])
        for reason, count in sorted(node.stats.frames_rejected.items()):
            rejected.add_metric([reason], count)
        metrics.append(rejected)
        metrics += _counters("marmotdb_peer", self._service.transport.stats)
        metrics += self._replication_metrics()
        if self._admin.cdc is not None:
            metrics += self._admin.cdc.metrics()
        node = self._admin.node
        rpc = (node.endpoint if node is not None and node.endpoint is not None
               else self._service.peer.endpoint).stats
        metrics += _counters("marmotdb_peer_rpc", rpc)
        refused = CounterMetricFamily("marmotdb_peer_rpc_frames_rejected",
                                      "Peer frames no subsystem accepted (garbage, unknown "
                                      "type, bad version)", labels=["reason"])
        for reason, count in sorted(rpc.frames_rejected.items()):
            refused.add_metric([reason], count)
        metrics.append(refused)
        metrics += _counters("marmotdb_faults", self._service.transport.faults.stats)
        metrics.append(CounterMetricFamily("marmotdb_admin_requests_refused",
                                           "Admin requests without the cluster secret",
                                           value=self._admin.refused))
        return metrics


def _replication_gauges(node: Any) -> list[Metric]:
    cluster, catch_up = node.cluster, node.catch_up
    if cluster is None or catch_up is None:
        return []
    behind = GaugeMetricFamily("marmotdb_replication_behind_txns", "Transactions a member "
                               "lacks that another has applied, as this node last heard",
                               labels=["node_id"])
    for member in cluster.members():
        lacking = node.state.replication_view(member.node_id)[1]
        if lacking is not None:
            behind.add_metric([str(member.node_id)], lacking)
    return [
        behind,
        _gauge("marmotdb_txn_in_doubt", "Batches undecided here (recovered after "
               "txn_recovery_timeout_ms)", len(cluster.participant.undecided)),
        _gauge("marmotdb_replication_catching_up", "1 while a restarted node catches up",
               int(catch_up.catching_up)),
        CounterMetricFamily("marmotdb_txn_rounds", "Batches committed through the cluster",
                            value=cluster.rounds),
        CounterMetricFamily("marmotdb_txn_recoveries", "Recovery rounds run by this node",
                            value=cluster.recoveries),
        _gauge("marmotdb_snapshot_receiving", "Snapshot transfers this node is receiving",
               len(node.snapshots.incoming) if node.snapshots is not None else 0),
        _gauge("marmotdb_snapshot_bytes_done", "Bytes received of the snapshots under way "
               "(of marmotdb_snapshot_bytes_total)",
               sum(t.bytes_done for t in node.snapshots.incoming.values())
               if node.snapshots is not None else 0),
        _gauge("marmotdb_snapshot_bytes_total", "Size of the snapshots being received",
               sum(t.bytes_total for t in node.snapshots.incoming.values())
               if node.snapshots is not None else 0),
        CounterMetricFamily("marmotdb_snapshots_restored", "Databases restored from a peer's "
                            "snapshot", value=node.snapshots.restored
                            if node.snapshots is not None else 0),
        CounterMetricFamily("marmotdb_replication_log_trimmed", "Commit-log entries trimmed",
                            value=node.retention.trimmed if node.retention is not None else 0),
        CounterMetricFamily("marmotdb_replication_tombstones_collected", "Tombstones "
                            "collected", value=node.retention.collected
                            if node.retention is not None else 0),
        CounterMetricFamily("marmotdb_replication_entries_pulled",
                            "Transactions applied by catch-up", value=catch_up.entries_applied),
        CounterMetricFamily("marmotdb_txn_conflict_retries", "Autocommit statements run "
                            "again after losing a conflict",
                            value=node.state.status["Marmot_conflict_retries"]),
    ]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counters(prefix: str, stats: Any) -> list[Metric]:
    """One counter per int field of a stats dataclass (``<prefix>_<field>_total``)."""
    out: list[Metric] = []
    for field in dataclasses.fields(stats):
        value = getattr(stats, field.name)
        if isinstance(value, int):
            out.append(CounterMetricFamily(f"{prefix}_{field.name}",
                                           f"{field.name.replace('_', ' ')}", value=value))
    return out


Handler = Callable[[Request], Awaitable[Response] | Response]


class AdminServer:
    def __init__(self, service: MembershipService, secret: str, host: str, port: int,
                 metrics_only: bool = False, node: Any = None):
        if not secret and not metrics_only:
            raise ValueError("the admin API needs the cluster secret")
        # metrics_only: the Prometheus listener (cluster.metrics_port): GET /metrics and
        # nothing else, without the secret, as exporters conventionally serve it.
        self.metrics_only = metrics_only
        self._service = service
        self.node = node  # the hosted node.Node: replication state (None: membership only)
        self.cdc: Any = None  # runtime.cdc_service.CdcService when CDC sinks are configured
        self._secret = secret.encode()
        self.host, self.port = host, port
        self.refused = 0
        self._refused_logged: dict[str, float] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MembershipCollector(service, self))  # type: ignore[arg-type]
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/metrics"): self._metrics} if metrics_only else {
            ("GET", "/health"): self._health,
            ("GET", "/cluster/members"): self._members,
            ("GET", "/cluster/events"): self._events,
            ("GET", "/cluster/ddl-locks"): self._ddl_locks,
            ("GET", "/cluster/lag"): self._lag,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/faults"): self._get_faults,
            ("POST", "/faults"): self._set_faults,
            ("DELETE", "/faults"): self._clear_faults,
            ("GET", "/cdc"): self._cdc,
        }

    def _cdc(self, request: Request) -> Response:
        return json_response(self.cdc.status() if self.cdc is not None else [])

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  limit=REQUEST_HEAD_BYTES_MAX,
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("%s listening on http://%s:%s%s",
                    "Prometheus metrics (no auth)" if self.metrics_only else "admin API",
                    self.host, self.port, "/metrics" if self.metrics_only else "")
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    # ------------------------------------------------------------------ HTTP plumbing

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= CONNECTIONS_MAX:
            writer.close()
            return
        self._connections.add(writer)
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        try:
            while True:
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        request = await _read_request(reader)
                except HttpError as exc:
                    await _write(writer, error_response(exc.status, exc.message), close=True)
                    return
                if request is None:
                    return
                response = await self._dispatch(request, client)
                close = request.headers.get("connection", "").lower() == "close"
                await _write(writer, response, close)
                if close:
                    return
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _dispatch(self, request: Request, client: str) -> Response:
        if self.metrics_only:
            if request.path != "/metrics":
                return error_response(404, "this listener serves GET /metrics only")
            if request.method != "GET":
                return error_response(405, "use GET")
            return self._metrics(request)
        if not self._authorized(request.headers):
            self._refuse(client, request)
            return error_response(401, "the cluster secret is required (Authorization: Bearer)")
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            return await self._member_action(request)
        try:
            result = handler(request)
            return await result if isinstance(result, Awaitable) else result
        except HttpError as exc:
            return error_response(exc.status, exc.message)

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else headers.get(
            "x-marmot-secret", "")
        return hmac.compare_digest(token.encode(), self._secret)

    def _refuse(self, client: str, request: Request) -> None:
        self.refused += 1
        now = time.monotonic()
        last = self._refused_logged.get(client)
        if last is None or now - last >= REFUSED_LOG_INTERVAL_S:
            if len(self._refused_logged) >= CONNECTIONS_MAX:
                self._refused_logged.clear()
            self._refused_logged[client] = now
            logger.warning("admin API: refused %s %s from %s (missing or wrong cluster secret)",
                           request.method, request.path, client)

    # ------------------------------------------------------------------ endpoints

    def _health(self, request: Request) -> Response:
        node = self._service.node
        counts: dict[str, int] = {}
        for member in node.members:
            counts[member.state.name] = counts.get(member.state.name, 0) + 1
        # 503 once the node is on its way out, so a load balancer stops sending it clients.
        leaving = node.state in (MemberState.LEAVING, MemberState.REMOVED)
        return json_response({"status": node.state.name.lower() if leaving else "ok",
                              "node_id": node.node_id, "state": node.state.name,
                              "incarnation": node.incarnation, "members": counts},
                             503 if leaving else 200)

    def _members(self, request: Request) -> Response:
        return json_response([dict(m.to_dict(), **self.replication(m.node_id))
                              for m in self._service.members()])

    def replication(self, node_id: int) -> dict[str, Any]:
        """What this node knows of a member's replication: its applied vectors by database,
        the transactions it lacks, its in-doubt transactions, whether it is catching up."""
        if self.node is None:
            return {}
        applied, behind, in_doubt, catching_up, snapshot, schemas, drift = \
            self.node.state.replication_view(node_id)
        return {"applied": json.loads(applied) if applied else None, "behind_txns": behind,
                "in_doubt": in_doubt, "catching_up": catching_up, "snapshot": snapshot,
                "schema_versions": json.loads(schemas) if schemas else None,
                "schema_drift": drift.split(",") if drift else ([] if schemas else None)}

    def _lag(self, request: Request) -> Response:
        """Why this node is behind or holds instances in doubt: what the in-doubt instances
        and the missing log entries wait for (txn/cluster.py, replication/catch_up.py)."""
        node = self.node
        if node is None or node.cluster is None or node.catch_up is None:
            return error_response(404, "no cluster node on this listener")
        return json_response({"node_id": node.state.node_id,
                              "txn": node.cluster.doubt_report(),
                              "catch_up": node.catch_up.lag_report()})

    def _ddl_locks(self, request: Request) -> Response:
        if self.node is None:
            return error_response(404, "no database node on this listener")
        locks = self.node.state.ddl_locks
        now_ms = int(self.node.state.clock() * 1000)
        return json_response({
            "locks": [{"db": h.database, "node_id": h.node, "connection_id": h.owner,
                       "expires_ms": h.expires_ms, "expires_in_ms": h.expires_ms - now_ms,
                       "statement": h.statement} for h in locks.holders().values()],
            "held_here": sorted(locks.leases), "lease_ms": locks.lease_ms,
            "counts": dict(locks.counts)})

    def _events(self, request: Request) -> Response:
        return json_response([dataclasses.asdict(e) for e in self._service.events])

    def _metrics(self, request: Request) -> Response:
        return Response(200, generate_latest(self.registry),
                        "text/plain; version=0.0.4; charset=utf-8")

    def _get_faults(self, request: Request) -> Response:
        faults = self._service.transport.faults
        return json_response({"rules": [r.to_dict() for r in faults.rules],
                              "stats": dataclasses.asdict(faults.stats)})

    def _set_faults(self, request: Request) -> Response:
        try:
            document = orjson.loads(request.body or b"{}")
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"body is not JSON: {exc}") from None
        specs = document.get("rules") if isinstance(document, dict) else document
        if not isinstance(specs, list):
            raise HttpError(400, 'expected {"rules": [...]}')
        specs = [self._resolve_rule_peer(s) for s in specs]
        try:
            rules = parse_rules(specs)
        except FaultRuleError as exc:
            raise HttpError(400, str(exc)) from None
        self._service.transport.faults.set_rules(rules)
        logger.warning("fault rules replaced: %s", [r.to_dict() for r in rules] or "none (healed)")
        return self._get_faults(request)

    def _clear_faults(self, request: Request) -> Response:
        self._service.transport.faults.set_rules([])
        logger.warning("fault rules cleared")
        return self._get_faults(request)

    def _resolve_rule_peer(self, spec: Any) -> Any:
        if isinstance(spec, dict) and "peer" in spec:
            return {**spec, "peer": self._service.resolve_peer(str(spec["peer"]))}
        if isinstance(spec, str):
            items = [p.partition("=") for p in spec.split(";")]
            return ";".join(f"{k}={self._service.resolve_peer(v.strip())}" if
                            k.strip() == "peer" else f"{k}{s}{v}" for k, s, v in items)
        return spec

    async def _member_action(self, request: Request) -> Response:
        match = _MEMBER_ACTION.match(request.path)
        if match is None:
            return error_response(404, f"no such endpoint: {request.path}")
        if request.method != "POST":
            return error_response(405, "use POST")
        text, action = match.groups()
        try:
            node_id = parse_node_id(text)
            if action == "remove":
                self._service.remove_member(node_id)
            else:
                self._service.allow_member(node_id)
        except ValueError as exc:
            return error_response(400, str(exc))
        return self._members(request)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request, or None when the client closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise HttpError(413, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise HttpError(400, "malformed header line")
            headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length", "0")
    if not length.isdigit() or int(length) > REQUEST_BODY_BYTES_MAX:
        raise HttpError(413, "body too large or bad Content-Length")
    body = await reader.readexactly(int(length)) if int(length) else b""
    return Request(parts[0].upper(), parts[1].split("?", 1)[0], headers, body)


async def _write(writer: asyncio.StreamWriter, response: Response, close: bool) -> None:
    reason = _REASONS.get(response.status, "OK")
    head = (f"HTTP/1.1 {response.status} {reason}\r\nContent-Type: {response.content_type}\r\n"
            f"Content-Length: {len(response.body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
    writer.write(head.encode("latin-1") + response.body)
    await writer.drain()
