"""Suite-wide options and a summary a newcomer can read.

Tests that cannot or should not run in this invocation are not collected (deselected) rather
than reported one by one as skipped, and the run ends with one line per group saying how many
and how to run them:

- ``slow`` tests (long fault tests, seed sweeps): opt-in with ``--run-slow``;
- ``differential`` tests (every translation fixture and error text against a real MariaDB,
  ~510): need ``MARMOTDB_DIFFERENTIAL_MARIADB=host:port``.

Skips that remain are the machine's (a client or server not installed); pytest's ``-ra``
summary folds them by reason.
"""

from __future__ import annotations

import os

import pytest

_NOT_RUN = pytest.StashKey[dict[str, int]]()
_GROUPS = {
    "slow": ("slow tests (long fault tests, seed sweeps)", "add --run-slow"),
    "differential": ("differential tests (translation fixtures and error texts against "
                     "MariaDB)",
                     "set MARMOTDB_DIFFERENTIAL_MARIADB=host:port, a server from "
                     "`python bench/mariadb_server.py`"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (long fault tests, seed sweeps)")


def _excluded_groups(config: pytest.Config) -> set[str]:
    groups = set()
    if not config.getoption("--run-slow"):
        groups.add("slow")
    if not os.environ.get("MARMOTDB_DIFFERENTIAL_MARIADB"):
        groups.add("differential")
    return groups


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    excluded = _excluded_groups(config)
    counts = {group: 0 for group in excluded}
    kept, deselected = [], []
    for item in items:
        group = next((g for g in excluded if g in item.keywords), None)
        if group is None:
            kept.append(item)
        else:
            counts[group] += 1
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept
    config.stash[_NOT_RUN] = counts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    counts = config.stash.get(_NOT_RUN, {})
    for group, count in sorted(counts.items()):
        if count:
            what, how = _GROUPS[group]
            terminalreporter.write_line(f"not run: {count} {what}; to run them, {how}")
