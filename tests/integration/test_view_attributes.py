"""A view's ALGORITHM, SQL SECURITY and WITH … CHECK OPTION are kept: INFORMATION_SCHEMA.VIEWS
and SHOW CREATE VIEW give them back (a dump restored into MySQL must not turn an INVOKER view
into a DEFINER one); asked of marmotdb and, in the differential group, of MariaDB."""

from __future__ import annotations

from typing import Any

import pytest


pytestmark = pytest.mark.integration

STATEMENTS = [
    "DROP DATABASE IF EXISTS view_attributes", "CREATE DATABASE view_attributes",
    "USE view_attributes", "CREATE TABLE t (id INT)",
    "CREATE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW v1 AS SELECT id FROM t WHERE id > 0 "
    "WITH LOCAL CHECK OPTION",
    "CREATE VIEW v2 AS SELECT id FROM t WITH CHECK OPTION",
    "CREATE VIEW v3 AS SELECT id FROM t",
    "ALTER ALGORITHM=TEMPTABLE SQL SECURITY INVOKER VIEW v3 AS SELECT id FROM t",
]
EXPECTED = [("v1", "LOCAL", "INVOKER"), ("v2", "CASCADED", "DEFINER"), ("v3", "NONE", "INVOKER")]


def _answers(conn: Any) -> tuple[list[tuple], list[str]]:
    with conn.cursor() as cur:
        for statement in STATEMENTS:
            cur.execute(statement)
        cur.execute("SELECT TABLE_NAME, CHECK_OPTION, SECURITY_TYPE FROM information_schema."
                    "VIEWS WHERE TABLE_SCHEMA = 'view_attributes' ORDER BY TABLE_NAME")
        found = [tuple(row) for row in cur.fetchall()]
        shown = []
        for name in ("v1", "v2", "v3"):
            cur.execute(f"SHOW CREATE VIEW {name}")
            shown.append(cur.fetchone()[1])
        cur.execute("DROP DATABASE view_attributes")
    return found, shown


def _heads(shown: list[str]) -> list[tuple[str, str, str]]:
    """(ALGORITHM=…, SQL SECURITY …, the check option) of each SHOW CREATE VIEW text."""
    return [(text.split()[1], " ".join(text.split()[3:6]),
             text[text.rfind(" WITH "):] if " CHECK OPTION" in text else "") for text in shown]


HEADS = [("ALGORITHM=MERGE", "SQL SECURITY INVOKER", " WITH LOCAL CHECK OPTION"),
         ("ALGORITHM=UNDEFINED", "SQL SECURITY DEFINER", " WITH CASCADED CHECK OPTION"),
         ("ALGORITHM=TEMPTABLE", "SQL SECURITY INVOKER", "")]


def test_view_attributes_are_kept(each_server: Any) -> None:
    found, shown = _answers(each_server)
    assert found == EXPECTED
    assert _heads(shown) == HEADS
