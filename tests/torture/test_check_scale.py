"""The checker keeps up with long runs: generated correct histories of a long run's size are
checked in bounded time and pass (slow: histories are generated in Python first)."""

from __future__ import annotations

import random
import time

import pytest

from marmotdb.torture.check.suite import check_history
from tests.torture import generated

CHECK_S_MAX = 60  # generous: the machine is shared; ~5 s each when it is idle


@pytest.mark.slow
def test_twenty_thousand_list_append_transactions() -> None:
    history = generated.list_append_history(random.Random(7), processes=20, ops=20_000,
                                            keys=100).history()
    started = time.perf_counter()
    verdict = check_history(history)
    assert time.perf_counter() - started < CHECK_S_MAX
    assert verdict.valid, [a for r in verdict.results for a in r.violations][:5]


@pytest.mark.slow
def test_twenty_thousand_register_operations() -> None:
    history = generated.register_history(random.Random(7), processes=10, ops=20_000,
                                         keys=20).history()
    started = time.perf_counter()
    verdict = check_history(history)
    assert time.perf_counter() - started < CHECK_S_MAX
    assert verdict.valid
    assert verdict.result("register").stats["keys_linearizability_checked"] == 20
