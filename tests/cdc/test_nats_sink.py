"""The NATS JetStream sink against a real nats-server: stream creation, order, dedup by id,
retryable failures while the broker is down, resumption after it restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from marmotdb.cdc.sink import SinkError, SinkRecord
from marmotdb.config import SinkConfig
from marmotdb.runtime.cdc_nats import NatsSink
from tests.cdc.nats_broker import NatsBroker, read_stream


def records(start: int, count: int) -> list[SinkRecord]:
    return [SinkRecord(f"pfx.db.t{i % 3}", b'{"id":%d}' % i,
                       None if i % 5 == 4 else b'{"v":%d}' % i, f"1-db-{i}-0")
            for i in range(start, start + count)]


@pytest.fixture
def broker(tmp_path: Path):
    b = NatsBroker(tmp_path / "nats").start()
    yield b
    b.stop()


def test_publish_creates_the_stream_keeps_order_and_deduplicates(broker: NatsBroker) -> None:
    async def scenario() -> list:
        sink = NatsSink(SinkConfig(name="s", kind="nats", url=broker.url, prefix="pfx",
                                   in_flight_max=16, publish_timeout_ms=5000))
        await sink.start()
        await sink.publish(records(0, 300))
        await sink.publish(records(250, 100))  # 50 already stored: the server drops them
        await sink.close()
        return await read_stream(broker.url, "PFX", expect_min=350)
    messages = asyncio.run(scenario())
    assert [m.headers["Marmot-Position"] for m in messages] == [f"1-db-{i}-0" for i in range(350)]
    assert [m.subject for m in messages[:3]] == ["pfx.db.t0", "pfx.db.t1", "pfx.db.t2"]
    tombstone = messages[4]
    assert tombstone.data == b"" and tombstone.headers["Marmot-Tombstone"] == "true"
    assert tombstone.headers["Marmot-Key"] == '{"id":4}'


def test_a_down_broker_is_a_retryable_error_and_a_restart_resumes(broker: NatsBroker) -> None:
    async def scenario() -> list:
        sink = NatsSink(SinkConfig(name="s", kind="nats", url=broker.url, prefix="pfx",
                                   publish_timeout_ms=1000))
        await sink.start()
        await sink.publish(records(0, 10))
        broker.stop()
        with pytest.raises(SinkError) as failed:
            await sink.publish(records(10, 10))
        assert failed.value.retryable
        broker.start()
        for _ in range(40):  # the client reconnects by itself; the publisher retries
            try:
                await sink.publish(records(10, 10))
                break
            except SinkError as exc:
                assert exc.retryable
                await asyncio.sleep(0.25)
        await sink.close()
        return await read_stream(broker.url, "PFX", expect_min=20)
    messages = asyncio.run(scenario())
    assert [m.headers["Marmot-Position"] for m in messages] == [f"1-db-{i}-0" for i in range(20)]


def test_a_record_larger_than_the_server_takes_is_not_retryable(broker: NatsBroker) -> None:
    async def scenario() -> SinkError:
        sink = NatsSink(SinkConfig(name="s", kind="nats", url=broker.url, prefix="pfx"))
        await sink.start()
        try:
            await sink.publish([SinkRecord("pfx.db.t", b"{}", b"x" * (2 << 20), "1-db-1-0")])
        except SinkError as exc:
            return exc
        finally:
            await sink.close()
        raise AssertionError("a 2 MiB message was accepted")
    assert not asyncio.run(scenario()).retryable
