"""Who a peer is (``NodeId``) and where it listens (``NodeAddr``): the two names of a node.

``NodeId`` is the integer ``node_id`` of the config (``marmotdb/config.py``), stable for the
life of a node and never derived from a random source. It is the one type of a node id
everywhere: config, peer messages, member tables, write-set origins, the admin API's JSON and
the ``MARMOT_CLUSTER_NODES`` rows. ``NodeAddr`` is the peer address (UDP and TCP on one port).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

NODE_ID_MAX = 2**63 - 1
NodeId = Annotated[int, msgspec.Meta(ge=0, le=NODE_ID_MAX)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class NodeAddr(msgspec.Struct, frozen=True, array_like=True, order=True):
    """A host and port. For peers: the address that receives both UDP datagrams and TCP streams."""

    host: str
    port: Port

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> NodeAddr:
        """Parse ``host:port`` (``[v6]:port`` for IPv6)."""
        host, _, port = text.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"not a host:port address: {text!r}")
        return cls(host.strip("[]"), int(port))


def parse_node_id(text: str | int) -> int:
    """A node id from user input (admin URL, CLI flag); ``ValueError`` when it is not one."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str) and text.strip().isdigit():
        value = int(text.strip())
    else:
        raise ValueError(f"a node id is a non-negative integer, not {text!r}")
    if value > NODE_ID_MAX:
        raise ValueError(f"node id {value} is above {NODE_ID_MAX}")
    return value
