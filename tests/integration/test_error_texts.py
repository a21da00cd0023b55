"""MySQL 8.0's error texts where tools parse them, through a real client (PyMySQL).

What reaches the client today: errors.from_sqlite is called by the session without a
StatementContext, so a duplicate primary key names MySQL 8.0's key ('t.PRIMARY') but not the
value; data too long / out of range / unknown column come from the translator with MySQL's
words. tests/test_errors.py covers the full texts (values, key and constraint names, the
database in 1146) given the context the session is to pass (see docs/errors.md).
"""

from __future__ import annotations

import pymysql
import pytest


@pytest.mark.parametrize("sql, code, text", [
    ("INSERT INTO et VALUES (1, 'a', 1)", 1062, "for key 'et.PRIMARY'"),
    ("INSERT INTO et VALUES (2, 'abcdef', 1)", 1406, "Data too long for column 'name' at row 1"),
    ("INSERT INTO et VALUES (3, 'a', 300)", 1264,
     "Out of range value for column 'small' at row 1"),
    ("SELECT nope FROM et", 1054, "Unknown column 'nope' in 'field list'"),
])
def test_error_texts_through_pymysql(marmot_server, sql: str, code: int, text: str) -> None:
    conn = marmot_server.connect(autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS error_texts")
    cur.execute("USE error_texts")
    cur.execute("CREATE TABLE IF NOT EXISTS et (id INT PRIMARY KEY, name VARCHAR(3), "
                "small TINYINT)")
    cur.execute("INSERT IGNORE INTO et VALUES (1, 'a', 1)")
    with pytest.raises(pymysql.MySQLError) as info:
        cur.execute(sql)
    assert info.value.args[0] == code and text in info.value.args[1], info.value.args
    conn.close()
