"""SwimNode: SWIM membership with Lifeguard, as a sans-I/O state machine.

Theory of operation
-------------------
Each node keeps a member table (membership.py) and learns about the others in three ways:

1. Probing (probe.py). Once per probe interval it probes the next member of a shuffled
   round-robin order: Ping, then indirect PingReq through ``indirect_checks`` members after the
   probe timeout, then SUSPECT at the round end if nothing answered. The target of a probe that
   we hold SUSPECT or DEAD gets that fact piggybacked first (Lifeguard's "buddy system"), so an
   accused member learns it at once and refutes.
2. Dissemination (broadcast.py). Every fact that changes our table is queued and piggybacked on
   pings, acks, ping-reqs and nacks, and sent in dedicated Gossip packets every gossip interval
   while the queue is not empty (to live members and to members dead for less than
   ``gossip_to_the_dead_ms``), each at most ``retransmit_limit(n)`` times.
3. Push-pull. Every push-pull interval, the whole table is exchanged over TCP with one random
   live member; every reconnect interval, with one random DEAD member (that is how the two sides
   of a healed partition find each other); joining is a push-pull with the seed nodes.

A suspicion (suspicion.py) runs a Lifeguard timer at every node that holds the member SUSPECT;
the first to expire declares it DEAD. The suspected member refutes any SUSPECT or DEAD fact about
itself by raising its incarnation and gossiping ALIVE. Awareness (awareness.py) stretches our
own probe timings while we look like the unhealthy party.

Local lifecycle (``_SELF_TRANSITIONS``)::

    start ─┬─ seeds ──> JOINING ──(a seed answered)──> ALIVE ──leave()──> LEAVING
           └─ none ───────────────────────────────────> ALIVE
    JOINING/ALIVE/LEAVING ──(an admin removed us)──> REMOVED ──(allowed, seed answered)──> JOINING

A restarted node starts at incarnation 0 (or what the runtime persisted); the first member table
it receives holds its old record, which it refutes, so it rejoins above its old incarnation.

Driving it (the whole I/O surface; see cluster/__init__.py for the runtime recipe)::

    node.start(now_ms)                       once
    node.receive_frame(src, frame, now_ms)   for every frame received (UDP or TCP)
    node.handle_timer(now_ms)                whenever now_ms >= node.next_deadline_ms()
    transport.send(dest, frame, reliable)    called by the node: the only output
    node.subscribe(listener)                 MemberEvent for every change of the table

Time is the caller's monotonic milliseconds; calling ``handle_timer`` early or twice is harmless.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Sequence

import msgspec

from marmotdb.cluster.broadcast import BroadcastQueue
from marmotdb.cluster.config import SwimConfig
from marmotdb.cluster.membership import (
    LIVE_STATES,
    Member,
    MemberEvent,
    MemberTable,
    MergeOutcome,
    fact_key,
)
from marmotdb.cluster.messages import (
    Ack,
    Gossip,
    MemberState,
    MemberUpdate,
    Nack,
    NodeAddr,
    NodeMeta,
    Ping,
    PingReq,
    PushPullRequest,
    PushPullResponse,
)
from marmotdb.cluster.probe import NEVER_MS, Prober
from marmotdb.cluster.stats import SwimStats
from marmotdb.cluster.suspicion import Suspicion, expected_confirmations
from marmotdb.peer.codec import FRAME_OVERHEAD_BYTES, FrameCodec, FrameError
from marmotdb.peer.transport import Transport

logger = logging.getLogger("marmotdb.cluster")

_LIST_HEADER_BYTES = 5  # msgpack array header, worst case

_SELF_TRANSITIONS: dict[MemberState, frozenset[MemberState]] = {
    MemberState.JOINING: frozenset({MemberState.ALIVE, MemberState.LEAVING, MemberState.REMOVED}),
    MemberState.ALIVE: frozenset({MemberState.LEAVING, MemberState.REMOVED}),
    MemberState.LEAVING: frozenset({MemberState.REMOVED}),
    MemberState.REMOVED: frozenset({MemberState.JOINING}),
}


class SwimNode:
    def __init__(self, node_id: int, meta: NodeMeta, config: SwimConfig, transport: Transport,
                 codec: FrameCodec, rng: random.Random, *, seed_addrs: Sequence[NodeAddr] = (),
                 incarnation: int = 0):
        self.node_id = node_id
        self.config = config
        self.stats = SwimStats()
        self._initial_meta = meta
        self._initial_incarnation = incarnation
        self._transport, self._codec, self._rng = transport, codec, rng
        self._seed_addrs = sorted({a for a in seed_addrs if a != meta.peer_addr})
        self._listeners: list[Callable[[MemberEvent], None]] = []
        self.members = MemberTable(config.members_max, self._on_member_event)
        self._broadcasts = BroadcastQueue(config.broadcast_queue_max)
        self._suspicions: dict[int, Suspicion] = {}
        self._prober = Prober(node_id, config, self.members, rng, self.stats, self._send_udp,
                              self._suspect)
        self._started = False
        self._next_gossip_ms = self._next_push_pull_ms = NEVER_MS
        self._next_reconnect_ms = self._next_join_ms = NEVER_MS
        self._leave_deadline_ms = NEVER_MS
        self._rejected_logged_ms: dict[NodeAddr, int] = {}
        self._stale_accuser = False  # set while handling a message that accused us stalely
        self._handlers: dict[type, Callable[[NodeAddr, msgspec.Struct, int], None]] = {
            Ping: self._on_ping, Ack: self._on_ack, PingReq: self._on_ping_req,
            Nack: self._on_nack, Gossip: self._on_gossip,
            PushPullRequest: self._on_push_pull_request,
            PushPullResponse: self._on_push_pull_response,
        }
        self._timer_steps: tuple[Callable[[int], None], ...] = (
            self._prober.check, self._check_suspicions, self._tick_probe, self._tick_gossip,
            self._tick_push_pull, self._tick_reconnect, self._tick_join,
        )

    # ----------------------------------------------------------------- public surface

    @property
    def addr(self) -> NodeAddr:
        return self._self.meta.peer_addr

    @property
    def started(self) -> bool:
        """Has ``start`` run? Before it the node is in no member table, its own included."""
        return self._started

    @property
    def state(self) -> MemberState:
        return self._self.state

    @property
    def incarnation(self) -> int:
        return self._self.incarnation

    @property
    def awareness_score(self) -> int:
        return self._prober.awareness.score

    def start(self, now_ms: int) -> None:
        """Enter the cluster: JOINING through the seeds, or ALIVE alone when there are none."""
        if self._started:
            raise RuntimeError("SwimNode.start called twice")
        self._started = True
        state = MemberState.JOINING if self._seed_addrs else MemberState.ALIVE
        self.members.set(self.node_id, state, self._initial_incarnation, 0, self._initial_meta,
                         now_ms)
        self._queue_broadcast(self._self.as_update(self.node_id))
        self._prober.start(now_ms)
        self._next_gossip_ms = now_ms
        self._next_push_pull_ms = now_ms + self._rng.randrange(self.config.push_pull_interval_ms)
        self._next_reconnect_ms = now_ms + self._rng.randrange(self.config.reconnect_interval_ms)
        self._next_join_ms = now_ms if state is MemberState.JOINING else NEVER_MS
        self._tick_join(now_ms)

    def subscribe(self, listener: Callable[[MemberEvent], None]) -> Callable[[], None]:
        """Call ``listener`` on every member change; returns the unsubscribe function.

        Listeners run synchronously inside the node's call: they must not block and must not
        call back into the node's mutating methods (reading ``members_snapshot`` is fine).
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def members_snapshot(self) -> list[Member]:
        """Copies of all records (this node included), sorted by node id."""
        return [dataclasses.replace(m) for m in sorted(self.members, key=lambda m: m.node_id)]

    def live_members(self) -> list[Member]:
        return [m for m in self.members_snapshot() if m.is_live]

    def receive_frame(self, src: NodeAddr, frame: bytes, now_ms: int) -> None:
        """Handle one received frame. Bad frames are counted and logged, never raised."""
        try:
            message = self._codec.decode(frame)
        except FrameError as exc:
            self._reject_frame(src, exc, now_ms)
            return
        self.stats.frames_received += 1
        self.stats.bytes_received += len(frame)
        self.receive_message(src, message, now_ms)

    def receive_message(self, src: NodeAddr, message: msgspec.Struct, now_ms: int) -> None:
        """Handle one decoded membership message (for a runtime that decodes and routes)."""
        handler = self._handlers.get(type(message))
        if handler is None or not self._started:
            return
        if self.state is MemberState.REMOVED and not isinstance(message, PushPullResponse):
            return
        source = self.members.get(getattr(message, "source_id", None))
        from_removed = source is not None and source.state is MemberState.REMOVED
        if from_removed and not isinstance(message, PushPullRequest):
            assert source is not None
            self.stats.frames_from_removed += 1
            # Tell it (once per message it sends us, so paced by its own probing) so it stops.
            notice = Gossip(self.node_id, [source.as_update(self.node_id, full=True)])
            self._send(source.meta.peer_addr, notice, reliable=False)
            return
        self._stale_accuser = False
        handler(src, message, now_ms)
        if self._stale_accuser and source is not None and not isinstance(message, Ping):
            # (a Ping's Ack already carries the fact: it was queued first, with 0 transmits)
            self._send(source.meta.peer_addr, Gossip(self.node_id, [self._self.as_update(
                self.node_id)]), reliable=False)

    def handle_timer(self, now_ms: int) -> None:
        """Run everything that is due at ``now_ms``."""
        if not self._started:
            return
        for step in self._timer_steps:
            step(now_ms)

    def next_deadline_ms(self) -> int:
        """The local time at which ``handle_timer`` next has work to do."""
        deadlines = [self._next_push_pull_ms, self._next_reconnect_ms, self._next_join_ms,
                     *self._prober.deadlines_ms()]
        if len(self._broadcasts):
            deadlines.append(self._next_gossip_ms)
        deadlines.extend(s.deadline_ms() for s in self._suspicions.values())
        return min(deadlines)

    def update_meta(self, meta: NodeMeta, now_ms: int) -> None:
        """Publish new metadata: bumps our incarnation so the newer metadata wins everywhere."""
        if self._codec.payload_bytes(meta) > self.config.meta_bytes_max:
            raise ValueError(f"metadata exceeds meta_bytes_max={self.config.meta_bytes_max}")
        me = self._self
        if meta == me.meta:
            return
        self._set_self(me.state, me.incarnation + 1, me.removal_epoch, meta, now_ms)

    def leave(self, now_ms: int) -> None:
        """Announce a graceful leave; the runtime stops once ``leave_complete`` is True."""
        me = self._self
        if me.state in (MemberState.LEAVING, MemberState.REMOVED):
            return
        self._transition_to(MemberState.LEAVING, now_ms, incarnation=me.incarnation + 1)
        self._prober.stop()
        self._leave_deadline_ms = now_ms + self.config.leave_propagate_max_ms

    def leave_complete(self, now_ms: int) -> bool:
        if self.state is not MemberState.LEAVING:
            return False
        spread = self._broadcasts.pending_about(self.node_id) is None
        alone = not any(m.is_live for m in self.members if m.node_id != self.node_id)
        return spread or alone or now_ms >= self._leave_deadline_ms

    def remove_member(self, node_id: int, now_ms: int) -> None:
        """Admin removal: the member is refused (and told so) until ``allow_member``."""
        member = self._other(node_id)
        if member.state is MemberState.REMOVED:
            return
        self._admin_set(member, MemberState.REMOVED, now_ms)

    def allow_member(self, node_id: int, now_ms: int) -> None:
        """Lift an admin removal; the member may rejoin (it is DEAD until it does)."""
        member = self._other(node_id)
        if member.state is not MemberState.REMOVED:
            return
        self._admin_set(member, MemberState.DEAD, now_ms)

    # ----------------------------------------------------------------- receiving

    def _on_ping(self, src: NodeAddr, ping: msgspec.Struct, now_ms: int) -> None:
        assert isinstance(ping, Ping)
        self._merge_updates(ping.updates, now_ms)
        if ping.target_id != self.node_id:
            return  # meant for a previous occupant of this address
        self._send_udp(ping.source_addr, Ack(ping.seq, self.node_id), ping.source_id)

    def _on_ack(self, src: NodeAddr, ack: msgspec.Struct, now_ms: int) -> None:
        assert isinstance(ack, Ack)
        self._merge_updates(ack.updates, now_ms)
        self._prober.on_ack(ack.seq)

    def _on_ping_req(self, src: NodeAddr, req: msgspec.Struct, now_ms: int) -> None:
        assert isinstance(req, PingReq)
        self._merge_updates(req.updates, now_ms)
        self._prober.on_ping_req(req, self.addr, now_ms)

    def _on_nack(self, src: NodeAddr, nack: msgspec.Struct, now_ms: int) -> None:
        assert isinstance(nack, Nack)
        self._merge_updates(nack.updates, now_ms)
        self._prober.on_nack(nack.seq)

    def _on_gossip(self, src: NodeAddr, gossip: msgspec.Struct, now_ms: int) -> None:
        assert isinstance(gossip, Gossip)
        self._merge_updates(gossip.updates, now_ms)

    def _on_push_pull_request(self, src: NodeAddr, req: msgspec.Struct, now_ms: int) -> None:
        assert isinstance(req, PushPullRequest)
        source = self.members.get(req.source_id)
        if source is not None and source.state is MemberState.REMOVED:
            refusal = PushPullResponse(self.node_id, refused=True, reason="removed by an admin",
                                       members=[source.as_update(self.node_id, full=True)])
            self._send(req.source_addr, refusal, reliable=True)
            return
        self._merge_updates(req.members, now_ms)
        response = PushPullResponse(self.node_id, members=self._table_facts())
        self._send(req.source_addr, response, reliable=True)

    def _on_push_pull_response(self, src: NodeAddr, resp: msgspec.Struct, now_ms: int) -> None:
        assert isinstance(resp, PushPullResponse)
        if resp.refused:
            logger.warning("node %s refused by %s: %s", self.node_id, resp.source_id, resp.reason)
            self._merge_updates([u for u in resp.members if u.node_id == self.node_id], now_ms)
            return
        if self.state is MemberState.REMOVED:
            self._transition_to(MemberState.JOINING, now_ms)
        self._merge_updates(resp.members, now_ms)
        if self.state is MemberState.JOINING:
            self._transition_to(MemberState.ALIVE, now_ms)
            self._next_join_ms = NEVER_MS

    # ----------------------------------------------------------------- merging facts

    def _merge_updates(self, updates: Sequence[MemberUpdate], now_ms: int) -> None:
        for update in updates:
            if update.node_id == self.node_id:
                self._merge_about_self(update, now_ms)
            else:
                self._merge_about_other(update, now_ms)

    def _merge_about_other(self, update: MemberUpdate, now_ms: int) -> None:
        outcome = self.members.merge(update, now_ms)
        if outcome is MergeOutcome.IGNORED:
            return
        if outcome is MergeOutcome.SAME:
            suspicion = self._suspicions.get(update.node_id)
            if update.state is not MemberState.SUSPECT or suspicion is None:
                return
            if suspicion.confirm(update.origin_id):
                self._queue_broadcast(update)  # let others count this confirmation too
            return
        member = self.members.get(update.node_id)
        assert member is not None
        if member.state is MemberState.SUSPECT:
            self._start_suspicion(member, update.origin_id, now_ms)
        self._queue_broadcast(member.as_update(update.origin_id))  # spread what we learned

    def _merge_about_self(self, update: MemberUpdate, now_ms: int) -> None:
        me = self._self
        new_key = fact_key(update.removal_epoch, update.incarnation, update.state)
        if new_key <= me.key:
            if update.state in (MemberState.SUSPECT, MemberState.DEAD) and (
                    me.state is not MemberState.REMOVED and new_key < me.key):
                # An old accusation we already refuted: the sender missed our refutation (it
                # was cut off when we sent it). Queue our fact again and answer the sender.
                self._queue_broadcast(me.as_update(self.node_id))
                self._stale_accuser = True
            return
        if update.state is MemberState.REMOVED:
            logger.warning("node %s was removed from the cluster by an admin", self.node_id)
            self._transition_to(MemberState.REMOVED, now_ms, removal_epoch=update.removal_epoch,
                                incarnation=max(me.incarnation, update.incarnation))
            return
        if me.state is MemberState.REMOVED:
            return  # only a seed's (non-refused) push-pull response readmits us
        # Someone holds a newer fact about us (suspicion, death, or our previous life): refute.
        if update.state in (MemberState.SUSPECT, MemberState.DEAD):
            self._prober.awareness.apply_delta(1)
        self.stats.refutations += 1
        self._set_self(me.state, max(me.incarnation, update.incarnation) + 1,
                       max(me.removal_epoch, update.removal_epoch), me.meta, now_ms)

    def _start_suspicion(self, member: Member, origin_id: int, now_ms: int) -> None:
        live = self.members.live_count()
        expected = expected_confirmations(self.config.suspicion_mult, live)
        self._suspicions[member.node_id] = Suspicion(
            origin_id, now_ms, expected, self.config.suspicion_min_ms(live),
            self.config.suspicion_max_ms(live))
        self.stats.suspicions_started += 1

    def _on_member_event(self, event: MemberEvent) -> None:
        if event.node_id != self.node_id:
            self._prober.member_changed(event.node_id, event.current in LIVE_STATES)
            if event.current is not MemberState.SUSPECT:
                self._suspicions.pop(event.node_id, None)
        for listener in list(self._listeners):
            listener(event)

    # ----------------------------------------------------------------- timers

    def _tick_probe(self, now_ms: int) -> None:
        self._prober.tick(now_ms, self.addr, active=self.state is MemberState.ALIVE)

    def _suspect(self, target: Member, now_ms: int) -> None:
        """Our own probe of ``target`` failed: suspect it (or confirm an existing suspicion)."""
        suspect = MemberUpdate(target.node_id, MemberState.SUSPECT, target.incarnation,
                               target.removal_epoch, self.node_id)
        self._merge_about_other(suspect, now_ms)

    def _check_suspicions(self, now_ms: int) -> None:
        for node_id, suspicion in list(self._suspicions.items()):
            deadline_ms = suspicion.deadline_ms()
            if now_ms < deadline_ms:
                continue
            if now_ms - deadline_ms > self.config.late_timer_slack_ms and not suspicion.extended:
                suspicion.extend(now_ms)  # we overslept: give the suspect a fair chance
                continue
            del self._suspicions[node_id]
            member = self.members.get(node_id)
            if member is not None and member.state is MemberState.SUSPECT:
                self.stats.deaths_declared += 1
                dead = MemberUpdate(node_id, MemberState.DEAD, member.incarnation,
                                    member.removal_epoch, self.node_id)
                self._merge_about_other(dead, now_ms)

    def _tick_gossip(self, now_ms: int) -> None:
        if now_ms < self._next_gossip_ms or not len(self._broadcasts):
            return
        self._next_gossip_ms = now_ms + self.config.gossip_interval_ms
        targets = self._gossip_targets(now_ms)
        budget = self._piggyback_budget(Gossip(self.node_id))
        for target in targets:
            updates = self._broadcasts.take(budget, self._retransmit_limit())
            if not updates:
                break
            self._send(target.meta.peer_addr, Gossip(self.node_id, updates), reliable=False)
            self.stats.gossip_packets_sent += 1
        oversize = self._broadcasts.take_oversize(budget)
        for target in targets if oversize else ():
            self._send(target.meta.peer_addr, Gossip(self.node_id, oversize), reliable=True)

    def _gossip_targets(self, now_ms: int) -> list[Member]:
        dead_cutoff_ms = now_ms - self.config.gossip_to_the_dead_ms
        candidates = [m for m in self._others() if m.is_live or (
            m.state is MemberState.DEAD and m.state_change_ms >= dead_cutoff_ms)]
        return self._rng.sample(candidates, min(self.config.gossip_nodes, len(candidates)))

    def _tick_push_pull(self, now_ms: int) -> None:
        if now_ms < self._next_push_pull_ms:
            return
        self._next_push_pull_ms = now_ms + self.config.push_pull_interval_ms
        if self.state is not MemberState.ALIVE:
            return
        alive = [m for m in self._others() if m.state is MemberState.ALIVE]
        if alive:
            self._send_push_pull(self._rng.choice(alive).meta.peer_addr, join=False)

    def _tick_reconnect(self, now_ms: int) -> None:
        if now_ms < self._next_reconnect_ms:
            return
        self._next_reconnect_ms = now_ms + self.config.reconnect_interval_ms
        self._reap(now_ms)
        if self.state is not MemberState.ALIVE:
            return
        dead = [m for m in self._others() if m.state is MemberState.DEAD]
        if dead:
            self._send_push_pull(self._rng.choice(dead).meta.peer_addr, join=False)
        if self._seed_addrs and not any(m.is_live for m in self._others()):
            self._send_push_pull(self._rng.choice(self._seed_addrs), join=True)

    def _tick_join(self, now_ms: int) -> None:
        if now_ms < self._next_join_ms:
            return
        if self.state not in (MemberState.JOINING, MemberState.REMOVED):
            self._next_join_ms = NEVER_MS
            return
        self._next_join_ms = now_ms + self.config.join_retry_interval_ms
        for seed in self._seed_addrs:
            self._send_push_pull(seed, join=True)

    def _reap(self, now_ms: int) -> None:
        cutoff_ms = now_ms - self.config.dead_member_retention_ms
        for member in list(self._others()):
            gone = member.state in (MemberState.DEAD, MemberState.LEAVING)
            if gone and member.state_change_ms <= cutoff_ms:
                self.members.forget(member.node_id, now_ms)

    # ----------------------------------------------------------------- local changes

    def _transition_to(self, state: MemberState, now_ms: int, *, incarnation: int | None = None,
                       removal_epoch: int | None = None) -> None:
        me = self._self
        if state not in _SELF_TRANSITIONS.get(me.state, frozenset()):
            raise AssertionError(f"illegal self transition {me.state.name} -> {state.name}")
        if state is MemberState.REMOVED:
            self._prober.stop()
            self._next_join_ms = now_ms + self.config.join_retry_interval_ms
            self._suspicions.clear()
        self._set_self(state, me.incarnation if incarnation is None else incarnation,
                       me.removal_epoch if removal_epoch is None else removal_epoch, me.meta,
                       now_ms)

    def _set_self(self, state: MemberState, incarnation: int, removal_epoch: int,
                  meta: NodeMeta, now_ms: int) -> None:
        me = self.members.set(self.node_id, state, incarnation, removal_epoch, meta, now_ms)
        self._queue_broadcast(me.as_update(self.node_id))

    def _admin_set(self, member: Member, state: MemberState, now_ms: int) -> None:
        updated = self.members.set(member.node_id, state, member.incarnation,
                                   member.removal_epoch + 1, member.meta, now_ms)
        self._queue_broadcast(updated.as_update(self.node_id, full=True))

    # ----------------------------------------------------------------- sending

    def _queue_broadcast(self, update: MemberUpdate) -> None:
        self._broadcasts.enqueue(update, self._codec.payload_bytes(update))

    def _send_udp(self, dest: NodeAddr, message: Ping | Ack | PingReq | Nack,
                  dest_id: int | None) -> None:
        """Send a probe-path message with as many piggybacked updates as fit one datagram."""
        budget = self._piggyback_budget(message)
        updates: list[MemberUpdate] = []
        accused = self.members.get(dest_id) if dest_id else None
        if accused is not None and accused.state in (MemberState.SUSPECT, MemberState.DEAD):
            fact = accused.as_update(self.node_id)  # tell the accused, so it refutes now
            updates.append(fact)
            budget -= self._codec.payload_bytes(fact)
        exclude = dest_id if updates else None
        updates += self._broadcasts.take(budget, self._retransmit_limit(), exclude)
        if updates:
            message = msgspec.structs.replace(message, updates=updates)
        self._send(dest, message, reliable=False)

    def _piggyback_budget(self, message: msgspec.Struct) -> int:
        base = self._codec.payload_bytes(message)
        return self.config.udp_frame_bytes_max - FRAME_OVERHEAD_BYTES - base - _LIST_HEADER_BYTES

    def _send_push_pull(self, dest: NodeAddr, join: bool) -> None:
        request = PushPullRequest(self.node_id, self.addr, join, self._table_facts())
        self.stats.push_pulls_sent += 1
        self._send(dest, request, reliable=True)

    def _send(self, dest: NodeAddr, message: msgspec.Struct, reliable: bool) -> None:
        frame = self._codec.encode(message)
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(frame)
        self._transport.send(dest, frame, reliable)

    def _table_facts(self) -> list[MemberUpdate]:
        return [m.as_update(self.node_id, full=True)
                for m in sorted(self.members, key=lambda m: m.node_id)]

    # ----------------------------------------------------------------- small helpers

    @property
    def _self(self) -> Member:
        me = self.members.get(self.node_id)
        if me is None:
            raise RuntimeError("SwimNode used before start()")
        return me

    def _others(self) -> list[Member]:
        return [m for m in sorted(self.members, key=lambda m: m.node_id)
                if m.node_id != self.node_id]

    def _other(self, node_id: int) -> Member:
        if node_id == self.node_id:
            raise ValueError("a node cannot remove or allow itself")
        member = self.members.get(node_id)
        if member is None:
            raise ValueError(f"unknown member {node_id}")
        return member

    def _retransmit_limit(self) -> int:
        return self.config.retransmit_limit(self.members.live_count())

    def _reject_frame(self, src: NodeAddr, exc: FrameError, now_ms: int) -> None:
        reason = type(exc).__name__
        self.stats.frames_rejected[reason] = self.stats.frames_rejected.get(reason, 0) + 1
        last_ms = self._rejected_logged_ms.get(src)
        if last_ms is None or now_ms - last_ms >= self.config.rejected_frame_log_interval_ms:
            if len(self._rejected_logged_ms) >= self.config.members_max:
                self._rejected_logged_ms.clear()  # bound the table; worst case: one extra log
            self._rejected_logged_ms[src] = now_ms
            logger.warning("rejected peer frame from %s: %s", src, exc.message)
