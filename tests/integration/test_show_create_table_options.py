"""Table options MySQL keeps are shown back by SHOW CREATE TABLE, in MySQL's order, after CREATE
and after ALTER; PASSWORD is accepted and not shown, as in MySQL 8 (SQLAlchemy's
test_reflection_with_table_options reflects AVG_ROW_LENGTH, CONNECTION and STATS_SAMPLE_PAGES
from the text). The same statements on MariaDB in the differential group."""

from __future__ import annotations

from typing import Any


CREATE = ("CREATE TABLE options_t (c1 INT) ENGINE=InnoDB COMMENT='x''y' DEFAULT CHARSET=utf8mb4 "
          "AVG_ROW_LENGTH=3 PASSWORD='secret' CONNECTION='fish' STATS_SAMPLE_PAGES=4")
ALTER = ("ALTER TABLE options_t ROW_FORMAT=DYNAMIC, MAX_ROWS=100, CHECKSUM=1, PACK_KEYS=0, "
         "STATS_PERSISTENT=DEFAULT, MIN_ROWS=0, DELAY_KEY_WRITE=1")
CREATED = "AVG_ROW_LENGTH=3 STATS_SAMPLE_PAGES=4 COMMENT='x''y' CONNECTION='fish'"
ALTERED = ("MAX_ROWS=100 AVG_ROW_LENGTH=3 PACK_KEYS=0 STATS_SAMPLE_PAGES=4 CHECKSUM=1 "
           "DELAY_KEY_WRITE=1 ROW_FORMAT=DYNAMIC COMMENT='x''y' CONNECTION='fish'")


def _options(cursor: Any) -> str:
    cursor.execute("SHOW CREATE TABLE options_t")
    text = cursor.fetchone()[1]
    return text.split(" COLLATE=", 1)[1].partition(" ")[2]


def _shown(conn: Any) -> tuple[str, str]:
    cursor = conn.cursor()
    cursor.execute("DROP DATABASE IF EXISTS table_options")
    cursor.execute("CREATE DATABASE table_options")
    cursor.execute("USE table_options")
    cursor.execute(CREATE)
    created = _options(cursor)
    cursor.execute(ALTER)
    altered = _options(cursor)
    cursor.execute("DROP DATABASE table_options")
    return created, altered


def test_table_options_are_shown_back(each_server: Any) -> None:
    assert _shown(each_server) == (CREATED, ALTERED)
