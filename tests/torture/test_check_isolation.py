"""The checker shares no code with the database it checks: every module of
``marmotdb/torture/check/`` is parsed (not imported) and may import only the standard library
and ``marmotdb.torture.check`` itself. A checker built on the product's own code could share
its bugs and pass them."""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

CHECK_DIR = pathlib.Path(__file__).resolve().parents[2] / "marmotdb" / "torture" / "check"
OWN_PACKAGE = "marmotdb.torture.check"


def foreign_imports(source: str, module: str) -> list[str]:
    package = module.rsplit(".", 1)[0]  # for __init__ too: "pkg.__init__" -> "pkg"
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            own = name == OWN_PACKAGE or name.startswith(OWN_PACKAGE + ".")
            stdlib = name.split(".")[0] in sys.stdlib_module_names or name == "__future__"
            if not (own or stdlib):
                found.append(f"line {node.lineno}: {name}")
    return found


def modules() -> list[pathlib.Path]:
    return sorted(CHECK_DIR.glob("*.py"))


def test_the_scan_sees_the_checker_and_catches_foreign_imports() -> None:
    assert {"history.py", "list_append.py", "report.py"} <= {p.name for p in modules()}
    bad = ("import marmotdb.hlc\nfrom marmotdb.storage import checksum\nimport apsw\n"
           "from .. import cluster\nfrom marmotdb.torture import netns\n")
    assert len(foreign_imports(bad, f"{OWN_PACKAGE}.x")) == 5
    good = (f"import json\nfrom collections import deque\nfrom {OWN_PACKAGE} import graph\n"
            "from . import plot\nfrom __future__ import annotations\n")
    assert foreign_imports(good, f"{OWN_PACKAGE}.x") == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_checker_module_imports_only_stdlib_and_itself(path: pathlib.Path) -> None:
    module = f"{OWN_PACKAGE}.{path.stem}"
    assert foreign_imports(path.read_text(), module) == []
