"""The seam between the CDC publisher and a broker: what a sink is handed and what it promises.

The publisher (cdc/) turns committed write sets into Debezium records — topic, key bytes,
value bytes — each with a position that is unique and strictly increasing per origin, so a
consumer (or a broker that deduplicates, such as JetStream with ``Nats-Msg-Id``) can drop a
record it has already seen. A sink only moves bytes: it never builds an envelope and never
decides what to publish. Concrete sinks live in ``runtime/`` (they need asyncio and sockets):
``runtime/cdc_nats.py`` (nats-py, JetStream) and ``runtime/cdc_kafka.py`` (aiokafka).

Contract of ``Sink.publish(records)``:
- returns only when every record of the call is durably accepted by the broker (JetStream ack,
  Kafka acks=all); the publisher then advances that sink's durable cursor past them;
- keeps the order of the records for one key (Kafka: same key, same partition; NATS: one
  subject per table and in-order publishes);
- raises ``SinkError`` when it cannot; ``retryable`` says whether the publisher should back off
  and try the same records again (broker down, timeout) or stop this sink and report it
  (authorisation, a record the broker refuses for its size). A retry may re-send records the
  broker already stored: delivery is at-least-once, deduplicated downstream by ``position``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec


class SinkRecord(msgspec.Struct, frozen=True):
    """One message for one sink.

    ``topic``: ``<prefix>.<db>.<table>`` for row events, ``<prefix>`` for schema changes (a
    NATS sink maps it to a subject, a Kafka sink to a topic name). ``key``: the Debezium key
    JSON (primary key with its schema), None for schema-change events. ``value``: the envelope
    JSON, None for a tombstone. ``position``: the record's source position as text, unique
    across the cluster and strictly increasing per origin; used as the JetStream message id
    and sent as a header by every sink.
    """

    topic: str
    key: bytes | None
    value: bytes | None
    position: str


class SinkError(Exception):
    """A sink could not deliver a call's records; ``retryable`` as in errors.py."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Sink(Protocol):
    """A broker connection owned by the publisher; one per configured sink."""

    name: str

    async def start(self) -> None:
        """Connect (and create the stream/topics a sink needs if missing)."""

    async def publish(self, records: Sequence[SinkRecord]) -> None:
        """Deliver ``records`` in order; see the module docstring for the contract."""

    async def close(self) -> None:
        """Flush nothing more and disconnect; safe to call twice."""
