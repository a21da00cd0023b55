"""Peer messaging: the registry of every peer message, their codec, and request/response.

Modules (one concept each; DESIGN.md beside this file has the design):

    address.py    NodeId (the one integer node id type) and NodeAddr (host:port)
    registry.py   MessageRegistry, PEER_MESSAGES, TAG_RANGES: one stable tag per Struct
    codec.py      FrameCodec: length, version, kind, tag, correlation id, msgpack, HMAC-SHA256;
                  FrameDecoder for TCP streams; peek_tag for routing
    transport.py  the Transport interface (send only); in-memory transport/network for tests
    endpoint.py   PeerEndpoint: one-way messages, requests with deadlines, replies matched by
                  correlation id, late and duplicate replies counted and dropped
    catalog.py    imports every owner of messages (membership today) so the registry is full

The core imports nothing from runtime/ or sim/; the hosts drive a ``PeerEndpoint`` exactly as
they drive a ``SwimNode``: ``receive_frame``, ``next_deadline_ms``/``handle_timer``, and a
``Transport`` whose ``send`` queues and returns.
"""

from marmotdb.peer.address import NodeAddr, NodeId, parse_node_id
from marmotdb.peer.codec import (
    FRAME_OVERHEAD_BYTES,
    FrameCodec,
    FrameDecoder,
    FrameError,
    FrameKind,
    PeerFrame,
    peek_tag,
)
from marmotdb.peer.endpoint import (
    NEVER_MS,
    Completion,
    EndpointSettings,
    EndpointStats,
    IncomingRequest,
    Outcome,
    PeerEndpoint,
    PeerFailure,
    PeerOverloadedError,
)
from marmotdb.peer.registry import PEER_MESSAGES, TAG_RANGES, MessageRegistry, MessageType
from marmotdb.peer.transport import InMemoryNetwork, InMemoryTransport, Transport

__all__ = [
    "FRAME_OVERHEAD_BYTES", "NEVER_MS", "PEER_MESSAGES", "TAG_RANGES", "Completion",
    "EndpointSettings", "EndpointStats", "FrameCodec", "FrameDecoder", "FrameError", "FrameKind",
    "InMemoryNetwork", "InMemoryTransport", "IncomingRequest", "MessageRegistry", "MessageType",
    "NodeAddr", "NodeId", "Outcome", "PeerEndpoint", "PeerFailure", "PeerFrame",
    "PeerOverloadedError", "Transport", "parse_node_id", "peek_tag",
]
