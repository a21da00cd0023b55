"""CHECK constraints and functional key parts are kept and shown as MySQL 8 prints them back
(its ``Item::print``, definition/shown_expression.py, as for generated columns): lower-case
functions, every operator in parentheses, ``_utf8mb4`` introducers, ``->>`` as
``json_unquote(json_extract(…))``; SHOW CREATE TABLE lists CHECK constraints by name. The
expected texts are MySQL 8.0's (MariaDB prints these its own way, so no differential test)."""

from __future__ import annotations

from marmotdb.sql.server_state import ServerState
from tests.sql.sessions import error_code, rows, session

CREATE = ("CREATE TABLE t (a INT, b INT, s VARCHAR(10), j JSON, CHECK (a > 0), "
          "CONSTRAINT c2 CHECK (a + b < 10) NOT ENFORCED, "
          "CHECK (s LIKE 'x%' AND s IN ('x1','x2')), "
          "CHECK (a BETWEEN 1 AND 5 OR b IS NULL), CHECK (NOT (j IS NULL) OR json_valid(j)), "
          "INDEX ((a + b)), INDEX f2 ((ABS(a)) DESC), UNIQUE KEY ((LOWER(s))), "
          "KEY fj ((CAST(j->>'$.x' AS CHAR(10)))))")
SHOWN = """CREATE TABLE `t` (
  `a` int DEFAULT NULL,
  `b` int DEFAULT NULL,
  `s` varchar(10) DEFAULT NULL,
  `j` json DEFAULT NULL,
  UNIQUE KEY `functional_index_2` ((lower(`s`))),
  KEY `functional_index` (((`a` + `b`))),
  KEY `f2` ((abs(`a`)) DESC),
  KEY `fj` ((cast(json_unquote(json_extract(`j`,_utf8mb4'$.x')) as char(10) charset utf8mb4))),
  CONSTRAINT `c2` CHECK (((`a` + `b`) < 10)) /*!80016 NOT ENFORCED */,
  CONSTRAINT `t_chk_1` CHECK ((`a` > 0)),
  CONSTRAINT `t_chk_2` CHECK (((`s` like _utf8mb4'x%') and (`s` in (_utf8mb4'x1',_utf8mb4'x2')))),
  CONSTRAINT `t_chk_3` CHECK (((`a` between 1 and 5) or (`b` is null))),
  CONSTRAINT `t_chk_4` CHECK (((not((`j` is null))) or json_valid(`j`)))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci"""


def _made(server: ServerState):  # type: ignore[no-untyped-def]
    s = session(server)
    for statement in ("CREATE DATABASE ck", "USE ck", CREATE):
        s.execute(statement)
    return s


def test_show_create_table_prints_them_as_mysql(server: ServerState) -> None:
    s = _made(server)
    assert rows(s.execute("SHOW CREATE TABLE t"))[0][1] == SHOWN
    assert rows(s.execute("SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema."
                          "CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = 'ck' "
                          "ORDER BY CONSTRAINT_NAME"))[:2] == [
        ("c2", "((`a` + `b`) < 10)"), ("t_chk_1", "(`a` > 0)")]
    assert rows(s.execute("SELECT INDEX_NAME, EXPRESSION FROM information_schema.STATISTICS "
                          "WHERE TABLE_SCHEMA = 'ck' ORDER BY INDEX_NAME")) == [
        ("f2", "abs(`a`)"),
        ("fj", "cast(json_unquote(json_extract(`j`,_utf8mb4'$.x')) as char(10) charset utf8mb4)"),
        ("functional_index", "(`a` + `b`)"), ("functional_index_2", "lower(`s`)")]


def test_the_printed_text_creates_the_same_table(server: ServerState) -> None:
    """What a dump replays: SHOW CREATE TABLE's text, created again, shows the same."""
    s = _made(server)
    s.execute("CREATE DATABASE again")
    s.execute("USE again")
    s.execute(SHOWN)
    assert rows(s.execute("SHOW CREATE TABLE t"))[0][1] == SHOWN


def test_they_are_still_enforced(server: ServerState) -> None:
    s = _made(server)
    s.execute("INSERT INTO t (a, b, s, j) VALUES (1, 2, 'x1', '{\"x\": \"q\"}')")
    assert error_code(lambda: s.execute("INSERT INTO t (a, b, s) VALUES (0, 2, 'x1')")) == 3819
    assert error_code(lambda: s.execute("INSERT INTO t (a, b, s) VALUES (2, 2, 'y1')")) == 3819
    assert error_code(lambda: s.execute("INSERT INTO t (a, b, s) VALUES (2, 2, 'X1')")) == 1062
    s.execute("INSERT INTO t (a, b, s) VALUES (3, 20, 'x2')")  # c2 is NOT ENFORCED
    assert rows(s.execute("SELECT a FROM t WHERE j->>'$.x' = 'q'")) == [(1,)]
