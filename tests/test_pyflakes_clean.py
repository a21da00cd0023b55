"""``python -m pyflakes marmotdb`` finds nothing: unused imports and names, undefined names
and redefinitions are caught here rather than by a reader (STYLE.md: ruff/pyflakes clean).
Pyflakes does not read ``# noqa`` comments, so an import kept for its side effect must be
used (peer/catalog.py's ``OWNERS``), and a re-export must have an importer."""

from __future__ import annotations

import io
import pathlib

from pyflakes.api import checkRecursive
from pyflakes.reporter import Reporter

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "marmotdb"


def test_pyflakes_finds_nothing_in_the_package() -> None:
    out, err = io.StringIO(), io.StringIO()
    found = checkRecursive([str(PACKAGE)], Reporter(out, err))
    assert found == 0 and not err.getvalue(), out.getvalue() + err.getvalue()
