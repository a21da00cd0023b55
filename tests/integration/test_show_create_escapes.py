"""SHOW CREATE TABLE escapes what a client splits lines on inside comments and defaults, as
MySQL's append_unescaped does (SQLAlchemy's reflection parses the text line by line: a raw
carriage return in a comment made it warn "Unknown schema content"). The same table on MariaDB
in the differential group."""

from __future__ import annotations

import re
from typing import Any


CREATE = ("CREATE TABLE escapes_t (a VARCHAR(20) DEFAULT 'x\\ny' COMMENT 'col\\rwith\\nbreaks', "
          "b INT COMMENT 'it''s \\\\ fine') COMMENT 'table\\rwith\\r\\nescapes'")
EXPECTED = ["DEFAULT 'x\\ny'", "COMMENT 'col\\rwith\\nbreaks'", "COMMENT 'it''s \\\\ fine'",
            "COMMENT='table\\rwith\\r\\nescapes'"]


def _shown(conn: Any) -> list[str]:
    cursor = conn.cursor()
    cursor.execute("DROP DATABASE IF EXISTS escapes")
    cursor.execute("CREATE DATABASE escapes")
    cursor.execute("USE escapes")
    cursor.execute(CREATE)
    cursor.execute("SHOW CREATE TABLE escapes_t")
    text = cursor.fetchone()[1]
    cursor.execute("DROP DATABASE escapes")
    assert "\r" not in text
    return re.findall(r"(?:DEFAULT |COMMENT[= ])'(?:[^'\\]|''|\\.)*'", text)


def test_comments_and_defaults_are_escaped(each_server: Any) -> None:
    assert _shown(each_server) == EXPECTED
