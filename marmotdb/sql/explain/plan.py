"""SQLite's query plan (EXPLAIN QUERY PLAN) read as MySQL's query blocks and table accesses.

Theory of operation
-------------------
``EXPLAIN QUERY PLAN`` gives a tree of lines (id, parent, detail). MySQL's EXPLAIN is about
*query blocks* (one per SELECT: id, select_type) and, in each, the *table accesses* in join
order with an access type (ALL, index, range, ref, eq_ref, const). ``read_plan`` walks the tree
once and dispatches each line on its first words through ``_LINES``, a table of small handlers:

* ``SCAN t`` / ``SEARCH t USING [COVERING] INDEX i (a=? AND b>?)`` → an ``Access`` of the
  current block (``access_type`` from the verb, the index and the key condition);
* ``CO-ROUTINE x`` / ``MATERIALIZE x`` → a DERIVED block, which a later ``SCAN x`` reads;
* ``[CORRELATED] SCALAR|LIST SUBQUERY n`` → a [DEPENDENT] SUBQUERY block;
* ``COMPOUND QUERY`` / ``MERGE (op)`` → the parts of a UNION/EXCEPT/INTERSECT: the first part
  stays in the current block, every other part is a block of its own (MySQL's UNION rows and
  their UNION RESULT);
* ``USE TEMP B-TREE FOR …`` → "Using temporary" / "Using filesort" of the block;
* ``MULTI-INDEX OR`` → one index_merge access over the indexes of its branches;
* anything else (``LEFT``, ``SETUP``, ``BLOOM FILTER``, …) is transparent: its children belong
  to the current block.

What SQLite does not say (MySQL key names, key lengths, ``ref``, row estimates) is filled in
afterwards by ``statement.py`` from the schema; the renderers are in ``render.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

PlanLine = tuple[int, int, int, str]  # EXPLAIN QUERY PLAN: id, parent, notused, detail

PRIMARY = "PRIMARY"  # the key name of a primary key or SQLite rowid


@dataclass(slots=True)
class Access:
    """One table read, as SQLite's plan says it, then completed with MySQL's details."""

    table: str | None  # the name SQLite shows (an alias when the query gave one)
    access_type: str | None  # ALL index range ref eq_ref const index_merge; None: no table
    index: str | None = None  # SQLite's index name, PRIMARY for a primary key or rowid
    covering: bool = False
    condition: list[str] = field(default_factory=list)  # ["a=?", "b>?"]: the key condition
    join: str = "inner"  # inner | left | semi
    derived: Block | None = None  # the block a derived table or CTE is read from
    merged: list[Access] = field(default_factory=list)  # the branches of an index_merge
    # MySQL's view, filled by statement.py
    label: str | None = None
    key: str | None = None
    key_parts: list[str] = field(default_factory=list)
    key_length: int | None = None
    ref: list[str] = field(default_factory=list)
    rows: int | None = None
    extra: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Block:
    """One query block: MySQL's id and select_type, its accesses in join order."""

    select_id: int
    select_type: str
    accesses: list[Access] = field(default_factory=list)
    temporary: str | None = None  # "group" | "distinct": a temporary table for it
    filesort: bool = False
    recursive: bool = False
    dependent: bool = False
    subqueries: list[Block] = field(default_factory=list)
    parts: list[Block] = field(default_factory=list)  # the other operands of a set operation
    operator: str = ""  # UNION | EXCEPT | INTERSECT, when ``parts``
    distinct: bool = False  # the set operation removes duplicates
    name: str = ""  # a derived block: the name SQLite gives it (alias, CTE, (subquery-n))
    source: Block | None = None  # INSERT … SELECT: the SELECT (same id, as MySQL shows it)

    def inner(self) -> list[Block]:
        """The blocks directly under this one, in MySQL's output order."""
        found = [self.source] if self.source is not None else []
        found += self.parts + [a.derived for a in self.accesses if a.derived is not None]
        return found + self.subqueries

    def blocks(self) -> list[Block]:
        """This block and every block under it, each once."""
        found: dict[int, Block] = {}
        pending = [self]
        while pending:
            block = pending.pop(0)
            if id(block) not in found:
                found[id(block)] = block
                pending += block.inner()
        return list(found.values())


class _Reader:
    def __init__(self, lines: list[PlanLine], root: Block):
        self.children: dict[int, list[PlanLine]] = {}
        for line in lines:
            self.children.setdefault(line[1], []).append(line)
        self.root = root
        self.next_id = root.select_id + 1
        self.derived: dict[str, Block] = {}
        self.inside: set[str] = set()  # derived blocks being read (a recursive CTE reads itself)

    def block(self, select_type: str, **kwargs: object) -> Block:
        block = Block(self.next_id, select_type, **kwargs)  # type: ignore[arg-type]
        self.next_id += 1
        return block

    def walk(self, parent_id: int, block: Block) -> None:
        for line in self.children.get(parent_id, []):
            detail = line[3]
            handler = next((h for prefix, h in _LINES if detail.startswith(prefix)), _transparent)
            handler(self, line, block)


def read_plan(lines: list[PlanLine], select_type: str = "SIMPLE", select_id: int = 1) -> Block:
    """The query blocks of one statement's plan (``select_type`` of the outermost block)."""
    root = Block(select_id, select_type)
    _Reader(lines, root).walk(0, root)
    if select_type == "SIMPLE" and len(root.blocks()) > 1:
        root.select_type = PRIMARY
    return root


# ---------------------------------------------------------------- the lines

_ACCESS = re.compile(
    r"^(?P<verb>SCAN|SEARCH) (?P<table>.+?)(?P<exists> EXISTS)?"
    r"(?: USING (?:(?P<automatic>AUTOMATIC (?:PARTIAL )?)?(?P<covering>COVERING )?INDEX"
    r"(?: (?P<index>[^\s(]\S*))?|(?P<primary>(?:INTEGER )?PRIMARY KEY)))?"
    r"(?: VIRTUAL TABLE INDEX .*?)?(?: \((?P<condition>[^()]*)\))?"
    r"(?P<outer> LEFT-JOIN| RIGHT-JOIN)?$")


def _access_line(reader: _Reader, line: PlanLine, block: Block) -> None:
    found = _ACCESS.match(line[3])
    if found is None:
        return
    block.accesses.append(_access(found, reader))


def _access(found: re.Match[str], reader: _Reader) -> Access:
    condition = found.group("condition")
    parts = condition.split(" AND ") if condition else []
    index = PRIMARY if found.group("primary") else found.group("index")
    if found.group("automatic"):
        index = "<auto_key0>"
    access = Access(table=found.group("table"), access_type=None, index=index,
                    covering=bool(found.group("covering")), condition=parts,
                    join="semi" if found.group("exists") else
                    "left" if found.group("outer") else "inner")
    if access.table not in reader.inside:
        access.derived = reader.derived.get(access.table or "")
    if found.group("verb") == "SCAN":
        access.access_type = "index" if index else "ALL"
    elif not parts:
        access.access_type = None  # MIN()/MAX() read from an index end: optimized away
    else:
        access.access_type = "ref" if all(_equality(p) for p in parts) else "range"
    return access


def _equality(part: str) -> bool:
    return re.fullmatch(r"\S+=\?", part) is not None


def _constant_row(reader: _Reader, line: PlanLine, block: Block) -> None:
    block.accesses.append(Access(table=None, access_type=None, extra=["No tables used"]))


def _derived(reader: _Reader, line: PlanLine, block: Block) -> None:
    name = line[3].split(" ", 1)[1]
    derived = reader.block("DERIVED", name=name)
    reader.derived[name] = derived
    reader.inside.add(name)
    reader.walk(line[0], derived)
    reader.inside.discard(name)


_SUBQUERY = re.compile(r"^(CORRELATED )?(?:SCALAR|LIST) SUBQUERY")


def _subquery(reader: _Reader, line: PlanLine, block: Block) -> None:
    correlated = bool(_SUBQUERY.match(line[3]).group(1))  # type: ignore[union-attr]
    sub = reader.block("DEPENDENT SUBQUERY" if correlated else "SUBQUERY",
                       dependent=correlated)
    block.subqueries.append(sub)
    reader.walk(line[0], sub)


_COMPOUND_PART = re.compile(r"^(?:LEFT-MOST SUBQUERY|LEFT|RIGHT|(UNION ALL)|"
                            r"(UNION|EXCEPT|INTERSECT) USING TEMP B-TREE)$")


def _compound(reader: _Reader, line: PlanLine, block: Block) -> None:
    """COMPOUND QUERY (parts in order) or MERGE (op) (LEFT, RIGHT): the first part is read
    into ``block``, every other part becomes a block of the set operation's own."""
    merge = re.match(r"^MERGE \((\w+)( ALL)?\)", line[3])
    for index, part in enumerate(reader.children.get(line[0], [])):
        found = _COMPOUND_PART.match(part[3])
        operator = (merge.group(1) if merge else
                    (found.group(2) or "UNION") if found else "UNION")
        block.operator = block.operator or operator
        distinct = bool(merge and not merge.group(2)) or bool(found and found.group(2))
        block.distinct = block.distinct or distinct
        if index == 0:
            reader.walk(part[0], block)
            continue
        other = reader.block(operator)
        block.parts.append(other)
        reader.walk(part[0], other)


def _recursive_step(reader: _Reader, line: PlanLine, block: Block) -> None:
    step = reader.block("UNION", recursive=True)
    block.parts.append(step)
    block.operator = block.operator or "UNION"
    reader.walk(line[0], step)


_TEMPORARY = {"GROUP BY": "group", "DISTINCT": "distinct"}


def _temp_btree(reader: _Reader, line: PlanLine, block: Block) -> None:
    purpose = line[3][len("USE TEMP B-TREE FOR "):]
    if purpose in _TEMPORARY:
        block.temporary = block.temporary or _TEMPORARY[purpose]
    else:  # ORDER BY, RIGHT PART OF ORDER BY, LAST TERM OF ORDER BY
        block.filesort = True


def _multi_index(reader: _Reader, line: PlanLine, block: Block) -> None:
    branch = Block(block.select_id, block.select_type)
    reader.walk(line[0], branch)
    merged = [a for a in branch.accesses if a.table is not None]
    if not merged:
        return
    block.accesses.append(Access(table=merged[0].table, access_type="index_merge",
                                 merged=merged))


def _transparent(reader: _Reader, line: PlanLine, block: Block) -> None:
    reader.walk(line[0], block)


Handler = Callable[[_Reader, PlanLine, Block], None]

_LINES: list[tuple[str, Handler]] = [
    ("SCAN CONSTANT ROW", _constant_row), ("SCAN ", _access_line), ("SEARCH ", _access_line),
    ("CO-ROUTINE ", _derived), ("MATERIALIZE ", _derived),
    ("SCALAR SUBQUERY", _subquery), ("LIST SUBQUERY", _subquery),
    ("CORRELATED SCALAR SUBQUERY", _subquery), ("CORRELATED LIST SUBQUERY", _subquery),
    ("COMPOUND QUERY", _compound), ("MERGE (", _compound),
    ("RECURSIVE STEP", _recursive_step), ("USE TEMP B-TREE FOR ", _temp_btree),
    ("MULTI-INDEX OR", _multi_index),
]
