"""LOAD DATA's statement and file format (sql/load_data/statement.py) without a server: the options
parsed, MySQL's field rules (escapes, \\N, enclosures, prefixes), records cut at any packet
boundary, and the statements a Loader emits."""

from __future__ import annotations

import pytest

from marmotdb import errors
from marmotdb.sql.load_data.statement import Loader, LoadSpec, RecordReader, parse_load_data


def test_options_are_read() -> None:
    spec = parse_load_data(
        "LOAD DATA LOCAL INFILE '/tmp/a.csv' REPLACE INTO TABLE db1.t CHARACTER SET latin1 "
        "FIELDS TERMINATED BY ';' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '^' "
        "LINES STARTING BY '>' TERMINATED BY '\\r\\n' IGNORE 2 LINES (a, @b, `c d`) "
        "SET e = @b + 1, f = CONCAT(a, ',', @b)")
    assert (spec.local, spec.filename, spec.database, spec.table) == (True, "/tmp/a.csv",
                                                                      "db1", "t")
    assert (spec.duplicates, spec.charset, spec.fields_terminated, spec.enclosed,
            spec.optionally, spec.escaped) == ("REPLACE", "latin1", ";", '"', True, "^")
    assert (spec.lines_starting, spec.lines_terminated, spec.ignore_lines) == (">", "\r\n", 2)
    assert spec.targets == ["a", "@b", "c d"]
    assert spec.assignments == [("e", "@b + 1"), ("f", "CONCAT(a, ',', @b)")]


def test_defaults_are_mysqls() -> None:
    spec = parse_load_data("LOAD DATA INFILE 'x' INTO TABLE t")
    assert (spec.local, spec.fields_terminated, spec.enclosed, spec.escaped,
            spec.lines_terminated, spec.duplicates) == (False, "\t", "", "\\", "\n", "IGNORE")


@pytest.mark.parametrize("sql,code", [
    ("LOAD DATA LOCAL INFILE x INTO TABLE t", 1064),
    ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t IGNORE x LINES", 1064),
    ("LOAD XML LOCAL INFILE 'x' INTO TABLE t", 1235),
    ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t FIELDS TERMINATED BY ''", 1235),
    ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t FIELDS ENCLOSED BY 'ab'", 1083),
])
def test_bad_statements(sql: str, code: int) -> None:
    with pytest.raises(errors.MarmotError) as info:
        parse_load_data(sql)
    assert info.value.code == code


def _records(spec: LoadSpec, text: str, chunk: int = 0) -> list[list[str | None]]:
    reader = RecordReader(spec, 1 << 20)
    found: list[list[str | None]] = []
    pieces = [text[i:i + chunk] for i in range(0, len(text), chunk)] if chunk else [text]
    for piece in pieces:
        found += list(reader.feed(piece))
    return found + list(reader.finish())


def _spec(**options: object) -> LoadSpec:
    spec = LoadSpec(True, "f", "t")
    for name, value in options.items():
        setattr(spec, name, value)
    return spec


CSV = _spec(fields_terminated=",", enclosed='"', optionally=True)
CSV_TEXT = ('1,"a, b",x\n2,"say ""hi""",\\N\n3,"line\nbreak",NULL\n4,plain\\,comma,"\\N"\n'
            '5,"esc \\" q",\\t\n6,,""')
CSV_ROWS = [["1", "a, b", "x"], ["2", 'say "hi"', None], ["3", "line\nbreak", None],
            ["4", "plain,comma", "N"], ["5", 'esc " q', "\t"], ["6", "", ""]]


@pytest.mark.parametrize("chunk", [0, 1, 2, 3, 7])
def test_csv_fields_at_every_packet_boundary(chunk: int) -> None:
    assert _records(CSV, CSV_TEXT, chunk) == CSV_ROWS


def test_tab_separated_escapes_and_null() -> None:
    spec = _spec()
    assert _records(spec, "a\\tb\tc\\nd\t\\N\te\\\\f\\0\n\\Nx\t\n") == [
        ["a\tb", "c\nd", None, "e\\f\x00"], ["Nx", ""]]


def test_lines_starting_by_skips_lines_without_the_prefix() -> None:
    spec = _spec(lines_starting="xxx", fields_terminated=",")
    assert _records(spec, "xxx1,a\nnothing here\nyyxxx2,b\n") == [["1", "a"], ["2", "b"]]


def test_ignore_lines_and_crlf() -> None:
    spec = _spec(fields_terminated=";", lines_terminated="\r\n", ignore_lines=1)
    assert _records(spec, "h1;h2\r\n1;a\r\n2;b", chunk=3) == [["1", "a"], ["2", "b"]]


def test_an_unfinished_record_is_bounded() -> None:
    reader = RecordReader(_spec(), 16)
    with pytest.raises(errors.MarmotError) as info:
        list(reader.feed("x" * 40))
    assert info.value.code == 1153


def test_loader_batches_rows_in_one_transaction_with_set_and_variables() -> None:
    spec = parse_load_data("LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS TERMINATED BY ',' "
                           "(a, @v) SET c = UPPER(@v), d = a * 2")
    loader = Loader(spec, ["a", "b", "c", "d"], wrap_transaction=True, backslash_escapes=True,
                    record_bytes_max=1 << 20, batch_rows=2)
    statements = loader.feed(b"1,x'y\n2,z\\\\w\n3")
    assert statements == [
        "BEGIN",
        "INSERT IGNORE INTO `t` (`a`, `c`, `d`) VALUES ('1', (UPPER('x''y')), ('1' * 2)), "
        "('2', (UPPER('z\\\\w')), ('2' * 2))"]
    for statement in statements:
        loader.on_result(statement, 2 if statement.startswith("INSERT") else 0, 0)
    statements = loader.finish()
    assert statements == ["INSERT IGNORE INTO `t` (`a`, `c`, `d`) VALUES ('3', (UPPER(NULL)), "
                          "('3' * 2))", "COMMIT"]
    loader.on_result(statements[0], 1, 0)
    outcome = loader.outcome()
    # the last row lacks @v: MySQL's warning 1261
    assert (outcome.affected_rows, outcome.info) == (
        3, "Records: 3  Deleted: 0  Skipped: 0  Warnings: 1")


def test_loader_after_an_error_reads_on_and_rolls_back() -> None:
    spec = parse_load_data("LOAD DATA LOCAL INFILE 'f' INTO TABLE t")
    loader = Loader(spec, ["a"], wrap_transaction=True, backslash_escapes=False,
                    record_bytes_max=1 << 20, batch_rows=1)
    assert loader.feed(b"it's\n") == ["BEGIN", "INSERT IGNORE INTO `t` (`a`) VALUES ('it''s')"]
    loader.on_error(errors.error(1213, "Deadlock found"))
    assert loader.feed(b"more\n") == []
    assert loader.finish() == ["ROLLBACK"]
    with pytest.raises(errors.MarmotError) as info:
        loader.outcome()
    assert info.value.code == 1213


def test_loader_refuses_unknown_columns() -> None:
    spec = parse_load_data("LOAD DATA LOCAL INFILE 'f' INTO TABLE t (a, nope)")
    with pytest.raises(errors.MarmotError) as info:
        Loader(spec, ["a"], wrap_transaction=False, backslash_escapes=True,
               record_bytes_max=100)
    assert info.value.code == 1054
