"""The suite's summary: slow and differential tests are deselected with one line each saying
how to run them, not listed one by one as skipped (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TESTS = '''
import pytest

@pytest.mark.slow
def test_slow(): pass

@pytest.mark.differential
def test_against_mariadb(): pass

def test_plain(): pass
'''


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(TESTS)
    base = {k: v for k, v in os.environ.items() if k != "MARMOTDB_DIFFERENTIAL_MARIADB"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-W", "ignore::pytest.PytestUnknownMarkWarning", *args],
                            cwd=tmp_path, capture_output=True, text=True, check=False,
                            env={**base, **(env or {})}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_default_run_names_what_it_left_out_and_how(tmp_path: Path) -> None:
    out = run(tmp_path)
    assert "1 passed, 2 deselected" in out and "skipped" not in out
    assert "not run: 1 slow tests (long fault tests, seed sweeps); to run them, add --run-slow" \
        in out
    assert "not run: 1 differential tests" in out and "MARMOTDB_DIFFERENTIAL_MARIADB" in out


def test_opting_in_runs_them(tmp_path: Path) -> None:
    out = run(tmp_path, "--run-slow", env={"MARMOTDB_DIFFERENTIAL_MARIADB": "127.0.0.1:1"})
    assert "3 passed" in out and "not run" not in out
