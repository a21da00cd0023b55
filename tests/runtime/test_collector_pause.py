"""The cycle collector is off exactly while long writes run (runtime/collector_pause.py)."""

from __future__ import annotations

import gc

import pytest

from marmotdb.runtime.collector_pause import CollectorPause


@pytest.fixture
def collector_enabled():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_off_from_the_first_hold_to_the_last_release(collector_enabled) -> None:
    pause = CollectorPause()
    pause.hold()
    pause.hold()  # a second long write
    assert not gc.isenabled()
    pause.release()
    assert not gc.isenabled()
    pause.release()
    assert gc.isenabled() and pause.holders == 0


def test_a_collector_disabled_before_stays_disabled(collector_enabled) -> None:
    gc.disable()
    pause = CollectorPause()
    pause.hold()
    pause.release()
    assert not gc.isenabled()
