"""The fixture-driven translation suite: MySQL in, expected result out.

Fixture format (``tests/fixtures/translate/*.sql``)::

    # comment
    === case name                  [tags]      one case; runs in a fresh database
    @sql_mode = ''                             session setting for the case (also @time_zone)
    CREATE TABLE t (a INT);                    statements end with ';' at the end of a line
    INSERT INTO t VALUES (1), (2);
    SELECT a FROM t ORDER BY a;
    --- rows                                   checks the statement just above
    1
    2
    INSERT INTO t VALUES ('x');
    --- error 1366                             ... fails with this MySQL error code
    UPDATE t SET a = 3;
    --- ok                                     ... succeeds

Rows are `` | ``-separated values; ``NULL`` is SQL NULL, ``''`` the empty string; a blank line
ends the rows; ``--- rows-unordered`` ignores
order; ``--- names`` checks the result column names instead (one line, `` | ``-separated).
Values compare as text, except that floats compare numerically (7/2 is 3.5 in SQLite's REAL
and 3.5000 in MySQL's DECIMAL display: same value).

Tags: ``[mysql-only]`` marks an expected result that is MySQL 8's but not MariaDB's, and
``[marmot-only]`` an error marmotdb gives for a construct it refuses (1235) where MySQL would
run it; the reason is the case's first comment line. ``[marmot-differs]`` marks a case whose
expected result is MySQL's (and MariaDB's) where marmotdb still answers otherwise, a difference
docs/compatibility.md lists: a strict xfail on marmotdb, so the fix that lands it is noticed.

The differential group (tests/differential.py: the session's private MariaDB, or the server
``MARMOTDB_DIFFERENTIAL_MARIADB=host:port`` names) runs every case against MariaDB too, in a
scratch database per case, to prove the expectations are MySQL's, not marmotdb's. A tagged case
must fail there (a strict xfail whose reason is the case's comment): a tag MariaDB no longer
needs, or a refusal MariaDB shares, is noticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest

from marmotdb import errors
from tests.differential import MariaDBEndpoint
from tests.sql.test_translate_support import MiniExecutor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "translate"
MYSQL8_SQL_MODE = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                   "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION")
# What a tagged case may fail with where it is expected to (MariaDB, or marmotdb for
# [marmot-differs]): a check that does not hold, an expected error that does not come
# (pytest.raises fails), or an error where MySQL 8 answers.
_DIFFERENCE = (AssertionError, pytest.fail.Exception, errors.MarmotError)


@dataclass
class Check:
    statement: str
    kind: str  # 'rows' | 'rows-unordered' | 'error' | 'ok' | 'names'
    expected: list[list[str]] = field(default_factory=list)
    code: int = 0
    line: int = 0


@dataclass
class Case:
    name: str
    source: str
    tags: set[str] = field(default_factory=set)
    comment: str = ""  # the first comment line: why a tagged case is tagged
    settings: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, Check | None]] = field(default_factory=list)


_CASE_RE = re.compile(r"^===\s*(.*?)\s*(?:\[([\w\s,-]+)\])?\s*$")


def parse_fixture(path: Path) -> list[Case]:
    cases: list[Case] = []
    case: Case | None = None
    pending: list[str] = []
    check: Check | None = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("==="):
            found = _CASE_RE.match(stripped)
            assert found, f"{path}:{number}: bad case header"
            tags = {t.strip() for t in (found.group(2) or "").split(",") if t.strip()}
            case = Case(found.group(1), f"{path.name}:{number}", tags)
            cases.append(case)
            check = None
            continue
        if case is not None and stripped.startswith("#") and not case.steps and not pending:
            case.comment = case.comment or stripped[1:].strip()
        if case is None or (not stripped and check is None) or stripped.startswith("#"):
            continue
        if stripped.startswith("---"):
            check = _start_check(stripped, case, pending, path, number)
            pending = []
            continue
        if check is not None and not stripped:
            check = None
            continue
        if check is not None and check.kind in ("rows", "rows-unordered", "names") and \
                not pending and not _looks_like_sql(stripped):
            check.expected.append([v.strip() for v in line.split(" | ")])
            continue
        check = None
        if stripped.startswith("@") and not pending:
            key, _, value = stripped[1:].partition("=")
            case.settings[key.strip()] = value.strip().strip("'")
            continue
        pending.append(line)
        if stripped.endswith(";"):
            case.steps.append(("\n".join(pending).strip()[:-1], None))
            pending = []
    return cases


_SQL_START = re.compile(r"^(?:(?:SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|RENAME|"
                        r"TRUNCATE|WITH|DO|CHECKSUM|ANALYZE|SET)\b|\()", re.IGNORECASE)


def _looks_like_sql(line: str) -> bool:
    return bool(_SQL_START.match(line))


def _start_check(header: str, case: Case, pending: list[str], path: Path, number: int) -> Check:
    assert not pending, f"{path}:{number}: unterminated statement before {header}"
    assert case.steps and case.steps[-1][1] is None, f"{path}:{number}: nothing to check"
    words = header[3:].split()
    check = Check(case.steps[-1][0], words[0], line=number)
    if check.kind == "error":
        check.code = int(words[1])
    case.steps[-1] = (check.statement, check)
    return check


def all_cases() -> list[Case]:
    cases = []
    for path in sorted(FIXTURES.glob("*.sql")):
        cases += parse_fixture(path)
    return cases


CASES = all_cases()


# ---------------------------------------------------------------- comparison

def render(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + value.hex()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def same_value(actual: Any, expected: str) -> bool:
    text = render(actual)
    if text == expected or (expected == "''" and text == ""):
        return True
    if isinstance(actual, float):
        try:
            return abs(Decimal(repr(actual)) - Decimal(expected)) <= Decimal("1e-9") * max(
                1, abs(Decimal(expected)))
        except InvalidOperation:
            return False
    return False


def rows_match(actual: list[tuple[Any, ...]], expected: list[list[str]], ordered: bool) -> bool:
    if len(actual) != len(expected):
        return False
    if not ordered:
        actual = sorted(actual, key=lambda r: [render(v) for v in r])
        expected = sorted(expected)
    return all(len(a) == len(e) and all(same_value(v, x) for v, x in zip(a, e))
               for a, e in zip(actual, expected))


def describe(rows: list[tuple[Any, ...]]) -> str:
    return "\n".join(" | ".join(render(v) for v in row) for row in rows) or "(no rows)"


Runner = Callable[[str], tuple[list[str], list[tuple[Any, ...]]]]


def run_case(case: Case, run: Runner) -> None:
    for statement, check in case.steps:
        if check is None:
            run(statement)
            continue
        where = f"{case.source} [{case.name}] {statement!r}"
        if check.kind == "error":
            with pytest.raises(errors.MarmotError) as caught:
                run(statement)
            assert caught.value.code == check.code, f"{where}: got {caught.value!r}"
            continue
        names, rows = run(statement)
        if check.kind == "names":
            assert names == check.expected[0], f"{where}: names {names}"
        elif check.kind != "ok":
            assert rows_match(rows, check.expected, check.kind == "rows"), (
                f"{where}: got\n{describe(rows)}\nexpected\n"
                + "\n".join(" | ".join(r) for r in check.expected))


# ---------------------------------------------------------------- marmotdb

def _marmot_runner(case: Case) -> Runner:
    db = MiniExecutor(sql_mode=case.settings.get("sql_mode", MYSQL8_SQL_MODE),
                      time_zone=case.settings.get("time_zone", "+00:00"))

    def run(statement: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        result = db.run(statement)
        return result.columns, result.rows
    return run


def _on_marmotdb(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, raises=_DIFFERENCE,
                               reason=f"marmotdb differs from MySQL: {case.comment}")
             ] if "marmot-differs" in case.tags else []
    return pytest.param(case, marks=marks, id=f"{case.source}-{case.name}")


@pytest.mark.parametrize("case", [_on_marmotdb(c) for c in CASES])
def test_fixture(case: Case) -> None:
    run_case(case, _marmot_runner(case))


def test_fixture_suite_size() -> None:
    checks = sum(1 for c in CASES for _, check in c.steps if check is not None)
    assert len(CASES) >= 300, len(CASES)
    assert checks >= len(CASES)


# ---------------------------------------------------------------- differential (MariaDB)

def _mariadb_runner(server: MariaDBEndpoint, case: Case, index: int
                    ) -> tuple[Runner, Callable[[], None]]:
    import pymysql

    conn = server.connect(autocommit=True, charset="utf8mb4")
    database = f"marmot_fx_{index}"
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {database}")
        cursor.execute(f"CREATE DATABASE {database} CHARACTER SET utf8mb4 "
                       "COLLATE utf8mb4_general_ci")
        cursor.execute(f"USE {database}")
        cursor.execute("SET SESSION sql_mode = %s",
                       (case.settings.get("sql_mode", MYSQL8_SQL_MODE),))
        cursor.execute("SET SESSION time_zone = %s", (case.settings.get("time_zone", "+00:00"),))

    def run(statement: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        with conn.cursor() as cursor:
            try:
                cursor.execute(statement)
            except pymysql.MySQLError as exc:
                code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 1105
                raise errors.error(code, str(exc)) from None
            description = cursor.description or ()
            names = [d[0] for d in description]
            scales = [d[5] or 0 for d in description]
            return names, [tuple(_from_mariadb(v, scale) for v, scale in zip(row, scales))
                           for row in cursor.fetchall()]

    def close() -> None:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {database}")
        conn.close()
    return run, close


def _from_mariadb(value: Any, scale: int) -> Any:
    """PyMySQL's Python values back to MySQL's text (temporal fractions to the column scale)."""
    import datetime
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return text + (f".{value.microsecond:06d}"[:scale + 1] if scale else "")
    if isinstance(value, datetime.timedelta):
        micros = abs(value) // datetime.timedelta(microseconds=1)
        seconds, micro = divmod(micros, 1_000_000)
        text = f"{'-' if value < datetime.timedelta(0) else ''}{seconds // 3600:02d}:" \
               f"{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return text + (f".{micro:06d}"[:scale + 1] if scale else "")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


_TAG_REASONS = {"mysql-only": "expected result is MySQL 8's, MariaDB differs",
                "marmot-only": "expected result is marmotdb's refusal, MariaDB runs it"}


def _on_mariadb(index: int, case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, raises=_DIFFERENCE,
                               reason=f"{_TAG_REASONS[tag]}: {case.comment}")
             for tag in sorted(case.tags & _TAG_REASONS.keys())]
    return pytest.param(index, case, marks=marks, id=f"{case.source}-{case.name}")


@pytest.mark.differential
@pytest.mark.parametrize("index,case", [_on_mariadb(i, c) for i, c in enumerate(CASES)])
def test_fixture_on_mariadb(differential_mariadb: MariaDBEndpoint, index: int,
                            case: Case) -> None:
    run, close = _mariadb_runner(differential_mariadb, case, index)
    try:
        run_case(case, run)
    finally:
        close()
