"""Suite-wide options and a summary a newcomer can read.

Tests that cannot or should not run in this invocation are not collected (deselected) rather
than reported one by one as skipped, and the run ends with one line per group saying how many
and how to run them:

- ``slow`` tests (long fault tests, seed sweeps): opt-in with ``--run-slow``;
- ``differential`` tests (every translation fixture, error text and a set of result sets against
  a real MariaDB, ~620): run by default against a private MariaDB the session starts
  (tests/differential.py); left out only when MariaDB's server is not installed (the line says
  so) or with ``--no-differential``; ``--differential`` turns their absence into an error.

Skips that remain are the machine's (a client or server not installed); pytest's ``-ra``
summary folds them by reason.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.differential"]

_NOT_RUN = pytest.StashKey[dict[str, tuple[int, str]]]()
_GROUPS = {
    "slow": "slow tests (long fault tests, seed sweeps)",
    "differential": "differential tests (translation fixtures, error texts and result sets "
                    "against MariaDB)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (long fault tests, seed sweeps)")


def _excluded_groups(config: pytest.Config) -> dict[str, str]:
    """The groups this session leaves out, each with why / how to run them."""
    groups = {}
    if not config.getoption("--run-slow"):
        groups["slow"] = "to run them, add --run-slow"
    differential = config.pluginmanager.get_plugin("tests.differential")
    why_not = differential.unavailable_reason(config)
    if why_not:
        groups["differential"] = why_not
    return groups


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    excluded = _excluded_groups(config)
    counts = dict.fromkeys(excluded, 0)
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
    config.stash[_NOT_RUN] = {group: (counts[group], why) for group, why in excluded.items()}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    for group, (count, why) in sorted(config.stash.get(_NOT_RUN, {}).items()):
        if count:
            terminalreporter.write_line(f"not run: {count} {_GROUPS[group]}; {why}")
