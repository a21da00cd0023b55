"""Cluster membership: SWIM with Lifeguard, as sans-I/O state machines.

Modules (one concept each; DESIGN.md beside this file has the design and the measurements):

    messages.py        wire Structs and their tags (1-31) in the peer registry, MemberState,
                       NodeMeta; node ids are ``NodeId`` integers (the config's node_id)
    config.py          SwimConfig: every timing and bound, with unit and trade-off
    membership.py      the member table and its merge rule (a semilattice); MemberEvent
    suspicion.py       the Lifeguard suspicion timer
    awareness.py       Lifeguard local health
    probe_schedule.py  shuffled round-robin probe order
    probe.py           Prober: probe rounds, indirect probes, relays (uses awareness)
    stats.py           SwimStats counters
    broadcast.py       the piggyback queue with its retransmit limit
    swim.py            SwimNode: composes the above

Framing, the cluster-secret MAC, the Transport interface and request/response live in
``marmotdb/peer/`` (membership is one user of its message registry and codec).

How a runtime drives one node
-----------------------------
Build it (nothing happens until ``start``)::

    codec = FrameCodec([secret], config.frame_bytes_max)         # marmotdb.peer; >= 16 bytes
    meta = NodeMeta(peer_addr=NodeAddr(host, peer_port), mysql_addr=..., admin_addr=...,
                    software_version=marmotdb.__version__)
    node = SwimNode(node_id, meta, config, transport, codec, random.Random(seed),
                    seed_addrs=[NodeAddr.parse(s) for s in seeds], incarnation=persisted)
    node.subscribe(on_member_event)          # MemberEvent for every change, self included
    node.start(now_ms)

Then, forever, with ``now_ms`` a monotonic clock in integer milliseconds:

- a frame arrived (a UDP datagram, or a frame split out of a TCP stream)
  -> ``node.receive_frame(src_addr, frame, now_ms)``. It never raises for bad input; rejected
  frames are counted in ``node.stats.frames_rejected`` and logged (rate-limited). A host with a
  ``PeerEndpoint`` (runtime, simulator) feeds every frame to the endpoint, which hands frames
  whose tag is in ``MEMBERSHIP_CODES`` to the node undecoded:
  ``endpoint.add_frame_receiver(MEMBERSHIP_CODES, node.receive_frame)``.
- a timer -> keep one timer armed at ``node.next_deadline_ms()`` (re-read it after every call
  into the node; it may already be due, then call at once) and call
  ``node.handle_timer(now_ms)`` when it fires. Early or repeated calls are harmless.
- output -> the node calls ``transport.send(dest, frame, reliable)`` itself, synchronously,
  from inside the calls above. ``reliable=False``: one UDP datagram (at most
  ``udp_frame_bytes_max``); ``reliable=True``: a frame on a TCP connection to ``dest``. The
  transport must queue and return, never block and never call back into the node
  (marmotdb/peer/transport.py has the full contract).

Reading state:

- ``node.members_snapshot()`` -> copies of every record (node id, ``MemberState``,
  incarnation, removal epoch, ``NodeMeta``, local time of the last state change), sorted;
  ``node.live_members()`` -> those ALIVE, SUSPECT or JOINING; ``node.members.get(node_id)``
  reads one record without copying (do not mutate it).
- ``node.state`` / ``node.incarnation`` / ``node.awareness_score`` -> this node;
  ``node.stats`` -> counters for metrics (frames and bytes in/out, probes, suspicions, deaths,
  refutations, push-pulls, rejected frames by reason).
- ``node.subscribe(listener)`` -> ``listener(MemberEvent)`` on every change: ``previous`` None
  means a new member, ``current`` None a forgotten one, ``previous == current`` a metadata
  change. Listeners run inside the node's call: no blocking, no calls back into mutating methods.

Acting:

- ``node.update_meta(meta, now_ms)`` publishes new metadata (bumps the incarnation; meant for
  changes on the order of seconds, e.g. a new schema version or a periodic vector snapshot).
- ``node.leave(now_ms)``, then stop the process once ``node.leave_complete(now_ms)``.
- ``node.remove_member(node_id, now_ms)`` / ``node.allow_member(node_id, now_ms)``: admin.
- Persisting ``node.incarnation`` and passing it back (+1) after a restart is optional: a node
  restarted at 0 refutes its old record and ends above it anyway, one round trip later.
"""

from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.membership import Member, MemberEvent
from marmotdb.cluster.messages import (
    MEMBERSHIP_CODES,
    MEMBERSHIP_TYPES,
    MemberState,
    NodeAddr,
    NodeMeta,
    is_membership_message,
)
from marmotdb.cluster.stats import SwimStats
from marmotdb.cluster.swim import SwimNode

__all__ = [
    "MEMBERSHIP_CODES", "MEMBERSHIP_TYPES", "Member", "MemberEvent",
    "MemberState", "NodeAddr", "NodeMeta", "SwimConfig", "SwimNode", "SwimStats",
    "is_membership_message",
]
