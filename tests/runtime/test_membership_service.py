"""MembershipService and the admin API in one process over real loopback sockets: several
nodes built from Config exactly as ``marmotdb serve`` builds them, with fast timings."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvloop
from prometheus_client.parser import text_string_to_metric_families

import msgspec

from marmotdb.cluster.messages import NodeAddr, Ping
from marmotdb.config import Config, ConfigError
from marmotdb.peer.codec import FrameCodec
from marmotdb.runtime import membership_service, tls
from marmotdb.runtime.admin import AdminServer
from marmotdb.runtime.cluster_state import free_port, free_ports
from marmotdb.runtime.membership_service import MembershipService
from tests.peer.example import REGISTRY, Echo, EchoReply

pytestmark = pytest.mark.integration

SECRET = "membership-test-secret-0123456789"
LOCAL = "127.0.0.1"
FAST = {"swim_profile": "local", "probe_interval_ms": 200, "probe_timeout_ms": 80,
        "suspicion_mult": 3, "gossip_interval_ms": 50, "push_pull_interval_ms": 2000,
        "reconnect_interval_ms": 500}


def run(test: Callable[[], Awaitable[None]]) -> None:
    uvloop.run(asyncio.wait_for(test(), 60))


def node_config(data_dir: Path, node_id: int, port: int, seeds: list[int],
                secret: str = SECRET, **cluster: Any) -> Config:
    config = Config(node_id=node_id, data_dir=str(data_dir / f"node{node_id}"))
    config.cluster.secret = secret
    config.cluster.peer_port = port
    config.cluster.seed_nodes = [f"{LOCAL}:{p}" for p in seeds]
    for name, value in {**FAST, **cluster}.items():
        setattr(config.cluster, name, value)
    return config


async def start_nodes(tmp_path: Path, count: int, **cluster: Any) -> list[MembershipService]:
    ports = free_ports(LOCAL, count)
    services = []
    for i, port in enumerate(ports):
        config = node_config(tmp_path, i + 1, port, [p for p in ports if p != port], **cluster)
        service = membership_service.from_config(config, NodeAddr(LOCAL, 3306 + i),
                                                 registry=REGISTRY)
        await service.start()
        services.append(service)
    return services


def view(service: MembershipService) -> dict[int, str]:
    return {m.node_id: m.state for m in service.members()}


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``condition`` every 20 ms; return the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.02)
    return loop.time() - started


def all_alive(services: list[MembershipService]) -> bool:
    ids = {s.node.node_id for s in services}
    return all({k for k, v in view(s).items() if v == "ALIVE"} == ids for s in services)


async def stop_all(services: list[MembershipService]) -> None:
    for service in services:
        if service.transport._server is not None and service.transport._server.is_serving():
            await service.stop(leave=False)


def test_three_nodes_converge_and_report_rows_for_sql(tmp_path: Path) -> None:
    async def scenario() -> None:
        services = await start_nodes(tmp_path, 3)
        await until(lambda: all_alive(services), 5, "3 nodes ALIVE everywhere")
        rows = sorted(services[0].cluster_rows())
        assert [r[0] for r in rows] == [1, 2, 3]
        for (node_id, mysql, peer, admin, state, incarnation), service in zip(rows, services,
                                                                               strict=True):
            assert mysql == f"{LOCAL}:{3306 + node_id - 1}"
            assert peer == str(service.node.addr) and admin is None
            assert state == "ALIVE" and incarnation == service.node.incarnation
        assert [m.is_self for m in services[1].members()] == [False, True, False]
        await stop_all(services)

    run(scenario)


def test_other_subsystems_make_requests_through_the_service_peer_endpoint(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        services = await start_nodes(tmp_path, 2)

        async def echo(src: NodeAddr, message: msgspec.Struct) -> msgspec.Struct:
            assert isinstance(message, Echo)
            return EchoReply(message.n + services[1].node.node_id)

        services[1].peer.on_request([Echo], echo)
        await until(lambda: all_alive(services), 5, "2 nodes ALIVE")
        target = services[0].node.members.get(2)
        assert target is not None
        answers = await asyncio.gather(*(services[0].peer.request(target.meta.peer_addr, Echo(n))
                                         for n in range(50)))
        assert answers == [EchoReply(n + 2) for n in range(50)]
        assert all_alive(services)  # membership shares the endpoint and is undisturbed
        await stop_all(services)

    run(scenario)


def test_crashed_node_dead_everywhere_within_the_bound_and_graceful_leave_is_leaving(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        services = await start_nodes(tmp_path, 4)
        await until(lambda: all_alive(services), 5, "4 nodes ALIVE")
        crashed, leaver, *survivors = services[1], services[2], services[0], services[3]
        await crashed.stop(leave=False)  # sockets closed, nothing announced: a crash
        bound_s = crashed.node.config.detection_bound_ms(4) / 1000
        took_s = await until(lambda: all(view(s)[2] == "DEAD" for s in (leaver, *survivors)),
                             bound_s, "node 2 DEAD everywhere")
        assert took_s > crashed.node.config.suspicion_min_ms(3) / 1000  # not faster than allowed
        await leaver.stop(leave=True)
        await until(lambda: all(view(s)[3] == "LEAVING" for s in survivors), 3,
                    "node 3 LEAVING at the survivors")
        assert all(view(s)[1] == view(s)[4] == "ALIVE" for s in survivors)
        events = [(e.node_id, e.current) for e in survivors[0].events]
        assert (2, "SUSPECT") in events and (2, "DEAD") in events
        await stop_all(survivors)

    run(scenario)


def test_restarted_node_rejoins_above_its_persisted_incarnation(tmp_path: Path) -> None:
    async def scenario() -> None:
        services = await start_nodes(tmp_path, 3)
        await until(lambda: all_alive(services), 5, "3 nodes ALIVE")
        old = services[2]
        await old.stop(leave=True)
        await until(lambda: view(services[0])[3] == "LEAVING", 3, "node 3 left")
        config = node_config(tmp_path, 3, old.node.addr.port,
                             [s.node.addr.port for s in services[:2]])
        assert membership_service.read_incarnation(tmp_path / "node3" / "cluster") == (
            old.node.incarnation)
        new = membership_service.from_config(config, None)
        await new.start()
        assert new.node.incarnation > old.node.incarnation
        services[2] = new
        await until(lambda: all_alive(services), 5, "node 3 ALIVE again everywhere")
        assert services[0].node.members.get(3).incarnation == new.node.incarnation
        await stop_all(services)

    run(scenario)


def test_wrong_secret_never_joins_and_is_logged_without_harm(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        services = await start_nodes(tmp_path, 2)
        await until(lambda: all_alive(services), 5, "2 nodes ALIVE")
        intruder_config = node_config(tmp_path, 9, free_port(LOCAL), [services[0].node.addr.port],
                                      secret="not-the-cluster-secret-987654321")
        intruder = membership_service.from_config(intruder_config, None)
        await intruder.start()
        bad_frame = FrameCodec([b"not-the-cluster-secret-987654321"]).encode(
            Ping(1, 9, intruder.node.addr, 1))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(bad_frame, (LOCAL, services[0].node.addr.port))
            udp.sendto(b"garbage that is no frame at all", (LOCAL, services[0].node.addr.port))
        await asyncio.sleep(1.0)
        assert set(view(services[0])) == {1, 2} and set(view(services[1])) == {1, 2}
        assert intruder.node.state.name == "JOINING"
        target = services[0]
        assert target.transport.stats.handshakes_refused >= 1
        assert target.node.stats.frames_rejected.get("FrameAuthError") == 1
        # Garbage has no membership tag: the peer endpoint refuses it, SWIM never sees it.
        assert target.peer.endpoint.stats.frames_rejected.get("MalformedFrameError") == 1
        assert all_alive(services)
        await stop_all([*services, intruder])

    with caplog.at_level(logging.WARNING):
        run(scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert any("wrong cluster secret" in m for m in messages)
    assert any("rejected peer frame" in m for m in messages)


def test_peer_tls_from_config_with_mutual_verification(tmp_path: Path) -> None:
    cert, key = tmp_path / "peer.pem", tmp_path / "peer.key"
    tls.generate_certificate(cert, key)  # one self-signed certificate doubles as the CA

    async def scenario() -> None:
        services = await start_nodes(tmp_path, 2, peer_tls=True, peer_tls_cert_file=str(cert),
                                     peer_tls_key_file=str(key), peer_tls_ca_file=str(cert))
        await until(lambda: all_alive(services), 5, "2 nodes ALIVE over TLS")
        assert all(s.transport.stats.connects >= 1 for s in services)
        assert all(s.transport.stats.handshakes_refused == 0 for s in services)
        await stop_all(services)

    run(scenario)


def test_fault_rules_from_config_are_active_at_start(tmp_path: Path) -> None:
    config = node_config(tmp_path, 1, 7000, [], fault_rules=["peer=*;direction=in;drop=0.5"],
                         fault_seed=3)
    service = membership_service.from_config(config, None)
    rules = service.transport.faults.rules
    assert len(rules) == 1 and rules[0].drop == 0.5 and rules[0].direction.value == "in"


def test_config_errors_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        membership_service.from_config(node_config(tmp_path, 1, 7000, [], secret="short"), None)
    with pytest.raises(ConfigError, match="swim_profile"):
        membership_service.from_config(node_config(tmp_path, 1, 7000, [],
                                                   swim_profile="moon"), None)
    with pytest.raises(ConfigError, match="fault_rules"):
        membership_service.from_config(node_config(tmp_path, 1, 7000, [],
                                                   fault_rules=["drop=7"]), None)
    config = node_config(tmp_path, 1, 7000, [], probe_interval_ms=300, probe_timeout_ms=0)
    swim = membership_service.swim_config(config)
    assert swim.probe_interval_ms == 300 and swim.probe_timeout_ms < 300


# ---------------------------------------------------------------------- admin API


async def http(port: int, method: str, path: str, secret: str | None = SECRET,
               body: Any = None, header: str = "authorization") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(LOCAL, port)
    data = b"" if body is None else (body if isinstance(body, bytes) else orjson.dumps(body))
    headers = [f"{method} {path} HTTP/1.1", "Host: x", f"Content-Length: {len(data)}",
               "Connection: close"]
    if secret is not None:
        headers.append(f"Authorization: Bearer {secret}" if header == "authorization"
                       else f"X-Marmot-Secret: {secret}")
    writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + data)
    response = await reader.read()
    writer.close()
    head, _, payload = response.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), payload


def test_admin_api_requires_the_secret_and_answers_members_health_metrics_faults(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        services = await start_nodes(tmp_path, 2)
        await until(lambda: all_alive(services), 5, "2 nodes ALIVE")
        admin = AdminServer(services[0], SECRET, LOCAL, 0)
        port = await admin.start()
        assert (await http(port, "GET", "/health", secret=None))[0] == 401
        assert (await http(port, "GET", "/cluster/members", secret="wrong"))[0] == 401
        status, body = await http(port, "GET", "/health", header="x-marmot-secret")
        assert status == 200
        assert orjson.loads(body) == {"status": "ok", "node_id": 1, "state": "ALIVE",
                                      "incarnation": services[0].node.incarnation,
                                      "members": {"ALIVE": 2}}
        status, body = await http(port, "GET", "/cluster/members")
        assert status == 200 and [m["node_id"] for m in orjson.loads(body)] == [1, 2]
        metrics = await scrape(port)
        assert metrics[("marmotdb_cluster_members", (("state", "alive"),))] == 2
        assert metrics[("marmotdb_admin_requests_refused_total", ())] == 2
        assert metrics[("marmotdb_swim_bytes_sent_total", ())] > 0
        assert metrics[("marmotdb_peer_udp_bytes_received_total", ())] > 0

        status, body = await http(port, "POST", "/faults",
                                  body={"rules": [{"peer": "2", "partition": True}]})
        assert status == 200
        assert orjson.loads(body)["rules"][0]["peer"] == str(services[1].node.addr)
        await until(lambda: view(services[0])[2] != "ALIVE", 5, "partition takes effect")
        status, body = await http(port, "DELETE", "/faults")
        assert status == 200 and orjson.loads(body)["rules"] == []
        await until(lambda: all_alive(services), 10, "healed")
        assert (await http(port, "POST", "/faults", body=b"{not json"))[0] == 400
        assert (await http(port, "POST", "/faults", body={"rules": ["drop=2"]}))[0] == 400
        assert (await http(port, "GET", "/nowhere"))[0] == 404
        status, body = await http(port, "POST", "/cluster/members/2/remove")
        assert status == 200 and view(services[0])[2] == "REMOVED"
        assert (await http(port, "POST", "/cluster/members/1/remove"))[0] == 400  # itself
        assert (await http(port, "POST", "/cluster/members/n2/remove"))[0] == 400  # not an id
        services[0].node.leave(services[0].now_ms())
        status, body = await http(port, "GET", "/health")
        assert status == 503 and orjson.loads(body)["status"] == "leaving"
        await admin.close()
        await stop_all(services)

    with caplog.at_level(logging.WARNING, logger="marmotdb.admin"):
        run(scenario)
    assert any("refused GET" in r.getMessage() for r in caplog.records)


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = await http(port, "GET", "/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples}
