"""JSON values in comparisons and CASTs as ORMs write them (SQLAlchemy's MySQL dialect sends
``CASE JSON_EXTRACT(d, '$.k') WHEN 'null' THEN NULL ELSE CAST(JSON_EXTRACT(d, '$.k') AS
DECIMAL(10, 2)) END`` and ``… WHEN true THEN true ELSE false END``): MySQL 8's semantics, where
MariaDB's differ (its JSON is text), so these are not differential tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marmotdb.mysql.types import FieldType
from tests.sql.sessions import rows, session


@pytest.fixture
def docs(server):
    s = session(server)
    s.execute("CREATE DATABASE shop")
    s.use("shop")
    s.execute("CREATE TABLE docs (id INT PRIMARY KEY, d JSON)")
    s.execute("""INSERT INTO docs VALUES (1, '{"t": true, "f": false, "n": 1234567.89, '
              '"s": "45", "w": "some", "z": null}')""")
    return s


def test_boolean_literals_compare_as_json_booleans(docs):
    assert rows(docs.execute(
        "SELECT JSON_EXTRACT(d, '$.t') = true, JSON_EXTRACT(d, '$.t') = FALSE, "
        "d->'$.f' = false, TRUE = d->'$.t', d->'$.w' = true FROM docs")) == [(1, 0, 1, 1, 0)]
    assert rows(docs.execute(
        "SELECT CASE JSON_EXTRACT(d, '$.t') WHEN 'null' THEN NULL WHEN true THEN true "
        "ELSE false END, CASE d->'$.f' WHEN true THEN 'y' ELSE 'n' END FROM docs")) == [
        (1, "n")]


def test_casts_to_numbers_read_a_json_strings_contents(docs):
    assert rows(docs.execute(
        "SELECT CAST(d->'$.s' AS SIGNED), CAST(JSON_EXTRACT(d, '$.s') AS DECIMAL(6, 2)), "
        "CAST(d->'$.t' AS UNSIGNED), CAST(d->'$.n' AS DECIMAL(10, 2)), "
        "CAST(d->'$.s' AS CHAR) FROM docs")) == [(45, "45.00", 1, "1234567.89", '"45"')]


def test_case_with_a_null_branch_and_a_decimal_cast_is_decimal(docs):
    result = docs.execute(
        "SELECT CASE JSON_EXTRACT(d, '$.n') WHEN 'null' THEN NULL "
        "ELSE CAST(JSON_EXTRACT(d, '$.n') AS DECIMAL(10, 2)) END AS v, "
        "IF(id = 2, NULL, CAST(d->'$.s' AS DECIMAL(6, 2))) AS w FROM docs")
    assert [c.type for c in result.columns] == [FieldType.NEWDECIMAL, FieldType.NEWDECIMAL]
    assert [tuple(Decimal(str(v)) for v in row) for row in rows(result)] == [
        (Decimal("1234567.89"), Decimal("45.00"))]


def test_two_json_values_compare_as_json_in_parentheses_too(docs):
    docs.execute("""INSERT INTO docs VALUES (2, '{"d": ["e", {"f": "g"}]}')""")
    assert rows(docs.execute(
        """SELECT id FROM docs WHERE JSON_EXTRACT(d, '$."d"[0]') = (JSON_EXTRACT(CAST("""
        """JSON_EXTRACT(d, '$."d"') AS JSON), '$[0]'))""")) == [(2,)]


def test_order_by_a_json_value_sorts_numbers_as_numbers(docs):
    for i, value in enumerate(['93', '-100.291', '9', '"b"', '"a"', 'true', 'null', '[1]'], 2):
        docs.execute(f"""INSERT INTO docs VALUES ({i}, '{{"ord": {value}}}')""")
    assert [r[0] for r in rows(docs.execute(
        "SELECT d->'$.ord' FROM docs WHERE id > 1 ORDER BY JSON_EXTRACT(d, '$.ord'), id"))] == [
        "null", "-100.291", "9", "93", '"a"', '"b"', "[1]", "true"]
