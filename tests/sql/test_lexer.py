"""The MySQL lexer against MySQL's documented lexical rules, as golden fixtures.

Fixture format (``tests/fixtures/lexer/*.txt``)::

    # comment
    === case name                 [flags]     flags: no-backslash-escapes, prepared
    SELECT 'a' 'b'                            the input: every line up to the first '---'
    --- tokens                                the tokens except blanks: kind and text, the
    word 'SELECT'                             text as a Python string literal
    string "'a' 'b'"
    --- shape                                 shape.normalise: the text on one line, then
    SELECT :p0                                one Python literal per parameter
    'ab'
    --- split                                 shape.split_statements: one literal a statement
    "SELECT 'a' 'b'"
    --- strip                                 shape.strip_comments, one line
    SELECT 'a' 'b'
    --- words                                 lexer.words(input, 3), space-separated
    SELECT

An input line ``input: <Python literal>`` gives inputs with control characters. Every case is
also checked for the lexer's invariants: the tokens cover the input exactly, and the
significant-token scanner yields the same tokens as the full walk.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marmotdb.sql import statement
from marmotdb.sql.catalog import expr as catalog_expr
from marmotdb.sql.definition import cursor as ddl_cursor
from marmotdb.sql.text import lexer, shape

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lexer"
FLAGS = frozenset({"no-backslash-escapes", "prepared"})


@dataclass
class Case:
    name: str
    source: str
    line: int
    flags: set[str]
    text: str = ""
    sections: dict[str, list[str]] = field(default_factory=dict)


def _parse(path: Path) -> list[Case]:
    cases: list[Case] = []
    body: list[str] = []
    section: list[str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if line.startswith("=== "):
            _finish(cases, body)
            name, _, flags = line[4:].partition("[")
            unknown = set(flags.rstrip("]").split()) - FLAGS
            assert not unknown, f"{path.name}:{number}: unknown flags {unknown}"
            cases.append(Case(name.strip(), path.name, number, set(flags.rstrip("]").split())))
            body, section = [], None
        elif not cases or (line.startswith("#") and section is not None):
            continue
        elif line.startswith("--- "):
            section = cases[-1].sections.setdefault(line[4:].strip(), [])
        elif section is None:
            body.append(line)
        else:
            section.append(line)
    _finish(cases, body)
    return cases


def _finish(cases: list[Case], body: list[str]) -> None:
    if not cases:
        return
    text = "\n".join(body)
    if text.startswith("input: "):
        text = ast.literal_eval(text[len("input: "):])
    cases[-1].text = text
    for lines in cases[-1].sections.values():
        while lines and not lines[-1]:
            lines.pop()


CASES = [case for path in sorted(FIXTURES.glob("*.txt")) for case in _parse(path)]


def _escapes(case: Case) -> bool:
    return "no-backslash-escapes" not in case.flags


def _check_tokens(case: Case, expected: list[str]) -> None:
    found = [f"{token.kind} {token.text!r}" for token in
             lexer.tokens(case.text, backslash_escapes=_escapes(case)) if token.kind != "space"]
    assert found == [_normal_token_line(line) for line in expected]


def _normal_token_line(line: str) -> str:
    kind, _, text = line.partition(" ")
    return f"{kind} {ast.literal_eval(text)!r}"


def _check_shape(case: Case, expected: list[str]) -> None:
    result = shape.normalise(case.text, prepared="prepared" in case.flags,
                             backslash_escapes=_escapes(case))
    assert result.text == (expected[0] if expected else "")
    assert list(result.params) == [ast.literal_eval(line) for line in expected[1:]]


def _check_split(case: Case, expected: list[str]) -> None:
    found = shape.split_statements(case.text, backslash_escapes=_escapes(case))
    assert found == [ast.literal_eval(line) for line in expected]


def _check_strip(case: Case, expected: list[str]) -> None:
    assert shape.strip_comments(case.text, backslash_escapes=_escapes(case)) == \
        "\n".join(expected)


def _check_words(case: Case, expected: list[str]) -> None:
    assert lexer.words(case.text, 3) == " ".join(expected).split()


CHECKS: dict[str, Callable[[Case, list[str]], None]] = {
    "tokens": _check_tokens, "shape": _check_shape, "split": _check_split,
    "strip": _check_strip, "words": _check_words,
}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.source}:{c.line}:{c.name}" for c in CASES])
def test_fixture(case: Case) -> None:
    unknown = set(case.sections) - set(CHECKS)
    assert not unknown, f"unknown sections {unknown}"
    assert case.sections, "a case checks at least one thing"
    for name, expected in case.sections.items():
        CHECKS[name](case, expected)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.source}:{c.line}:{c.name}" for c in CASES])
def test_invariants(case: Case) -> None:
    _check_invariants(case.text, _escapes(case))


def _check_invariants(text: str, backslash_escapes: bool) -> None:
    walked = list(lexer.tokens(text, backslash_escapes=backslash_escapes))
    assert "".join(token.text for token in walked) == text
    assert all(a.end == b.start for a, b in zip(walked, walked[1:], strict=False))
    significant = [token for token in walked if token.kind not in ("space", "word", "op")
                   or token.text == "*" and text.startswith("*/", token.start)]
    assert list(lexer.scan(text, backslash_escapes=backslash_escapes)) == significant


def test_fixtures_were_found() -> None:
    assert len(CASES) >= 80
    sections = {name for case in CASES for name in case.sections}
    assert sections == set(CHECKS)


# ---------------------------------------------------------------- invariants on odd inputs

ODD_INPUTS = [
    "", "'", "''", "'''", "\\", "'\\'", "`", "``", "```", '"', "/*", "/*/", "/**/", "*/", "/*!",
    "/*!*/", "/*!80036", "/*!99999 /* */", "--", "-- ", "---", "#", "@", "@@", "@'", "0x", "0b2",
    "x'", "X'zz'", "b'12'", "_utf8mb4", "_utf8mb4 ", "N", "N'", "1.", ".", "1e", "1e+", "1.2.3",
    "a*/b", "/*!50000 a */ */ b", "é'x'", "€1", "\x00--\x00", "?;?;", "t.1e5", "@a.b.c",
]


@pytest.mark.parametrize("text", ODD_INPUTS)
@pytest.mark.parametrize("escapes", [True, False])
def test_invariants_on_odd_inputs(text: str, escapes: bool) -> None:
    _check_invariants(text, escapes)
    shape.normalise(text, backslash_escapes=escapes)
    shape.split_statements(text, backslash_escapes=escapes)


# ---------------------------------------------------------------- values

@pytest.mark.parametrize(("token", "escapes", "value"), [
    ("'a''b'", True, "a'b"), ('"a""b"', True, 'a"b'), ("'a\\'b'", True, "a'b"),
    ("'a\\\\b'", True, "a\\b"), ("'a\\\\b'", False, "a\\\\b"), ("'a\\'", False, "a\\"),
    ("'\\0\\b\\n\\r\\t\\Z'", True, "\0\b\n\r\t\x1a"), ("'\\%\\_'", True, "\\%\\_"),
    ("'\\x\\y'", True, "xy"), ("'a' \"b\"\n'c'", True, "abc"), ("_binary 'ab'", True, b"ab"),
    ("_utf8mb4'x'", True, "x"), ("N'x' 'y'", True, "xy"), ("_BINARY'q'", True, b"q"),
])
def test_string_values(token: str, escapes: bool, value: object) -> None:
    assert lexer.string_value(token, backslash_escapes=escapes) == value


def test_other_literal_values() -> None:
    assert lexer.hex_value("X'4142'") == b"AB" and lexer.hex_value("0x141") == b"\x01\x41"
    assert lexer.bits_value("b'101'") == 5 and lexer.bits_value("0b11") == 3
    assert lexer.bits_value("B''") == 0
    assert lexer.quoted_name("`a``b`") == "a`b"
    assert lexer.introducer("_latin1 'x'") == "latin1" and lexer.introducer("'x'") == ""


def test_version_comparison_is_numeric() -> None:
    for width in (5, 6):
        pattern = __import__("re").compile(lexer._greater_than(lexer.SERVER_VERSION_ID, width))
        for version in range(0, 10 ** width, 7 if width == 5 else 997):
            digits = str(version).zfill(width)
            assert bool(pattern.fullmatch(digits)) == (version > lexer.SERVER_VERSION_ID)


# ---------------------------------------------------------------- linear time

def _seconds(run: Callable[[str], object], text: str) -> float:
    """CPU seconds of this thread (other processes' load does not count), best of five."""
    best = float("inf")
    for _ in range(5):
        start = time.thread_time()
        run(text)
        best = min(best, time.thread_time() - start)
    return best


PATHOLOGICAL = {
    "quotes": "'", "double quotes": '"', "backslash-quote": "'\\", "comment openers": "/*",
    "versioned openers": "/*!", "newer versioned": "/*!99999 /*", "backquotes": "`",
    "dashes": "-", "digits then word": "1", "introducers": "_utf8mb4 ", "stars": "*/",
    "at signs": "@", "hex": "0x", "dots": ".5", "hashes": "#",
}
SCANNERS: dict[str, Callable[[str], object]] = {
    "tokens": lambda text: sum(1 for _ in lexer.tokens(text)),
    "scan": lambda text: sum(1 for _ in lexer.scan(text)),
    "normalise": shape.normalise,
    "split": shape.split_statements,
}


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_time_is_linear_on_pathological_input(name: str, scanner: str) -> None:
    unit = PATHOLOGICAL[name]
    size = 8 * 1024 if scanner == "tokens" else 32 * 1024
    small = unit * (size // len(unit)) + "x"
    large = unit * (8 * size // len(unit)) + "x"
    run = SCANNERS[scanner]
    ratio = _seconds(run, large) / max(_seconds(run, small), 1e-6)
    assert ratio < 24, f"8x the input took {ratio:.1f}x the time"  # quadratic would be ~64x


@pytest.mark.parametrize("unit", ["'", "/*", "`", "/*!99999 /*"])
def test_a_megabyte_of_openers_is_linear(unit: str) -> None:
    large = unit * (1024 * 1024 // len(unit))
    small = large[:len(large) // 8]
    for run in (shape.normalise, shape.split_statements):
        ratio = _seconds(run, large) / max(_seconds(run, small), 1e-6)
        assert ratio < 24, f"{run.__name__}: 8x the input took {ratio:.1f}x the time"


def test_multi_megabyte_statement_batch_is_linear() -> None:
    statement = ("INSERT INTO t (a, b, c) VALUES (1, 'it''s \\'q\\'', 2.5e3) /* note */; "
                 "-- trailing\nSELECT `we``ird`, @v, /*!40101 x */ 0x1F FROM t WHERE a = ?;\n")
    small = statement * (256 * 1024 // len(statement))
    large = small * 8  # about 2 MB
    assert len(shape.split_statements(small)) == 2 * (len(small) // len(statement))
    for run in (shape.normalise, shape.split_statements):
        ratio = _seconds(run, large) / _seconds(run, small)
        assert ratio < 24, f"{run.__name__}: 8x the input took {ratio:.1f}x the time"


# ---------------------------------------------------------------- random text

# Every character that means something to the lexer, plus some that do not.
_ALPHABET = list("'\"`\\/*!+-#@?;.:_0123456789xXbBnNeE Mé\t\n\x00()=<>|&") + [
    "/*!", "/*!80036", "/*!99999", "/*M!", "*/", "--", "-- ", "_utf8mb4", "0x", "0b", "@@", "''"]


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(_ALPHABET), max_size=40).map("".join), st.booleans())
def test_random_text_keeps_the_invariants(text: str, escapes: bool) -> None:
    _check_invariants(text, escapes)
    result = shape.normalise(text, backslash_escapes=escapes)
    assert len(result.params) == len(result.literals)
    for piece in shape.split_statements(text, backslash_escapes=escapes):
        assert piece and piece in text
    shape.strip_comments(text, backslash_escapes=escapes)
    statement.keywords(statement.strip_leading(text))
    ddl_cursor.tokenize(text)
    try:
        catalog_expr.tokenize(text)
    except catalog_expr.NotSimple:
        pass
