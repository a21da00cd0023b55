"""scripts/migrate_sql_layout.py: old sql/ imports move to the new layout; new code stays as it is."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
_SPEC = importlib.util.spec_from_file_location("migrate_sql_layout",
                                               ROOT / "scripts" / "migrate_sql_layout.py")
migrate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(migrate)
migrate.read_submodules(ROOT)

OLD = '''from marmotdb.sql import catalog, schema, variables as sysvars
from marmotdb.sql.catalog import CatalogContext, answer
from marmotdb.sql.catalog_snapshot import snapshot  # the catalog's view
from marmotdb.sql.functions import FunctionContext, register_functions, _nulls


def f():
    from marmotdb.sql import functions
    return functions.week(1), "marmotdb.sql.rewrites_ddl.DdlParser", "see sql/uint64.py"
'''
NEW = '''from marmotdb.sql.catalog import dispatch as catalog
from marmotdb.sql import schema
from marmotdb.sql.variables import scopes as sysvars
from marmotdb.sql.catalog.context import CatalogContext
from marmotdb.sql.catalog.dispatch import answer
from marmotdb.sql.catalog.snapshot import snapshot  # the catalog's view
from marmotdb.sql.functions.context import FunctionContext, nulls as _nulls
from marmotdb.sql.functions.registry import register_functions


def f():
    from marmotdb.sql.functions import registry as functions
    return functions.week(1), "marmotdb.sql.rewrites.ddl.DdlParser", "see sql/types/uint64.py"
'''


def test_old_imports_and_references_move_to_their_new_homes() -> None:
    assert migrate.rewrite_python(OLD) == NEW


def test_a_name_that_left_the_registry_is_reported() -> None:
    assert migrate.unsafe_uses(NEW) == [
        "line 13: functions.week -> marmotdb.sql.functions.dates.week"]


@pytest.mark.parametrize("path", sorted(
    str(p.relative_to(ROOT)) for folder in ("marmotdb/sql", "tests/sql", "bench")
    for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md")))
def test_code_on_the_new_layout_is_left_alone(path: str) -> None:
    source = (ROOT / path).read_text()
    rewrite = migrate.rewrite_python if path.endswith(".py") else migrate.rewrite_text
    assert rewrite(source) == source


def test_a_file_with_a_conflict_left_in_it_is_skipped(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "conflicted.py"
    path.write_text("<<<<<<< HEAD\nfrom marmotdb.sql import coltypes\n=======\n>>>>>>> x\n")
    said = migrate.migrate_file(path, "conflicted.py")
    assert said == ["conflicted.py: skipped, not valid Python (invalid syntax, line 1)"]
    assert path.read_text().startswith("<<<<<<< HEAD")


def test_a_file_is_rewritten_in_place_and_its_unsafe_uses_told(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "old.py"
    path.write_text(OLD)
    assert migrate.migrate_file(path, "old.py") == [
        "rewrote old.py",
        "old.py: line 13: functions.week -> marmotdb.sql.functions.dates.week (fix by hand)"]
    assert path.read_text() == NEW
