"""Example peer messages for tests (in the ``test`` tag range of a private registry), and a
two-endpoint harness on the in-memory network. Later owners (txn/, replication/) declare their
messages the same way in ``PEER_MESSAGES`` with their own range."""

from __future__ import annotations

import random

import msgspec

from marmotdb.peer import (
    PEER_MESSAGES,
    Completion,
    EndpointSettings,
    FrameCodec,
    IncomingRequest,
    InMemoryNetwork,
    NodeAddr,
    PeerEndpoint,
)


class Echo(msgspec.Struct, frozen=True, array_like=True):
    """Request: answer with ``EchoReply(n)``."""

    n: int


class EchoReply(msgspec.Struct, frozen=True, array_like=True):
    n: int


class Note(msgspec.Struct, frozen=True, array_like=True):
    """A one-way message."""

    text: str


REGISTRY = PEER_MESSAGES.copy()
REGISTRY.register(0xFF00, Echo, "test")
REGISTRY.register(0xFF01, EchoReply, "test")
REGISTRY.register(0xFF02, Note, "test")
SECRET = b"peer-endpoint-test-secret-0123"
CODEC = FrameCodec([SECRET], registry=REGISTRY)


def addr(i: int) -> NodeAddr:
    return NodeAddr(f"10.0.0.{i}", 7946)


class Pair:
    """Endpoints A (addr 1) and B (addr 2) on one in-memory network; B echoes."""

    def __init__(self, settings: EndpointSettings | None = None, seed: int = 1):
        self.network = InMemoryNetwork()
        self.a = self._endpoint(1, settings, seed)
        self.b = self._endpoint(2, settings, seed + 1)
        self.done: list[Completion] = []
        self.served: list[IncomingRequest] = []
        self.b.on_request([Echo], self.echo)

    def _endpoint(self, i: int, settings: EndpointSettings | None, seed: int) -> PeerEndpoint:
        endpoint = PeerEndpoint(CODEC, self.network.transport_for(addr(i)), random.Random(seed),
                                settings)
        self.network.attach(addr(i), endpoint)
        return endpoint

    def echo(self, request: IncomingRequest, now_ms: int) -> None:
        self.served.append(request)
        assert isinstance(request.message, Echo)
        self.b.reply(request, EchoReply(request.message.n))

    def ask(self, n: int, now_ms: int = 0, deadline_ms: int = 1000) -> int:
        return self.a.request(addr(2), Echo(n), deadline_ms, now_ms, self.done.append)
