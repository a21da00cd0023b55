"""The NATS JetStream sink (nats-py): CDC records as JetStream messages.

Theory of operation
-------------------
Each record goes to the subject named by its topic (``<prefix>.<db>.<table>``, schema changes
on ``<prefix>``, transaction events on ``<prefix>.transaction``), with headers:

  Nats-Msg-Id        the record's position: JetStream drops a message whose id it stored
                     within the stream's duplicate window, so a retried batch is not stored
                     twice (consumers still deduplicate by position beyond the window)
  Marmot-Position    the same, for consumers
  Marmot-Key         the Debezium key JSON (NATS messages have no key of their own)
  Marmot-Tombstone   "true" on a tombstone (empty payload), after each delete

The stream (``stream``, default: the prefix made a valid stream name) is created if missing with
subjects ``<prefix>`` and ``<prefix>.>``. Publishes are pipelined: each message goes out in
order with a reply subject ``<inbox>.<call>`` without waiting, up to ``in_flight_max``
unacknowledged, and one subscription on ``<inbox>.*`` counts JetStream's acks; the call returns
once every message of it was acknowledged (research: ~25k msg/s with 256 in flight vs ~5k
awaiting each). nats-py's ``publish_async`` does the same with a future, a semaphore and a
random token per message, which cost more than the publish itself here. One
connection publishes in order, so one subject's (one table's) messages are stored in order.
Any failure — connection lost, broker restarting, an ack later than ``publish_timeout_ms`` — is
a retryable ``SinkError``; the publisher backs off and sends the same records again. A record
the server refuses for what it is (too large) is not retryable.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
import orjson

from marmotdb.cdc.sink import SinkError, SinkRecord
from marmotdb.config import SinkConfig

logger = logging.getLogger("marmotdb.cdc")
CONNECT_TIMEOUT_S = 5.0
RECONNECT_WAIT_S = 0.5
# JetStream API error codes that retrying cannot fix.
_PERMANENT_ERR_CODES = frozenset({10054})  # message size exceeds maximum allowed
NO_STREAM_ERR_CODE = -1  # ours: the server had no stream for the subject (a new server)


class _Call:
    """One ``publish`` call in flight: its acks counted as they arrive."""

    def __init__(self, ident: int, count: int, in_flight_max: int):
        self.ident, self.waiting = ident, count
        self.in_flight = 0
        self.room = asyncio.Event()  # set when in_flight drops below in_flight_max
        self.in_flight_max = in_flight_max
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.error: tuple[int, str] | None = None
        if count == 0:
            self.done.set_result(None)

    def acked(self) -> None:
        self.waiting -= 1
        self.in_flight -= 1
        if self.in_flight < self.in_flight_max:
            self.room.set()
        if self.waiting == 0:
            self.done.set_result(None)

    def fail(self, code: int, text: str) -> None:
        self.error = (code, text)
        self.room.set()
        self.done.set_result(None)


def stream_name(prefix: str) -> str:
    """A valid JetStream stream name for a prefix (no '.', '*', '>', spaces)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", prefix).upper()


class NatsSink:
    def __init__(self, config: SinkConfig):
        self.name = config.name
        self.url = config.url
        self.prefix = config.prefix
        self.stream = config.stream or stream_name(config.prefix)
        self.in_flight_max = config.in_flight_max
        self.timeout_s = config.publish_timeout_ms / 1000
        self._nc: Any = None
        self._js: Any = None
        self._stream_ready = False
        self._inbox = ""              # acks of our publishes arrive on <inbox>.<call>
        self._calls: dict[int, _Call] = {}
        self._call = 0

    async def start(self) -> None:
        if self._nc is None or self._nc.is_closed:
            try:
                self._nc = await nats.connect(
                    self.url, connect_timeout=CONNECT_TIMEOUT_S, allow_reconnect=True,
                    max_reconnect_attempts=-1, reconnect_time_wait=RECONNECT_WAIT_S,
                    name=f"marmotdb-cdc-{self.name}", error_cb=self._on_error)
            except Exception as exc:  # noqa: BLE001 - every connect failure is retried
                self._nc = None
                raise SinkError(f"NATS {self.url}: cannot connect: {exc!r}", retryable=True)
            self._js = self._nc.jetstream(timeout=self.timeout_s)
            self._inbox = self._nc.new_inbox()
            await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_ack)
        await self._ensure_stream()

    async def _on_error(self, exc: Exception) -> None:
        logger.debug("sink %s: NATS connection: %r", self.name, exc)

    async def _ensure_stream(self) -> None:
        if self._stream_ready:
            return
        try:
            try:
                await self._js.stream_info(self.stream)
            except nats.js.errors.NotFoundError:
                await self._js.add_stream(name=self.stream,
                                          subjects=[self.prefix, f"{self.prefix}.>"])
                logger.info("sink %s: created JetStream stream %s", self.name, self.stream)
        except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
            raise SinkError(f"NATS {self.url}: stream {self.stream}: {exc!r}",
                            retryable=True) from None
        self._stream_ready = True

    async def publish(self, records: Sequence[SinkRecord]) -> None:
        if self._nc is None:
            await self.start()
        await self._ensure_stream()
        self._call += 1
        call = _Call(self._call, len(records), self.in_flight_max)
        self._calls[call.ident] = call
        reply = f"{self._inbox}.{call.ident}"
        try:
            async with asyncio.timeout(self.timeout_s):
                for record in records:
                    if call.in_flight >= self.in_flight_max:
                        call.room.clear()
                        await call.room.wait()
                    if call.done.done():
                        break  # a message was refused: the rest waits for the retry
                    call.in_flight += 1
                    await self._nc.publish(record.topic, record.value or b"", reply=reply,
                                           headers=_headers(record))
                await call.done
        except nats.errors.MaxPayloadError:
            raise SinkError(f"NATS {self.url}: a record is larger than the server's max_payload",
                            retryable=False) from None
        except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
            raise self._retryable(exc) from None
        finally:
            self._calls.pop(call.ident, None)
            if not call.done.done():
                call.done.cancel()
        if call.error is not None:
            code, text = call.error
            if code in _PERMANENT_ERR_CODES:
                raise SinkError(f"NATS refused a record: {text}", retryable=False)
            if code == NO_STREAM_ERR_CODE:
                self._stream_ready = False
            raise SinkError(f"NATS {self.url}: {text}", retryable=True)

    async def _on_ack(self, msg: Any) -> None:
        """A JetStream publish ack (or error) for one message of a publish call."""
        call = self._calls.get(int(msg.subject.rsplit(".", 1)[1]))
        if call is None or call.done.done():
            return  # a call that already failed or timed out
        if msg.headers and msg.headers.get("Status") == "503":  # no responders: no stream
            call.fail(NO_STREAM_ERR_CODE, "no JetStream stream for this subject")
            return
        answer = orjson.loads(msg.data)
        error = answer.get("error")
        if error is not None:
            call.fail(error.get("err_code", 0), str(error.get("description", error)))
            return
        call.acked()

    def _retryable(self, exc: BaseException) -> SinkError:
        return SinkError(f"NATS {self.url}: {exc!r}", retryable=True)

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass


def _headers(record: SinkRecord) -> dict[str, str]:
    headers = {"Nats-Msg-Id": record.position, "Marmot-Position": record.position}
    if record.key is not None:
        headers["Marmot-Key"] = record.key.decode()
    if record.value is None:
        headers["Marmot-Tombstone"] = "true"
    return headers


def build_sink(config: SinkConfig) -> NatsSink:
    return NatsSink(config)
