"""MySQL 8's three EXPLAIN formats over the query blocks of ``plan.py``.

* TRADITIONAL: one row per table access (id, select_type, table, partitions, type,
  possible_keys, key, key_len, ref, rows, filtered, Extra), a UNION/EXCEPT/INTERSECT RESULT row
  after the parts of a set operation, derived tables and subqueries after their parent block;
* JSON: one row, column ``EXPLAIN``, the ``query_block`` document (``table`` /
  ``nested_loop``, ``ordering_operation``, ``grouping_operation``, ``union_result``,
  ``materialized_from_subquery``, …) without ``cost_info``: marmotdb has no cost model to
  report;
* TREE: one row, column ``EXPLAIN``, the iterator tree (``-> Table scan on t  (rows=3)``),
  four spaces of indent per level; EXPLAIN ANALYZE adds the measured
  ``(actual time=first..last rows=n loops=1)`` to its root.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from marmotdb.mysql.types import CHARSET_BINARY, Column, ColumnFlag, FieldType, ResultSet
from marmotdb.sql.catalog.show_filters import show_int, show_text
from marmotdb.sql.explain.plan import Access, Block

_EXPLAIN_TEXT_CHARS = 1 << 20  # the declared length of the one-column formats


def _explain_column() -> Column:
    return show_text("EXPLAIN", _EXPLAIN_TEXT_CHARS)


# ---------------------------------------------------------------- TRADITIONAL

def _traditional_columns() -> list[Column]:
    texts = ["select_type", "table", "partitions", "type", "possible_keys", "key", "key_len",
             "ref"]
    filtered = Column("filtered", FieldType.DOUBLE, 4, int(ColumnFlag.BINARY),
                      charset=CHARSET_BINARY, decimals=2)
    return [show_int("id", 3), *[show_text(n) for n in texts], show_int("rows"), filtered,
            show_text("Extra", 255)]


def traditional(roots: list[Block]) -> ResultSet:
    rows: list[tuple[Any, ...]] = []
    seen: set[int] = set()
    for root in roots:
        rows += _block_rows(root, seen)
    return ResultSet(_traditional_columns(), rows)


def _block_rows(block: Block, seen: set[int]) -> list[tuple[Any, ...]]:
    seen.add(id(block))
    rows = [_access_row(block, a) for a in block.accesses]
    for inner in block.inner():
        if id(inner) not in seen:
            rows += _block_rows(inner, seen)
        if block.parts and inner is block.parts[-1]:
            rows += _result_row(block)
    return rows


def _access_row(block: Block, access: Access) -> tuple[Any, ...]:
    key_length = str(access.key_length) if access.key_length is not None else None
    return (block.select_id, block.select_type, access.label, None, access.access_type,
            access.key, access.key, key_length, ",".join(access.ref) or None, access.rows,
            100.0 if access.rows is not None else None, "; ".join(access.extra) or None)


def _result_row(block: Block) -> list[tuple[Any, ...]]:
    if all(part.recursive for part in block.parts):
        return []  # a recursive CTE's steps have no result table of their own
    ids = ",".join(str(b.select_id) for b in [block, *block.parts])
    operator = block.operator or "UNION"
    return [(None, f"{operator} RESULT", f"<{operator.lower()}{ids}>", None, "ALL", None, None,
             None, None, None, None, "Using temporary" if block.distinct else None)]


# ---------------------------------------------------------------- JSON

def json_document(roots: list[Block]) -> ResultSet:
    document = {"query_block": _query_block(roots[0])} if roots else {}
    return ResultSet([_explain_column()], [(json.dumps(document, indent=2),)])


def _query_block(block: Block) -> dict[str, Any]:
    if not block.parts:
        return _select(block)
    operator = block.operator or "UNION"
    ids = ",".join(str(b.select_id) for b in [block, *block.parts])
    specifications = [{"dependent": b.dependent, "cacheable": not b.dependent,
                       "query_block": _select(b)} for b in [block, *block.parts]]
    return {f"{operator.lower()}_result": {
        "using_temporary_table": block.distinct, "table_name": f"<{operator.lower()}{ids}>",
        "access_type": "ALL", "query_specifications": specifications}}


def _select(block: Block) -> dict[str, Any]:
    body: dict[str, Any] = {"select_id": block.select_id}
    tables = [_table(a, block) for a in block.accesses]
    message = next((a.extra[0] for a in block.accesses if a.table is None and a.extra), None)
    if message is not None and len(block.accesses) == 1:
        body["message"] = message
    elif len(tables) == 1:
        body["table"] = tables[0]
    elif tables:
        body["nested_loop"] = [{"table": t} for t in tables]
    body = _wrapped(block, body)
    if block.source is not None:
        body["insert_from"] = {k: v for k, v in _select(block.source).items()
                               if k != "select_id"}
    if block.subqueries:
        body["attached_subqueries"] = [{"dependent": s.dependent, "cacheable": not s.dependent,
                                        "query_block": _query_block(s)}
                                       for s in block.subqueries]
    return body


def _wrapped(block: Block, body: dict[str, Any]) -> dict[str, Any]:
    """ORDER BY and GROUP BY/DISTINCT wrap the tables, as in MySQL's document."""
    select_id = body.pop("select_id")
    if block.temporary:
        name = "grouping_operation" if block.temporary == "group" else "duplicates_removal"
        body = {name: {"using_temporary_table": True, "using_filesort": False, **body}}
    if block.filesort:
        body = {"ordering_operation": {"using_filesort": True, **body}}
    return {"select_id": select_id, **body}


_WRITE_FLAGS = {"INSERT": "insert", "REPLACE": "insert", "UPDATE": "update", "DELETE": "delete"}


def _table(access: Access, block: Block) -> dict[str, Any]:
    table: dict[str, Any] = {}
    flag = _WRITE_FLAGS.get(block.select_type)
    if flag is not None and access is block.accesses[0]:
        table[flag] = True
    table.update({
        "table_name": access.label, "access_type": access.access_type,
        "possible_keys": [access.key] if access.key else None, "key": access.key,
        "used_key_parts": access.key_parts or None,
        "key_length": str(access.key_length) if access.key_length is not None else None,
        "ref": access.ref or None, "rows_examined_per_scan": access.rows,
        "rows_produced_per_join": access.rows,
        "filtered": "100.00" if access.rows is not None else None,
        "using_index": True if access.covering else None,
    })
    if access.derived is not None:
        table["materialized_from_subquery"] = {
            "using_temporary_table": True, "dependent": False, "cacheable": True,
            "query_block": _query_block(access.derived)}
    return {k: v for k, v in table.items() if v is not None}


# ---------------------------------------------------------------- TREE

_INDENT = "    "


def tree(roots: list[Block]) -> ResultSet:
    return ResultSet([_explain_column()], [(render_tree(roots),)])


def render_tree(roots: list[Block]) -> str:
    lines: list[str] = []
    for root in roots:
        lines += _tree_block(root, 0)
    return "\n".join(lines) + "\n"


def analyzed_tree(text: str, rows: int, seconds: float) -> ResultSet:
    """The TREE with EXPLAIN ANALYZE's measurement on its root line (time in ms)."""
    first, _, rest = text.partition("\n")
    elapsed_ms = f"{seconds * 1000:.3f}"
    measured = f"{first} (actual time={elapsed_ms}..{elapsed_ms} rows={rows} loops=1)"
    return ResultSet([_explain_column()], [(measured + "\n" + rest,)])


def _line(depth: int, text: str) -> str:
    return f"{_INDENT * depth}-> {text}"


def _tree_block(block: Block, depth: int) -> list[str]:
    if block.parts:
        return _tree_set_operation(block, depth)
    if block.select_type in _WRITE_VERBS and block.accesses:
        return _tree_write(block, depth)
    return _tree_select(block, depth)


def _tree_set_operation(block: Block, depth: int) -> list[str]:
    operator = (block.operator or "UNION").capitalize()
    if block.distinct:
        lines = [_line(depth, f"Table scan on <{operator.lower()} temporary>"),
                 _line(depth + 1, f"{operator} materialize with deduplication")]
        inner = depth + 2
    else:
        lines, inner = [_line(depth, "Append")], depth + 1
    first = Block(block.select_id, block.select_type, block.accesses, block.temporary,
                  block.filesort, subqueries=block.subqueries)
    for part in [first, *block.parts]:
        lines += _tree_block(part, inner)
    return lines


_WRITE_VERBS = {"INSERT": "Insert into", "REPLACE": "Replace into", "UPDATE": "Update",
                "DELETE": "Delete from"}


def _tree_write(block: Block, depth: int) -> list[str]:
    target = block.accesses[0]
    lines = [_line(depth, f"{_WRITE_VERBS[block.select_type]} {target.label or target.table}")]
    if block.source is not None:
        return lines + _tree_block(block.source, depth + 1)
    if block.select_type in ("INSERT", "REPLACE"):
        return lines
    return lines + _tree_select(block, depth + 1)


def _tree_select(block: Block, depth: int) -> list[str]:
    lines: list[str] = []
    if block.filesort:
        lines.append(_line(depth, "Sort"))
        depth += 1
    if block.temporary:
        lines.append(_line(depth, "Table scan on <temporary>"))
        lines.append(_line(depth + 1, "Aggregate using temporary table"
                           if block.temporary == "group" else
                           "Temporary table with deduplication"))
        depth += 2
    lines += _tree_join(block.accesses, depth)
    for sub in block.subqueries:
        where = "condition" if sub.select_type.endswith("SUBQUERY") else "projection"
        how = "dependent" if sub.dependent else "run only once"
        lines.append(_line(depth + 1, f"Select #{sub.select_id} (subquery in {where}; {how})"))
        lines += _tree_block(sub, depth + 2)
    return lines


_JOINS = {"inner": "Nested loop inner join", "left": "Nested loop left join",
          "semi": "Nested loop semijoin"}


def _tree_join(accesses: list[Access], depth: int) -> list[str]:
    if not accesses:
        return [_line(depth, "Rows fetched before execution")]
    if len(accesses) == 1:
        return _tree_access(accesses[0], depth)
    last = accesses[-1]
    return ([_line(depth, _JOINS[last.join])] + _tree_join(accesses[:-1], depth + 1)
            + _tree_access(last, depth + 1))


def _tree_access(access: Access, depth: int) -> list[str]:
    if access.table is None:
        return [_line(depth, "Rows fetched before execution")]
    estimate = f"  (rows={access.rows})" if access.rows is not None else ""
    lines = [_line(depth, _ACCESS_TEXT[access.access_type or "ALL"](access) + estimate)]
    if access.derived is not None:
        lines.append(_line(depth + 1, "Materialize"))
        lines += _tree_block(access.derived, depth + 2)
    return lines


def _lookup(prefix: str, noun: str, over: bool) -> Callable[[Access], str]:
    """``Index lookup on t using k (a=?)``, ``Covering index range scan on t using k over
    (a>?)``, ``Single-row index lookup on t using PRIMARY (id=?)``."""
    def text(access: Access) -> str:
        head = f"{prefix} {'covering index' if access.covering else 'index'}".strip()
        condition = " AND ".join(access.condition)
        tail = (f" over ({condition})" if over else f" ({condition})") if condition else ""
        return f"{head[0].upper()}{head[1:]} {noun} on {access.label} using {access.key}{tail}"
    return text


_ACCESS_TEXT: dict[str, Callable[[Access], str]] = {
    "ALL": lambda a: f"Table scan on {a.label}",
    "index": lambda a: f"{'Covering index' if a.covering else 'Index'} scan on {a.label} "
                       f"using {a.key}",
    "index_merge": lambda a: f"Sort-deduplicate by row ID on {a.label} using {a.key}",
    "ref": _lookup("", "lookup", False), "eq_ref": _lookup("Single-row", "lookup", False),
    "const": _lookup("Single-row", "lookup", False), "range": _lookup("", "range scan", True),
}

RENDERERS: dict[str, Callable[[list[Block]], ResultSet]] = {
    "TRADITIONAL": traditional, "JSON": json_document, "TREE": tree,
}
