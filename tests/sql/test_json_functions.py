"""MySQL's JSON functions (sql/functions/json.py) on values, without SQL: paths, MySQL's
equality and key order, JSON_TABLE rows."""

from __future__ import annotations

import json

import pytest

from marmotdb import errors
from marmotdb.sql.functions import json as json_functions
from marmotdb.sql.types import coltypes
from marmotdb.sql.functions.json import (
    json_arg,
    json_extract,
    json_member_of,
    json_overlaps,
    json_pretty,
    json_scalar,
    json_search,
    json_table_rows,
    json_value_of,
)


def test_json_paths() -> None:
    doc = '{"a": {"b": [10, 20, {"c": "x"}]}, "k y": 1}'
    assert json_extract(doc, "$.a.b[last]") == '{"c": "x"}'
    assert json_extract(doc, '$."k y"') == "1"
    assert json_extract(doc, "$.a.b[*]") == '[10, 20, {"c": "x"}]'
    assert json_extract(doc, "$**.c") == '["x"]'
    with pytest.raises(errors.MarmotError) as info:
        json_extract(doc, "a.b")
    assert info.value.code == 3143


def test_array_ranges_and_last() -> None:
    assert json_extract("[1, 2, 3, 4]", "$[1 to 2]") == "[2, 3]"
    assert json_extract("[1, 2, 3, 4]", "$[last-1 to last]") == "[3, 4]"
    assert json_extract("[1, 2, 3, 4]", "$[2 to 9]") == "[3, 4]"
    assert json_extract("[1, 2]", "$[last - 1]") == "1"
    assert json_extract('"s"', "$[0]") == '"s"'  # a scalar is an array of one


def test_json_text_is_canonical() -> None:
    assert coltypes.json_text({"bb": 1, "a": [True, None, 1.5], "ccc": {"z": 2}}) == \
        '{"a": [true, null, 1.5], "bb": 1, "ccc": {"z": 2}}'


def test_member_of_uses_json_equality() -> None:
    assert json_member_of(3, "[3, 4]") == 1
    assert json_member_of(3.0, "[3, 4]") == 1  # numbers by value
    assert json_member_of("3", "[3, 4]") == 0  # an SQL string is a JSON string
    assert json_member_of(1, "[true]") == 0  # booleans only equal booleans
    assert json_member_of(json_arg("[1, 2]"), "[[1, 2], 3]") == 1
    assert json_member_of("a", '"a"') == 1  # a scalar document is an array of one
    assert json_member_of(None, "[1]") is None


def test_overlaps() -> None:
    assert json_overlaps("[1, 3, 5]", "[2, 5, 7]") == 1
    assert json_overlaps("[1, 3]", "[2, 4]") == 0
    assert json_overlaps('{"a": 1, "b": 2}', '{"b": 2, "c": 3}') == 1
    assert json_overlaps('{"a": 1}', '{"a": 2}') == 0
    assert json_overlaps("5", "[1, 5]") == 1
    assert json_overlaps('"x"', '"x"') == 1


def test_search_visits_members_in_mysql_order_and_honours_escape_and_paths() -> None:
    doc = '{"zz": "abc", "a": ["abc", {"k": "xbc"}]}'
    assert json_search(doc, "one", "abc") == '"$.a[0]"'
    assert json_search(doc, "all", "%bc") == '["$.a[0]", "$.a[1].k", "$.zz"]'
    assert json_search(doc, "all", "%bc", None, "$.a") == '["$.a[0]", "$.a[1].k"]'
    assert json_search('["a%c", "abc"]', "all", "a|%c", "|") == '"$[0]"'
    with pytest.raises(errors.MarmotError) as info:
        json_search(doc, "some", "x")
    assert info.value.code == 3150


def test_pretty_prints_keys_in_mysql_order() -> None:
    assert json_pretty('{"bb": [1, 2], "a": {}}') == \
        '{\n  "a": {},\n  "bb": [\n    1,\n    2\n  ]\n}'


def test_json_value_and_scalar() -> None:
    assert json_value_of('{"a": "x"}', "$.a") == "x"
    assert json_value_of('{"a": 1.5}', "$.a") == "1.5"
    assert json_value_of('{"a": [1]}', "$.a") is None  # not a scalar: NULL ON ERROR
    assert json_scalar('"x"') == "x" and json_scalar("2") == 2
    assert json_scalar("true") == "true"  # a JSON boolean never equals 1 or 'x'


def _spec(*columns: list[str]) -> str:
    return json.dumps(list(columns)).encode().hex()


def test_table_rows_convert_cells_and_apply_on_empty_and_on_error() -> None:
    spec = _spec(["ordinality", "n", "", "", "", ""],
                 ["path", "a", "int", "$.a", "DEFAULT:7", "DEFAULT:-1"],
                 ["exists", "e", "int", "$.a", "NULL", "NULL"],
                 ["path", "d", "json", "$", "NULL", "NULL"],
                 ["path", "s", "varchar(3)", "$.s", "NULL", "NULL"])
    rows = json.loads(json_table_rows('[{"a": "1", "s": "ab"}, {"a": "x"}, {}]', "$[*]",
                                      spec) or "")
    assert rows == [[1, 1, 1, '{"a": "1", "s": "ab"}', "ab"],
                    [2, -1, 1, '{"a": "x"}', None],
                    [3, 7, 0, "{}", None]]


def test_table_rows_error_on_empty() -> None:
    spec = _spec(["path", "a", "int", "$.a", "ERROR", "NULL"])
    with pytest.raises(errors.MarmotError) as info:
        json_table_rows("[{}]", "$[*]", spec)
    assert info.value.code == 3665


def test_unsupported_json_functions_are_named() -> None:
    assert "JSON_SCHEMA_VALID" in json_functions.UNSUPPORTED_JSON_FUNCTIONS


def test_integers_beyond_64_bits_become_doubles_as_in_mysql() -> None:
    assert json_extract('{"a": 18446744073709551616}', "$.a") == "1.8446744073709552e19"
    assert json_extract("[18446744073709551615, -9223372036854775808]", "$") == \
        "[18446744073709551615, -9223372036854775808]"
