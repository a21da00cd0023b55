"""EntropyPool hands out the OS's random bytes a page at a time, each byte once."""

from __future__ import annotations

from marmotdb.runtime import entropy_pool
from marmotdb.runtime.entropy_pool import EntropyPool


def test_draws_are_the_pages_bytes_in_order_and_never_repeat(monkeypatch) -> None:
    pages = [bytes(range(256)) * 16, bytes(range(255, -1, -1)) * 16]
    monkeypatch.setattr(entropy_pool.os, "urandom", lambda n: pages.pop(0)[:n])
    pool = EntropyPool()
    first = [pool.randbytes(32) for _ in range(128)]  # exactly one page
    assert b"".join(first) == bytes(range(256)) * 16
    assert pool.randbytes(20) == bytes(range(255, 235, -1))  # the next page, from its start
    assert pages == []


def test_a_draw_larger_than_a_page() -> None:
    pool = EntropyPool()
    big = pool.randbytes(entropy_pool.POOL_BYTES + 7)
    assert len(big) == entropy_pool.POOL_BYTES + 7 and len(pool.randbytes(20)) == 20
    assert pool.randbytes(20) != pool.randbytes(20)
