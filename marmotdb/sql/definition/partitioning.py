"""``PARTITION BY …``: read, checked as MySQL checks it, kept and shown back; not applied.

MySQL accepts partitioned tables (HASH, KEY, RANGE, LIST, their COLUMNS and LINEAR forms,
HASH/KEY subpartitions) and clients expect to get them back: SQLAlchemy reflects
``mysql_partition_by`` / ``mysql_partitions`` / the partition definitions from SHOW CREATE
TABLE, mysqldump replays them. Partitioning decides where rows are stored, never which rows a
query sees, so marmotdb keeps every row in the table's one SQLite table and the partitioning
as text on the ``TableDef`` (``partitioning``), printed the way MySQL 8 prints it
(sql_partition.cc ``generate_partition_syntax``: expressions as MySQL prints them,
one clause a line, each partition with ``ENGINE = <engine>``). SHOW CREATE TABLE wraps it in
``/*!50100 … */``; reading that text back (the catalog, ALTER TABLE) gives the same text.

What MySQL refuses is refused with its error: a unique key without every column of the
partitioning function (1503), RANGE / LIST without definitions (1492) or a definition without
its VALUES (1479), VALUES on HASH / KEY (1480), MAXVALUE before the last partition (1481),
limits not increasing (1493), a partition name twice (1517), subpartitions of HASH / KEY
(1500), foreign keys (1506), a column of the function dropped (3855). What would act on
partitions (``ALTER TABLE … ADD / DROP / TRUNCATE PARTITION``, ``SELECT … PARTITION (p)``) stays
1235: there is nothing separate to act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marmotdb import errors
from marmotdb.errors import not_supported
from marmotdb.sql.definition.cursor import DdlParser, unquote
from marmotdb.sql.definition.shown_expression import shown_expression
from marmotdb.sql.schema import TableDef, quote_ident, quote_string

_KINDS = ("HASH", "KEY", "RANGE", "LIST")


@dataclass(slots=True)
class Scheme:
    """How rows are (sub)partitioned: HASH / KEY / RANGE / LIST, by an expression or columns."""

    kind: str
    linear: bool = False
    columns_form: bool = False  # RANGE COLUMNS / LIST COLUMNS
    expression: str | None = None  # as MySQL prints it
    columns: list[str] = field(default_factory=list)
    algorithm: str | None = None  # KEY ALGORITHM = 1 | 2
    count: int | None = None  # PARTITIONS n / SUBPARTITIONS n

    def text(self, sub: bool) -> str:
        head = "SUBPARTITION BY " if sub else "PARTITION BY "
        head += "LINEAR " if self.linear else ""
        if self.kind == "KEY":
            algorithm = f"ALGORITHM = {self.algorithm} " if self.algorithm else ""
            return f"{head}KEY {algorithm}({','.join(map(quote_ident, self.columns))})"
        if self.columns_form:
            return f"{head}{self.kind}  COLUMNS({','.join(map(quote_ident, self.columns))})"
        return f"{head}{self.kind} ({self.expression})"


@dataclass(slots=True)
class Partition:
    name: str
    values: str | None = None  # 'LESS THAN (…)' | 'LESS THAN MAXVALUE' | 'IN (…)'
    comment: str = ""
    subpartitions: list[tuple[str, str]] = field(default_factory=list)  # (name, comment)


@dataclass(slots=True)
class Partitioning:
    scheme: Scheme
    sub: Scheme | None = None
    partitions: list[Partition] = field(default_factory=list)

    def text(self, engine: str) -> str:
        lines = [self.scheme.text(False)]
        if self.scheme.count and not self.partitions:
            lines.append(f"PARTITIONS {self.scheme.count}")
        if self.sub is not None:
            lines.append(self.sub.text(True))
            if self.sub.count and not any(p.subpartitions for p in self.partitions):
                lines.append(f"SUBPARTITIONS {self.sub.count}")
        text = "\n".join(lines)
        if self.partitions:
            text += "\n(" + ",\n ".join(_partition_text(p, engine) for p in self.partitions) + ")"
        return text


def _name(name: str) -> str:
    """A partition's name: bare, as MySQL prints it, unless it needs quoting."""
    return name if name.isidentifier() and name.isascii() else quote_ident(name)


def _options_text(comment: str, engine: str) -> str:
    shown = f" COMMENT = {quote_string(comment)}" if comment else ""
    return f"{shown} ENGINE = {engine}"


def _partition_text(partition: Partition, engine: str) -> str:
    text = f"PARTITION {_name(partition.name)}"
    if partition.values:
        text += f" VALUES {partition.values}"
    if not partition.subpartitions:
        return text + _options_text(partition.comment, engine)
    if partition.comment:
        text += f" COMMENT = {quote_string(partition.comment)}"
    subs = ",\n  ".join(f"SUBPARTITION {_name(name)}{_options_text(comment, engine)}"
                        for name, comment in partition.subpartitions)
    return f"{text}\n ({subs})"


# ---------------------------------------------------------------------------------- reading
def parse_partitioning(parser: DdlParser, table: TableDef) -> None:
    """``PARTITION BY …`` at the cursor (PARTITION read already): checked, kept on ``table``."""
    partitioning = read_partitioning(parser)
    _check_definitions(partitioning)
    table.partitioning = partitioning.text(table.engine)


def read_partitioning(parser: DdlParser) -> Partitioning:
    """``BY …`` of a partitioning clause at the cursor, as it is written (not checked)."""
    parser.expect("BY")
    partitioning = Partitioning(_scheme(parser, sub=False))
    if parser.accept("PARTITIONS"):
        partitioning.scheme.count = _count(parser)
    if parser.accept("SUBPARTITION"):
        parser.expect("BY")
        if partitioning.scheme.kind not in ("RANGE", "LIST"):
            raise errors.error(1500, "It is only possible to mix RANGE/LIST partitioning with "
                               "HASH/KEY partitioning for subpartitioning")
        partitioning.sub = _scheme(parser, sub=True)
        if parser.accept("SUBPARTITIONS"):
            partitioning.sub.count = _count(parser)
    if parser.at_op("("):
        partitioning.partitions = _definitions(parser, partitioning)
    return partitioning


def _scheme(parser: DdlParser, sub: bool) -> Scheme:
    linear = parser.accept("LINEAR") is not None
    kind = parser.expect(*(("HASH", "KEY") if sub or linear else _KINDS))
    scheme = Scheme(kind, linear)
    if kind == "KEY":
        if parser.accept("ALGORITHM"):
            parser.expect_op("=")
            scheme.algorithm = str(parser.integer())
        scheme.columns = _names(parser)
    elif kind in ("RANGE", "LIST") and parser.accept("COLUMNS"):
        scheme.columns_form, scheme.columns = True, _names(parser)
    else:
        text = parser.balanced()
        scheme.expression = shown_expression(text)
    return scheme


def _names(parser: DdlParser) -> list[str]:
    parser.expect_op("(")
    names: list[str] = []
    while not parser.accept_op(")"):
        names.append(parser.identifier())
        parser.accept_op(",")
    return names


def _count(parser: DdlParser) -> int:
    count = parser.integer()
    if count == 0:
        parser.pos -= 1
        parser.fail("a number of partitions")
    return count


def _definitions(parser: DdlParser, partitioning: Partitioning) -> list[Partition]:
    parser.expect_op("(")
    partitions = [_definition(parser)]
    while parser.accept_op(","):
        partitions.append(_definition(parser))
    parser.expect_op(")")
    return partitions


def _definition(parser: DdlParser) -> Partition:
    parser.expect("PARTITION")
    partition = Partition(parser.identifier())
    if parser.accept("VALUES"):
        if parser.accept_seq("LESS", "THAN"):
            partition.values = "LESS THAN " + (
                "MAXVALUE" if parser.accept("MAXVALUE") else f"({_values(parser)})")
        else:
            parser.expect("IN")
            partition.values = f"IN ({_values(parser)})"
    partition.comment = _partition_options(parser)
    if parser.at_op("("):
        parser.expect_op("(")
        while True:
            parser.expect("SUBPARTITION")
            name = parser.identifier()
            partition.subpartitions.append((name, _partition_options(parser)))
            if not parser.accept_op(","):
                break
        parser.expect_op(")")
    return partition


def _values(parser: DdlParser) -> str:
    """A VALUES list: each value as MySQL prints it (MAXVALUE in a COLUMNS list)."""
    items, depth, start = [], 0, None
    parser.expect_op("(")
    while True:
        token = parser.token
        if token.kind == "end":
            parser.fail("')'")
        if start is None:
            start = token.start
        if token.kind == "op" and token.text == "(":
            depth += 1
        elif token.kind == "op" and token.text in (")", ",") and depth == 0:
            items.append(_value(parser.sql[start:token.start].strip()))
            start = None
            parser.pos += 1
            if token.text == ")":
                return ",".join(items)
            continue
        elif token.kind == "op" and token.text == ")":
            depth -= 1
        parser.pos += 1


def _value(text: str) -> str:
    if text.upper() == "MAXVALUE":
        return "MAXVALUE"
    if text.startswith("(") and text.endswith(")"):  # a row of a COLUMNS list of IN
        return "(" + ",".join(_value(part.strip()) for part in _split(text[1:-1])) + ")"
    if text[:1] in "'\"":
        return quote_string(unquote(text))
    return shown_expression(text)


def _split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return parts + [text[start:]]


def _partition_options(parser: DdlParser) -> str:
    """A partition's options: ENGINE (the table's), COMMENT kept, the rest as for tables."""
    comment = ""
    while True:
        if parser.accept("STORAGE") or parser.at("ENGINE"):
            parser.expect("ENGINE")
            parser.option_value()
        elif parser.accept("COMMENT"):
            comment = parser.option_value()
        elif parser.at("DATA", "INDEX") and parser.peek().upper == "DIRECTORY":
            raise not_supported(f"{parser.token.upper} DIRECTORY (every table of a database "
                                "lives in its one SQLite file)")
        elif parser.accept("MAX_ROWS", "MIN_ROWS", "TABLESPACE", "NODEGROUP"):
            parser.option_value()
        else:
            return comment


def _check_definitions(partitioning: Partitioning) -> None:
    kind = partitioning.scheme.kind
    partitions = partitioning.partitions
    if kind in ("RANGE", "LIST") and not partitions:
        raise errors.error(errors.ER_PARTITIONS_MUST_BE_DEFINED_ERROR,
                           f"For {kind} partitions each partition must be defined")
    if partitioning.scheme.count and partitions and \
            partitioning.scheme.count != len(partitions):
        raise errors.error(1064, "Wrong number of partitions defined, mismatch with previous "
                           "setting near ')'")
    wanted = {"RANGE": "LESS THAN", "LIST": "IN"}.get(kind)
    names: set[str] = set()
    for index, partition in enumerate(partitions):
        for name in [partition.name, *(n for n, _ in partition.subpartitions)]:
            if name.lower() in names:
                raise errors.error(errors.ER_SAME_NAME_PARTITION,
                                   f"Duplicate partition name {name}")
            names.add(name.lower())
        values = partition.values or ""
        shown = "LESS THAN" if values.startswith("LESS") else "IN"
        owner = "RANGE" if shown == "LESS THAN" else "LIST"
        if values and owner != kind:
            raise errors.error(errors.ER_PARTITION_WRONG_VALUES_ERROR,
                               f"Only {owner} PARTITIONING can use VALUES {shown} in partition "
                               "definition")
        if wanted is not None and not values:
            raise errors.error(errors.ER_PARTITION_REQUIRES_VALUES_ERROR,
                               f"Syntax error: {kind} PARTITIONING requires definition of "
                               f"VALUES {wanted} for each partition")
        if values == "LESS THAN MAXVALUE" and index != len(partitions) - 1:
            raise errors.error(errors.ER_PARTITION_MAXVALUE_ERROR,
                               "MAXVALUE can only be used in last partition definition")
    if kind == "RANGE" and not partitioning.scheme.columns_form:
        limits = [p.values[len("LESS THAN ("):-1] for p in partitions
                  if p.values and p.values != "LESS THAN MAXVALUE"]
        numbers = [int(limit) for limit in limits if limit.lstrip("-").isdigit()]
        if len(numbers) == len(limits) and any(b <= a for a, b in zip(numbers, numbers[1:])):
            raise errors.error(errors.ER_RANGE_NOT_INCREASING_ERROR,
                               "VALUES LESS THAN value must be strictly increasing for each "
                               "partition")


# ---------------------------------------------------------------------------------- the table
def partition_columns(table: TableDef) -> list[str]:
    """The columns the table's partitioning reads (its function's or its column list), in
    the table's spelling; [] when it is not partitioned. KEY () means the primary key."""
    if not table.partitioning:
        return []
    partitioning = stored_partitioning(table.partitioning)
    found = _scheme_columns(partitioning.scheme, table)
    if partitioning.sub is not None:
        found += _scheme_columns(partitioning.sub, table)
    names: list[str] = []
    for name in found:
        if name.lower() not in (n.lower() for n in names):
            names.append(name)
    return names


def _scheme_columns(scheme: Scheme, table: TableDef) -> list[str]:
    if scheme.kind == "KEY" and not scheme.columns:
        primary = table.primary_key
        return [c for c, _, _ in primary.columns] if primary is not None else []
    if scheme.expression is None:
        return list(scheme.columns)
    parser = DdlParser(scheme.expression)
    names = []
    while parser.token.kind != "end":
        token = parser.token
        parser.pos += 1
        # a printed expression has its columns in backticks; one kept as written (what
        # shown_expression does not know) names them bare: only the table's count
        if token.kind == "ident" or (token.kind == "word" and not parser.at_op("(")
                                     and table.column(token.text) is not None):
            names.append(token.text)
    return names


def check_partitioned_table(table: TableDef) -> None:
    """MySQL's rules for the keys and columns of a partitioned table (1054, 1503, 1506)."""
    if not table.partitioning:
        return
    if table.foreign_keys:
        raise errors.error(errors.ER_FOREIGN_KEY_ON_PARTITIONED, "Foreign keys are not yet "
                           "supported in conjunction with partitioning")
    columns = partition_columns(table)
    for name in columns:
        if table.column(name) is None:
            raise errors.error(errors.ER_BAD_FIELD_ERROR,
                               f"Unknown column '{name}' in 'partition function'")
    for index in table.indexes:
        if index.kind not in ("PRIMARY", "UNIQUE"):
            continue
        whole = {c.lower() for c, length, _ in index.columns if not length}
        if not all(name.lower() in whole for name in columns):
            label = "PRIMARY KEY" if index.kind == "PRIMARY" else "UNIQUE INDEX"
            raise errors.error(errors.ER_UNIQUE_KEY_NEED_ALL_FIELDS_IN_PF,
                               f"A {label} must include all columns in the table's "
                               "partitioning function (prefixed columns are not considered).")


def check_partition_dependency(table: TableDef, name: str) -> None:
    """MySQL refuses to drop or rename a column the partitioning reads (3855)."""
    if name.lower() in (c.lower() for c in partition_columns(table)):
        raise errors.error(errors.ER_DEPENDENT_BY_PARTITION_FUNC, f"Column '{name}' has a "
                           "partitioning function dependency and cannot be dropped or renamed.")


def stored_partitioning(text: str) -> Partitioning:
    """The partitioning a ``TableDef`` keeps (its ``partitioning`` text), read back."""
    parser = DdlParser(text)
    parser.expect("PARTITION")
    return read_partitioning(parser)


# ---------------------------------------------------------------------------------- catalog
@dataclass(frozen=True, slots=True)
class PartitionRow:
    """One row of INFORMATION_SCHEMA.PARTITIONS for a partitioned table."""

    name: str
    subpartition: str | None
    ordinal: int
    sub_ordinal: int | None
    method: str
    sub_method: str | None
    expression: str
    sub_expression: str | None
    description: str | None
    comment: str


def partition_rows(text: str) -> list[PartitionRow]:
    """The partitions (and subpartitions) of a table's partitioning as MySQL lists them:
    unnamed ones are p0, p1 … and p0sp0, p0sp1 …"""
    partitioning = stored_partitioning(text)
    scheme, sub = partitioning.scheme, partitioning.sub
    partitions = partitioning.partitions or [
        Partition(f"p{i}") for i in range(scheme.count or 1)]
    rows = []
    for ordinal, partition in enumerate(partitions, 1):
        description = _description(partition.values)
        subs: list[tuple[str | None, str]] = list(partition.subpartitions) or (
            [(f"{partition.name}sp{i}", "") for i in range(sub.count or 1)] if sub else
            [(None, "")])
        for sub_ordinal, (sub_name, sub_comment) in enumerate(subs, 1):
            rows.append(PartitionRow(
                partition.name, sub_name, ordinal, sub_ordinal if sub else None,
                _method(scheme), _method(sub) if sub else None, _expression(scheme),
                _expression(sub) if sub else None, description,
                sub_comment or partition.comment))
    return rows


def _method(scheme: Scheme) -> str:
    return (("LINEAR " if scheme.linear else "") + scheme.kind
            + (" COLUMNS" if scheme.columns_form else ""))


def _expression(scheme: Scheme) -> str:
    if scheme.expression is not None:
        return scheme.expression
    return ",".join(map(quote_ident, scheme.columns))


def _description(values: str | None) -> str | None:
    if values is None:
        return None
    if values == "LESS THAN MAXVALUE":
        return "MAXVALUE"
    return values[values.index("(") + 1:-1]
