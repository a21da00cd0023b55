"""EXPLAIN in MySQL 8's three formats, EXPLAIN ANALYZE, and the plan reader (explain*.py).

MariaDB's EXPLAIN has another shape (no partitions/filtered, other access names), so these
expectations are MySQL 8's documented ones, checked here without a differential run."""

from __future__ import annotations

import json

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.explain import statement as explain
from marmotdb.sql.explain.plan import read_plan
from marmotdb.sql.results import Rows
from marmotdb.users import User
from tests.sql.session_support import database_session, new_session, server_state

TRADITIONAL = ["id", "select_type", "table", "partitions", "type", "possible_keys", "key",
               "key_len", "ref", "rows", "filtered", "Extra"]


@pytest.fixture
def server(tmp_path):
    state = server_state(tmp_path, [User("root", "x", {"*": "admin"}),
                                    User("reader", "x", {"shop": "r"})])
    yield state
    state.close()


@pytest.fixture
def shop(server):
    return database_session(
        server, "shop", "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, a INT, "
        "b VARCHAR(10), KEY ia (a), UNIQUE KEY ub (b))",
        "CREATE TABLE u (id INT PRIMARY KEY, tid INT NOT NULL, c TEXT, KEY itid (tid))",
        "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
        "INSERT INTO u VALUES (1, 1, 'p'), (2, 1, 'q')")


def table(result) -> list[dict]:
    assert isinstance(result, Rows), result
    names = [c.name for c in result.columns]
    assert names == TRADITIONAL
    return [dict(zip(names, row)) for row in result.rows]


def text(result) -> str:
    assert isinstance(result, Rows) and [c.name for c in result.columns] == ["EXPLAIN"]
    [(value,)] = result.rows
    return value


def error_code(call) -> int:
    with pytest.raises(MarmotError) as info:
        call()
    return info.value.code


# ---------------------------------------------------------------- TRADITIONAL

def test_full_scan(shop):
    [row] = table(shop.execute("EXPLAIN SELECT * FROM t"))
    assert row == {"id": 1, "select_type": "SIMPLE", "table": "t", "partitions": None,
                   "type": "ALL", "possible_keys": None, "key": None, "key_len": None,
                   "ref": None, "rows": 3, "filtered": 100.0, "Extra": None}


def test_primary_key_lookup_is_const(shop):
    [row] = table(shop.execute("EXPLAIN SELECT * FROM t WHERE id = 2"))
    assert (row["type"], row["key"], row["key_len"], row["ref"], row["rows"]) == \
        ("const", "PRIMARY", "4", "const", 1)


def test_secondary_index_lookup_with_mysql_key_name_and_length(shop):
    [row] = table(shop.execute("EXPLAIN SELECT * FROM t WHERE a = 2"))
    assert (row["type"], row["possible_keys"], row["key"], row["key_len"], row["ref"]) == \
        ("ref", "ia", "ia", "5", "const")  # INT: 4 bytes, +1 nullable
    [row] = table(shop.execute("EXPLAIN SELECT * FROM t WHERE b = 'x'"))
    assert (row["type"], row["key"], row["key_len"]) == ("const", "ub", "43")  # 10*4+2+1


def test_covering_range(shop):
    [row] = table(shop.execute("EXPLAIN SELECT a FROM t WHERE a > 2"))
    assert (row["type"], row["key"], row["Extra"]) == ("range", "ia", "Using where; Using index")


def test_join_refs_name_the_joined_column(shop):
    rows = table(shop.execute("EXPLAIN SELECT * FROM t x JOIN u y ON y.tid = x.id "
                              "WHERE x.a = 1"))
    assert [(r["table"], r["type"], r["key"], r["ref"]) for r in rows] == [
        ("x", "ref", "ia", "const"), ("y", "ref", "itid", "shop.x.id")]


def test_filesort_and_temporary(shop):
    [row] = table(shop.execute("EXPLAIN SELECT c, COUNT(*) FROM u GROUP BY c ORDER BY c"))
    assert row["Extra"] == "Using temporary"
    [row] = table(shop.execute("EXPLAIN SELECT * FROM u ORDER BY c"))
    assert row["Extra"] == "Using filesort"


def test_no_tables_and_optimized_away(shop):
    [row] = table(shop.execute("EXPLAIN SELECT 1 + 1"))
    assert (row["table"], row["Extra"]) == (None, "No tables used")
    [row] = table(shop.execute("EXPLAIN SELECT @@version"))
    assert row["Extra"] == "No tables used"
    [row] = table(shop.execute("EXPLAIN SELECT MAX(a) FROM t"))
    assert row["Extra"] == "Select tables optimized away"


def test_union_parts_and_result(shop):
    rows = table(shop.execute("EXPLAIN SELECT a FROM t UNION SELECT tid FROM u"))
    assert [(r["id"], r["select_type"], r["table"]) for r in rows] == [
        (1, "PRIMARY", "t"), (2, "UNION", "u"), (None, "UNION RESULT", "<union1,2>")]
    assert rows[2]["Extra"] == "Using temporary"
    rows = table(shop.execute("EXPLAIN (SELECT a FROM t) UNION ALL (SELECT tid FROM u)"))
    assert rows[2]["Extra"] is None


def test_derived_table_and_subqueries(shop):
    rows = table(shop.execute("EXPLAIN SELECT * FROM (SELECT a, COUNT(*) n FROM t GROUP BY a) d "
                              "WHERE n > 1"))
    assert [(r["id"], r["select_type"], r["table"]) for r in rows] == [
        (1, "PRIMARY", "<derived2>"), (2, "DERIVED", "t")]
    rows = table(shop.execute("EXPLAIN SELECT *, (SELECT MAX(c) FROM u WHERE u.tid = t.id) "
                              "FROM t"))
    assert [(r["select_type"], r["table"], r["ref"]) for r in rows] == [
        ("PRIMARY", "t", None), ("DEPENDENT SUBQUERY", "u", "shop.t.id")]


def test_writes_are_explained_and_never_run(shop):
    [row] = table(shop.execute("EXPLAIN UPDATE t SET b = 'q' WHERE a = 2"))
    assert (row["select_type"], row["table"], row["type"], row["key"]) == \
        ("UPDATE", "t", "ref", "ia")
    # UPDATE … ORDER BY runs row by row: explained as the one ordered read of its rows
    [row] = table(shop.execute("EXPLAIN UPDATE t SET b = 'q' WHERE a > 2 ORDER BY id DESC"))
    [read] = table(shop.execute("EXPLAIN SELECT id FROM t WHERE a > 2 ORDER BY id DESC"))
    assert row == {**read, "select_type": "UPDATE"}
    [row] = table(shop.execute("EXPLAIN DELETE FROM t WHERE id = 2"))
    assert (row["select_type"], row["type"]) == ("DELETE", "const")
    rows = table(shop.execute("EXPLAIN INSERT INTO t (a) SELECT tid FROM u"))
    assert [(r["id"], r["select_type"], r["table"], r["type"]) for r in rows] == [
        (1, "INSERT", "t", "ALL"), (1, "SIMPLE", "u", "index")]
    [row] = table(shop.execute("EXPLAIN REPLACE INTO t (id, a) VALUES (1, 9)"))
    assert (row["select_type"], row["rows"]) == ("REPLACE", None)
    result = shop.execute("SELECT id, a, b FROM t ORDER BY id")
    assert result.rows == [(1, 1, "x"), (2, 2, "y"), (3, 3, "z")]


def test_describe_is_a_synonym_and_tables_still_describe(shop):
    assert table(shop.execute("DESCRIBE SELECT * FROM t"))[0]["type"] == "ALL"
    result = shop.execute("EXPLAIN t")
    assert [c.name for c in result.columns][:2] == ["Field", "Type"]
    assert [r[0] for r in shop.execute("DESC t").rows] == ["id", "a", "b"]


def test_index_merge(shop):
    [row] = table(shop.execute("EXPLAIN SELECT * FROM t WHERE a = 1 OR b = 'x'"))
    assert (row["type"], row["key"]) == ("index_merge", "ia,ub")


# ---------------------------------------------------------------- JSON / TREE / ANALYZE

def test_json_format(shop):
    document = json.loads(text(shop.execute(
        "EXPLAIN FORMAT=JSON SELECT * FROM t x JOIN u y ON y.tid = x.id WHERE x.a = 1 "
        "ORDER BY y.c")))
    block = document["query_block"]
    assert block["select_id"] == 1
    loop = block["ordering_operation"]["nested_loop"]
    assert [t["table"]["table_name"] for t in loop] == ["x", "y"]
    assert loop[1]["table"]["ref"] == ["shop.x.id"]
    union = json.loads(text(shop.execute(
        "EXPLAIN FORMAT='json' SELECT a FROM t UNION SELECT tid FROM u")))
    assert union["query_block"]["union_result"]["table_name"] == "<union1,2>"


def test_tree_format(shop):
    tree = text(shop.execute("EXPLAIN FORMAT=TREE SELECT * FROM t x JOIN u y "
                             "ON y.tid = x.id WHERE x.a = 1"))
    assert tree == ("-> Nested loop inner join\n"
                    "    -> Index lookup on x using ia (a=?)  (rows=1)\n"
                    "    -> Index lookup on y using itid (tid=?)  (rows=1)\n")


def test_explain_analyze_runs_the_select_and_reports_rows(shop):
    tree = text(shop.execute("EXPLAIN ANALYZE SELECT * FROM t WHERE a > 1"))
    first = tree.splitlines()[0]
    assert first.startswith("-> Index range scan on t using ia over (a>?)")
    assert first.endswith("(actual time=0.000..0.000 rows=2 loops=1)")  # the fixed test clock


def test_refusals_and_errors(shop, server):
    assert error_code(lambda: shop.execute("EXPLAIN FORMAT=XML SELECT 1")) == 1791
    assert error_code(lambda: shop.execute("EXPLAIN ANALYZE FORMAT=JSON SELECT 1")) == 1235
    assert error_code(lambda: shop.execute("EXPLAIN ANALYZE DELETE FROM t")) == 1235
    assert error_code(lambda: shop.execute("EXPLAIN FOR CONNECTION 1")) == 1235
    assert error_code(lambda: shop.execute("EXPLAIN SELECT * FROM nope")) == 1146
    assert error_code(lambda: shop.execute("EXPLAIN FORMAT=JSON CREATE TABLE z (a INT)")) == 1064
    reader = new_session(server, "reader", "shop")
    assert table(reader.execute("EXPLAIN SELECT * FROM t"))[0]["type"] == "ALL"
    assert error_code(lambda: reader.execute("EXPLAIN DELETE FROM t")) == 1044


# ---------------------------------------------------------------- the pieces

def test_parse_request() -> None:
    assert explain.parse_request("EXPLAIN t") is None
    assert explain.parse_request("DESC t id") is None
    request = explain.parse_request("explain analyze select 1")
    assert request == explain.ExplainRequest("select 1", "TREE", True)
    request = explain.parse_request("EXPLAIN FORMAT = \"TREE\" (SELECT 1)")
    assert request == explain.ExplainRequest("(SELECT 1)", "TREE", False)


def test_plan_reader_blocks_for_a_compound_in_a_derived_table() -> None:
    lines = [(2, 0, 0, "CO-ROUTINE d"), (4, 2, 0, "MERGE (UNION)"), (6, 4, 0, "LEFT"),
             (9, 6, 0, "SCAN t USING COVERING INDEX ia"), (16, 4, 0, "RIGHT"),
             (18, 16, 0, "SCAN CONSTANT ROW"), (55, 0, 0, "SCAN d")]
    root = read_plan(lines)
    assert [(b.select_id, b.select_type) for b in root.blocks()] == [
        (1, "PRIMARY"), (2, "DERIVED"), (3, "UNION")]
    derived = root.accesses[0].derived
    assert derived is not None and derived.distinct and derived.operator == "UNION"
    assert derived.accesses[0].covering and derived.accesses[0].access_type == "index"
