"""bench/compat_suites.py's reading of outcomes and its comparison (no suite runs here: the
suites are a measurement, docs/compatibility.md has the command)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH_DIR))

import compat_suites as cs  # noqa: E402

DJANGO_LOG = """\
test_a (app.tests.T.test_a) ... ok
test_b (app.tests.T.test_b) ... FAIL
test_c (app.tests.T.test_c)
A docstring line ... skipped 'no'
test_d (app.tests.T.test_d) ... ERROR
test_e (app.tests.T.test_e)
Subtests only ...
test_f (app.tests.T.test_f) ... expected failure

======================================================================
FAIL: test_b (app.tests.T.test_b)
----------------------------------------------------------------------
Traceback (most recent call last):
AssertionError: 1 != 2

======================================================================
ERROR: test_d (app.tests.T.test_d)
----------------------------------------------------------------------
MySQLdb.OperationalError: (1235, "This version of marmotdb doesn't yet support 'FOREIGN KEY to a table of another database'")

======================================================================
FAIL: test_e (app.tests.T.test_e) (x=1)
A docstring line
----------------------------------------------------------------------
AssertionError: subtest

----------------------------------------------------------------------
Ran 6 tests in 0.1s
"""


def test_django_verbose_output_is_read_with_subtests_and_messages() -> None:
    outcomes = cs.django_outcomes(DJANGO_LOG)
    status = {key.split("::")[1]: o.status for key, o in outcomes.items()}
    assert status == {"test_a": "passed", "test_b": "failed", "test_c": "skipped",
                      "test_d": "error", "test_e": "failed", "test_f": "passed"}
    assert outcomes["app.tests.T.test_b::test_b"].message == "AssertionError: 1 != 2"


def test_junit_ids_drop_the_backend_suffix(tmp_path: Path) -> None:
    xml = tmp_path / "j.xml"
    xml.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="t.X_mysql+pymysql_8_0_36_0_1_0" name="test_a[p-1]"/>'
        '<testcase classname="t.X_mariadb+pymysql_10_11_14" name="test_b">'
        '<failure message="boom"/></testcase>'
        '<testcase classname="t.X_mysql+pymysql_8_0_36" name="test_b">'
        '<error message="teardown"/></testcase>'
        '</testsuite></testsuites>')
    outcomes = cs.junit_outcomes(xml)
    assert {k: (o.status, o.message) for k, o in outcomes.items()} == {
        "t.X::test_a[p-1]": ("passed", ""), "t.X::test_b": ("failed", "boom")}


def test_comparison_counts_what_passes_on_mariadb_and_groups_failures() -> None:
    o = cs.Outcome
    mariadb = {"a": o("passed"), "b": o("passed"), "c": o("passed"), "d": o("failed"),
               "e": o("passed")}
    marmot = {"a": o("passed"), "b": o("error", "(1235, \"... 'writing to more than one "
                                                "database in one transaction in a cluster'\")"),
              "c": o("failed", "(1064, 'near \\'x 1\\'')"), "d": o("passed")}
    comparison = cs.compare("s", mariadb, marmot)
    assert (comparison.run, comparison.passed_mariadb, comparison.passed_marmot,
            comparison.passed_both) == (5, 4, 2, 1)
    assert comparison.percent == 25.0
    narrowed = cs.like_for_like(comparison, mariadb, marmot)  # e runs on MariaDB only
    assert (narrowed.passed_mariadb, narrowed.passed_both) == (3, 1)
    groups = cs.categories(comparison, marmot)
    assert [(key, n) for key, n, _ in groups][:1] == [("[error] 1235 ... ?", 1)]
