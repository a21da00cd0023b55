"""Runtime tests: ``slow`` ones run only with ``--run-slow`` or MARMOTDB_RUN_SLOW=1."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # getoption with a default: --run-slow may be registered by a root conftest (or not at all).
    if config.getoption("--run-slow", default=False) or os.environ.get("MARMOTDB_RUN_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or MARMOTDB_RUN_SLOW=1")
    here = os.path.dirname(__file__)
    for item in items:
        if "slow" in item.keywords and str(item.path).startswith(here):
            item.add_marker(skip)
