"""Stored procedures and functions on a real data directory: DDL, catalog, each construct of
the executable subset, and the refusals (sql/routines/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.results import CallResult, Rows
from marmotdb.txn.pending import Pending
from tests.sql.session_support import database_session, server_state


@pytest.fixture
def run(tmp_path: Path) -> Any:
    session = database_session(server_state(tmp_path), "db",
                               "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")

    def execute(sql: str) -> Any:
        result = session.execute(sql)
        return result.result() if isinstance(result, Pending) else result
    execute.session = session  # type: ignore[attr-defined]
    return execute


def rows(result: Any) -> list[tuple[Any, ...]]:
    assert isinstance(result, Rows), result
    return [tuple(r) for r in result.rows]


def call_sets(result: Any) -> list[list[tuple[Any, ...]]]:
    assert isinstance(result, CallResult), result
    return [rows(r) for r in result.results]


def code(run: Any, sql: str) -> int:
    with pytest.raises(MarmotError) as info:
        run(sql)
    return info.value.code


def value(run: Any, sql: str) -> Any:
    return rows(run(sql))[0][0]


# ---------------------------------------------------------------- DDL and catalog

def test_create_show_drop_procedure(run: Any) -> None:
    run("CREATE PROCEDURE p(IN a INT, OUT b VARCHAR(10)) COMMENT 'doc' SELECT a")
    name, _, create, *_ = rows(run("SHOW CREATE PROCEDURE p"))[0]
    assert name == "p"
    assert create == ("CREATE DEFINER=`root`@`%` PROCEDURE `p`(IN a INT, OUT b "
                      "VARCHAR(10))\n    COMMENT 'doc'\nSELECT a")
    status = rows(run("SHOW PROCEDURE STATUS LIKE 'p'"))
    assert [(r[0], r[1], r[2], r[3], r[7]) for r in status] == [
        ("db", "p", "PROCEDURE", "root@%", "doc")]
    assert code(run, "CREATE PROCEDURE p() SELECT 1") == 1304
    run("DROP PROCEDURE p")
    assert code(run, "DROP PROCEDURE p") == 1305
    assert code(run, "SHOW CREATE PROCEDURE p") == 1305


def test_if_exists_and_if_not_exists_give_notes(run: Any) -> None:
    run("DROP PROCEDURE IF EXISTS nope")
    assert run.session.warnings == [("Note", 1305, "PROCEDURE db.nope does not exist")]
    run("CREATE PROCEDURE p() SELECT 1")
    run("CREATE PROCEDURE IF NOT EXISTS p() SELECT 2")
    assert run.session.warnings == [("Note", 1304, "PROCEDURE p already exists")]


def test_procedures_and_functions_have_separate_namespaces(run: Any) -> None:
    run("CREATE PROCEDURE same() SELECT 1")
    run("CREATE FUNCTION same() RETURNS INT RETURN 7")
    assert value(run, "SELECT same()") == 7
    assert call_sets(run("CALL same()")) == [[(1,)]]


def test_explicit_definer_and_characteristics_are_kept(run: Any) -> None:
    run("CREATE DEFINER=`app`@`%` FUNCTION f(x INT) RETURNS DECIMAL(10,2) DETERMINISTIC "
        "READS SQL DATA SQL SECURITY INVOKER RETURN x / 3")
    create = rows(run("SHOW CREATE FUNCTION f"))[0][2]
    assert create == ("CREATE DEFINER=`app`@`%` FUNCTION `f`(x INT) RETURNS decimal(10,2)\n"
                      "    DETERMINISTIC\n    READS SQL DATA\n    SQL SECURITY INVOKER\n"
                      "RETURN x / 3")


def test_information_schema_routines_and_parameters(run: Any) -> None:
    run("CREATE FUNCTION f(x INT, y VARCHAR(5)) RETURNS INT DETERMINISTIC RETURN x")
    run("CREATE PROCEDURE p(INOUT z BIGINT) SET z = z + 1")
    found = rows(run("SELECT ROUTINE_NAME, ROUTINE_TYPE, DATA_TYPE, IS_DETERMINISTIC, "
                     "ROUTINE_DEFINITION FROM information_schema.ROUTINES "
                     "WHERE ROUTINE_SCHEMA = 'db' ORDER BY ROUTINE_NAME"))
    assert found == [("f", "FUNCTION", "int", "YES", "RETURN x"),
                     ("p", "PROCEDURE", "", "NO", "SET z = z + 1")]
    params = rows(run("SELECT SPECIFIC_NAME, ORDINAL_POSITION, PARAMETER_MODE, PARAMETER_NAME, "
                      "DTD_IDENTIFIER FROM information_schema.PARAMETERS "
                      "ORDER BY SPECIFIC_NAME, ORDINAL_POSITION"))
    assert params == [("f", 0, None, None, "int"), ("f", 1, "IN", "x", "int"),
                      ("f", 2, "IN", "y", "varchar(5)"), ("p", 1, "INOUT", "z", "bigint")]


@pytest.mark.parametrize("sql, construct", [
    ("CREATE PROCEDURE p() BEGIN PREPARE s FROM 'SELECT 1'; END", "PREPARE"),
    ("CREATE PROCEDURE p() BEGIN DECLARE c CONDITION FOR SQLSTATE '45000'; END", "CONDITION"),
    ("CREATE PROCEDURE p() BEGIN GET DIAGNOSTICS @n = NUMBER; END", "GET DIAGNOSTICS"),
    ("CREATE PROCEDURE p() LOCK TABLES t READ", "LOCK TABLES"),
    ("CREATE AGGREGATE FUNCTION f() RETURNS INT SONAME 'x.so'", "AGGREGATE"),
])
def test_constructs_outside_the_subset_are_refused_at_create(run: Any, sql: str,
                                                            construct: str) -> None:
    with pytest.raises(MarmotError) as info:
        run(sql)
    assert info.value.code == 1235 and construct in info.value.message
    assert rows(run("SELECT count(*) FROM information_schema.ROUTINES")) == [(0,)]


@pytest.mark.parametrize("sql, expected", [
    ("CREATE PROCEDURE p() RETURN 1", 1313),
    ("CREATE FUNCTION f() RETURNS INT BEGIN SELECT 1; RETURN 1; END", 1415),
    ("CREATE FUNCTION f() RETURNS INT BEGIN DECLARE x INT; END", 1320),
    ("CREATE PROCEDURE p( BEGIN END", 1064),
    ("CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END", 1064),
])
def test_bad_routines_fail_as_in_mysql(run: Any, sql: str, expected: int) -> None:
    assert code(run, sql) == expected


# ---------------------------------------------------------------- execution

def test_call_returns_each_result_set_then_ok(run: Any) -> None:
    run("CREATE PROCEDURE p() BEGIN SELECT 1 AS a; INSERT INTO t VALUES (1, 'x'); "
        "SELECT id, v FROM t; END")
    result = run("CALL p")
    assert call_sets(result) == [[(1,)], [(1, "x")]]
    assert [c.name for c in result.results[1].columns] == ["id", "v"]


def test_a_result_set_without_client_multi_results_is_1312(run: Any) -> None:
    """MySQL refuses a CALL's result set when the client did not set CLIENT_MULTI_RESULTS
    (it could not read them); what ran before the SELECT stays, as in MySQL."""
    run("CREATE PROCEDURE p() BEGIN INSERT INTO t VALUES (1, 'x'); SELECT id FROM t; END")
    run("CREATE PROCEDURE q() BEGIN INSERT INTO t VALUES (2, 'y'); END")
    run.session.multi_results_flag = False  # type: ignore[attr-defined]
    with pytest.raises(MarmotError) as info:
        run("CALL p()")
    assert (info.value.code, info.value.sqlstate) == (1312, "0A000")
    assert "PROCEDURE db.p can't return a result set" in str(info.value)
    assert isinstance(run("CALL q()"), CallResult)  # no result set: fine
    assert rows(run("SELECT id FROM t ORDER BY id")) == [(1,), (2,)]
    run.session.multi_results_flag = True  # type: ignore[attr-defined]
    run("DELETE FROM t")
    assert call_sets(run("CALL p()")) == [[(1,)]]


def test_in_out_inout_parameters_through_user_variables(run: Any) -> None:
    run("CREATE PROCEDURE p(IN a INT, OUT b INT, INOUT c INT) BEGIN SET b = a * 2; "
        "SET c = c + a; SET a = 0; END")
    run("SET @a = 5, @b = 99, @c = 10")
    assert call_sets(run("CALL p(@a, @b, @c)")) == []
    assert rows(run("SELECT @a, @b, @c")) == [(5, 10, 15)]
    assert code(run, "CALL p(1, 2, @c)") == 1414
    assert code(run, "CALL p(1)") == 1318


def test_declare_default_set_and_integer_rounding(run: Any) -> None:
    run("CREATE PROCEDURE p(OUT r VARCHAR(40)) BEGIN DECLARE x, y INT DEFAULT 2; "
        "DECLARE s VARCHAR(10) DEFAULT 'k'; SET x = 2.5, y = x + 1; "
        "SET r = CONCAT(s, x, '-', y); END")
    run("CALL p(@r)")
    assert value(run, "SELECT @r") == "k3-4"


def test_if_elseif_else_and_case_statements(run: Any) -> None:
    run("""CREATE PROCEDURE p(IN n INT, OUT a VARCHAR(9), OUT b VARCHAR(9)) BEGIN
          IF n < 0 THEN SET a = 'neg'; ELSEIF n = 0 THEN SET a = 'zero'; ELSE SET a = 'pos';
          END IF;
          CASE n WHEN 1 THEN SET b = 'one'; WHEN 2 THEN SET b = 'two'; ELSE SET b = 'many';
          END CASE;
        END""")
    got = []
    for n in (-1, 0, 1, 2, 7):
        run(f"CALL p({n}, @a, @b)")
        got.append(rows(run("SELECT @a, @b"))[0])
    assert got == [("neg", "many"), ("zero", "many"), ("pos", "one"), ("pos", "two"),
                   ("pos", "many")]


def test_searched_case_without_match_is_1339(run: Any) -> None:
    run("CREATE PROCEDURE p() CASE WHEN 1 = 2 THEN SELECT 1; END CASE")
    assert code(run, "CALL p()") == 1339


def test_while_repeat_loop_with_labels_leave_iterate(run: Any) -> None:
    run("""CREATE PROCEDURE p(OUT w INT, OUT r INT, OUT l VARCHAR(40)) BEGIN
          DECLARE i INT DEFAULT 0;
          SET w = 0;
          WHILE i < 5 DO SET i = i + 1; SET w = w + i; END WHILE;
          SET r = 0;
          REPEAT SET r = r + 10; UNTIL r >= 30 END REPEAT;
          SET i = 0, l = '';
          outer_loop: LOOP
            SET i = i + 1;
            IF i % 2 = 0 THEN ITERATE outer_loop; END IF;
            IF i > 7 THEN LEAVE outer_loop; END IF;
            SET l = CONCAT(l, i);
          END LOOP outer_loop;
        END""")
    run("CALL p(@w, @r, @l)")
    assert rows(run("SELECT @w, @r, @l")) == [(15, 30, "1357")]


def test_leave_a_labelled_block(run: Any) -> None:
    run("CREATE PROCEDURE p() body: BEGIN SELECT 1; LEAVE body; SELECT 2; END body")
    assert call_sets(run("CALL p()")) == [[(1,)]]


def test_select_into_locals_and_user_variables(run: Any) -> None:
    run("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    run("CREATE PROCEDURE p(IN k INT, OUT o VARCHAR(9)) BEGIN DECLARE n INT; "
        "SELECT v, id INTO o, n FROM t WHERE id = k; SELECT count(*) INTO @cnt FROM t; "
        "SET o = CONCAT(o, n); END")
    run("CALL p(2, @o)")
    assert rows(run("SELECT @o, @cnt")) == [("b2", 2)]
    run("CALL p(5, @o)")  # no row: a warning, o stays NULL
    assert value(run, "SELECT @o") is None
    run("CREATE PROCEDURE many() BEGIN DECLARE x INT; SELECT id INTO x FROM t; END")
    assert code(run, "CALL many()") == 1172


def test_local_variables_shadow_columns_in_statements(run: Any) -> None:
    run("CREATE PROCEDURE p(IN id_wanted INT, IN v_new VARCHAR(9)) BEGIN "
        "INSERT INTO t (id, v) VALUES (id_wanted, v_new); "
        "UPDATE t SET v = CONCAT(v, '!') WHERE id = id_wanted; END")
    run("CALL p(4, 'it''s')")
    assert rows(run("SELECT id, v FROM t")) == [(4, "it's!")]


def test_cursor_with_continue_handler_for_not_found(run: Any) -> None:
    run("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    run("""CREATE PROCEDURE p(OUT s VARCHAR(20)) BEGIN
          DECLARE done INT DEFAULT 0;
          DECLARE val VARCHAR(5);
          DECLARE cur CURSOR FOR SELECT v FROM t ORDER BY id;
          DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
          SET s = '';
          OPEN cur;
          read_loop: LOOP
            FETCH cur INTO val;
            IF done THEN LEAVE read_loop; END IF;
            SET s = CONCAT(s, val);
          END LOOP;
          CLOSE cur;
        END""")
    run("CALL p(@s)")
    assert value(run, "SELECT @s") == "abc"


def test_fetch_past_the_end_without_handler_is_1329(run: Any) -> None:
    run("CREATE PROCEDURE p() BEGIN DECLARE x INT; DECLARE c CURSOR FOR SELECT id FROM t; "
        "OPEN c; FETCH c INTO x; END")
    assert code(run, "CALL p()") == 1329


def test_exit_handler_for_sqlexception_leaves_its_block(run: Any) -> None:
    run("""CREATE PROCEDURE p(OUT r VARCHAR(20)) BEGIN
          SET r = 'start';
          BEGIN
            DECLARE EXIT HANDLER FOR SQLEXCEPTION SET r = CONCAT(r, '-caught');
            INSERT INTO t VALUES (1, 'a');
            INSERT INTO t VALUES (1, 'dup');
            SET r = 'not reached';
          END;
          SET r = CONCAT(r, '-after');
        END""")
    run("CALL p(@r)")
    assert value(run, "SELECT @r") == "start-caught-after"


def test_handler_for_an_error_code_and_sqlstate(run: Any) -> None:
    run("""CREATE PROCEDURE p(OUT r INT) BEGIN
          DECLARE CONTINUE HANDLER FOR 1146 SET r = 1146;
          DECLARE CONTINUE HANDLER FOR SQLSTATE '23000' SET r = 23000;
          SELECT * FROM missing_table;
        END""")
    run("CALL p(@r)")
    assert value(run, "SELECT @r") == 1146
    run("""CREATE PROCEDURE q(OUT r INT) BEGIN
          DECLARE CONTINUE HANDLER FOR SQLSTATE '23000' SET r = 23000;
          INSERT INTO t VALUES (1, 'a'), (1, 'b');
        END""")
    run("CALL q(@r)")  # an SQLSTATE of digits is not taken for an error number
    assert value(run, "SELECT @r") == 23000


def test_signal_with_sqlstate_message_and_errno(run: Any) -> None:
    run("CREATE PROCEDURE p(IN n INT) BEGIN IF n < 0 THEN SIGNAL SQLSTATE '45000' "
        "SET MESSAGE_TEXT = CONCAT('negative: ', n), MYSQL_ERRNO = 1644; END IF; SELECT n; END")
    assert call_sets(run("CALL p(1)")) == [[(1,)]]
    with pytest.raises(MarmotError) as info:
        run("CALL p(-3)")
    assert (info.value.code, info.value.sqlstate, info.value.message) == (
        1644, "45000", "negative: -3")
    run("CREATE PROCEDURE q() SIGNAL SQLSTATE '22012' SET MYSQL_ERRNO = 1365")
    with pytest.raises(MarmotError) as info:
        run("CALL q()")
    assert (info.value.code, info.value.sqlstate) == (1365, "22012")


def test_resignal_in_a_handler_passes_the_error_on(run: Any) -> None:
    run("""CREATE PROCEDURE p() BEGIN
          DECLARE EXIT HANDLER FOR SQLEXCEPTION RESIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'wrapped';
          SELECT * FROM missing_table;
        END""")
    with pytest.raises(MarmotError) as info:
        run("CALL p()")
    assert (info.value.code, info.value.message) == (1644, "wrapped")


def test_nested_call_and_recursion_bounded_by_max_sp_recursion_depth(run: Any) -> None:
    run("CREATE PROCEDURE inner_p(INOUT x INT) SET x = x * 10")
    run("CREATE PROCEDURE outer_p(OUT y INT) BEGIN DECLARE v INT DEFAULT 4; "
        "CALL inner_p(v); SET y = v + 1; END")
    run("CALL outer_p(@y)")
    assert value(run, "SELECT @y") == 41
    run("CREATE PROCEDURE fact(IN n INT, OUT r BIGINT) BEGIN DECLARE sub BIGINT; "
        "IF n <= 1 THEN SET r = 1; ELSE CALL fact(n - 1, sub); SET r = n * sub; END IF; END")
    with pytest.raises(MarmotError) as info:
        run("CALL fact(3, @r)")
    assert info.value.code == 1456 and "Recursive limit 0" in info.value.message
    run("SET max_sp_recursion_depth = 10")
    run("CALL fact(6, @r)")
    assert value(run, "SELECT @r") == 720


def test_undeclared_variable_and_missing_procedure(run: Any) -> None:
    run("CREATE PROCEDURE p() SET nope = 1")
    assert code(run, "CALL p()") == 1327
    assert code(run, "CALL missing()") == 1305


# ---------------------------------------------------------------- functions

def test_function_in_select_where_and_insert(run: Any) -> None:
    run("CREATE FUNCTION label(x INT) RETURNS VARCHAR(20) DETERMINISTIC "
        "RETURN CONCAT('#', x)")
    run("INSERT INTO t VALUES (1, label(1)), (2, label(2))")
    assert rows(run("SELECT id, label(id * 10) FROM t WHERE v = label(2)")) == [(2, "#20")]


def test_function_body_with_declare_set_and_if(run: Any) -> None:
    run("""CREATE FUNCTION grade(x INT) RETURNS VARCHAR(10) DETERMINISTIC BEGIN
          DECLARE lim INT DEFAULT 10;
          SET lim = lim * 1;
          IF x > lim THEN RETURN 'big'; ELSEIF x > 3 THEN RETURN 'mid'; END IF;
          RETURN 'small';
        END""")
    assert rows(run("SELECT grade(1), grade(5), grade(12)")) == [("small", "mid", "big")]


def test_function_return_type_is_applied(run: Any) -> None:
    run("CREATE FUNCTION half(x INT) RETURNS INT RETURN x / 2")
    run("CREATE FUNCTION third(x INT) RETURNS DECIMAL(6,2) RETURN x / 3")
    half, third = rows(run("SELECT half(5), third(10)"))[0]
    assert (half, str(third)) == (3, "3.33")


def test_function_used_inside_a_procedure_and_nested_functions(run: Any) -> None:
    run("CREATE FUNCTION sq(x INT) RETURNS INT RETURN x * x")
    run("CREATE FUNCTION sum_sq(a INT, b INT) RETURNS INT RETURN sq(a) + sq(b)")
    run("CREATE PROCEDURE p(OUT r INT) SET r = sum_sq(3, 4)")
    run("CALL p(@r)")
    assert value(run, "SELECT @r") == 25


def test_recursive_function_is_refused_and_bad_arity(run: Any) -> None:
    run("CREATE FUNCTION r(x INT) RETURNS INT RETURN r(x)")
    assert code(run, "SELECT r(1)") == 1424
    run("CREATE FUNCTION one(x INT) RETURNS INT RETURN x")
    assert code(run, "SELECT one(1, 2)") == 1318


def test_functions_with_loops_run_per_row(run: Any) -> None:
    run("CREATE FUNCTION loopy(x INT) RETURNS INT BEGIN DECLARE i INT DEFAULT 0; "
        "WHILE i < x DO SET i = i + 1; END WHILE; RETURN i; END")
    run("CREATE FUNCTION fact(n INT) RETURNS BIGINT BEGIN DECLARE r BIGINT DEFAULT 1; "
        "DECLARE k INT DEFAULT n; fl: LOOP IF k <= 1 THEN LEAVE fl; END IF; SET r = r * k; "
        "SET k = k - 1; END LOOP fl; RETURN r; END")
    run("CREATE FUNCTION stars(n INT) RETURNS VARCHAR(20) BEGIN DECLARE s VARCHAR(20) "
        "DEFAULT ''; REPEAT SET s = CONCAT(s, '*'); SET n = n - 1; UNTIL n <= 0 END REPEAT; "
        "RETURN s; END")
    assert "loopy" in rows(run("SHOW CREATE FUNCTION loopy"))[0][2]
    assert rows(run("SELECT loopy(3), fact(10), stars(3), loopy(NULL)")) == [
        (3, 3628800, "***", 0)]
    run("INSERT INTO t VALUES (1, 'a'), (4, 'b'), (6, 'c')")
    assert rows(run("SELECT id, fact(id), stars(id) FROM t WHERE loopy(id) > 1 ORDER BY id")) \
        == [(4, 24, "****"), (6, 720, "******")]
    run("UPDATE t SET v = stars(id) WHERE id = 4")
    assert rows(run("SELECT v FROM t WHERE id = 4")) == [("****",)]
    run("CREATE PROCEDURE p(OUT r INT) SET r = fact(5)")
    run("CALL p(@r)")
    assert value(run, "SELECT @r") == 120


def test_function_with_loops_calls_functions_signals_and_handles(run: Any) -> None:
    run("CREATE FUNCTION sq(x INT) RETURNS INT RETURN x * x")
    run("CREATE FUNCTION sum_sq(n INT) RETURNS INT BEGIN DECLARE s INT DEFAULT 0; "
        "WHILE n > 0 DO SET s = s + sq(n); SET n = n - 1; END WHILE; RETURN s; END")
    run("CREATE FUNCTION twice(n INT) RETURNS INT RETURN sum_sq(n) * 2")
    assert rows(run("SELECT sum_sq(3), twice(2)")) == [(14, 10)]
    run("CREATE FUNCTION picky(n INT) RETURNS INT BEGIN WHILE n > 0 DO "
        "IF n = 3 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no threes'; END IF; "
        "SET n = n - 1; END WHILE; RETURN 0; END")
    assert code(run, "SELECT picky(5)") == 1644
    assert rows(run("SELECT picky(2)")) == [(0,)]
    run("CREATE FUNCTION safe(n INT) RETURNS INT BEGIN DECLARE CONTINUE HANDLER FOR "
        "SQLSTATE '45000' SET n = -1; WHILE n > 0 DO SIGNAL SQLSTATE '45000'; END WHILE; "
        "RETURN n; END")
    assert rows(run("SELECT safe(4)")) == [(-1,)]
    run("CREATE FUNCTION no_return(n INT) RETURNS INT BEGIN IF n > 5 THEN RETURN n; END IF; "
        "WHILE n > 0 DO SET n = n - 1; END WHILE; END")
    with pytest.raises(MarmotError) as info:
        run("SELECT no_return(2)")
    assert (info.value.code, info.value.sqlstate) == (1321, "2F005")
    run("CREATE FUNCTION rec(n INT) RETURNS INT BEGIN WHILE n > 0 DO SET n = rec(n - 1); "
        "END WHILE; RETURN n; END")
    assert code(run, "SELECT rec(2)") == 1424


def test_function_bodies_beyond_expressions_are_refused_when_called(run: Any) -> None:
    run("CREATE FUNCTION reads(x INT) RETURNS INT BEGIN DECLARE i INT DEFAULT 0; "
        "WHILE i < x DO SET i = i + (SELECT COUNT(*) FROM t); END WHILE; RETURN i; END")
    run("CREATE FUNCTION counts(x INT) RETURNS INT BEGIN DECLARE n INT; "
        "SELECT COUNT(*) INTO n FROM t; WHILE x > 0 DO SET x = x - 1; END WHILE; RETURN n; END")
    run("CREATE FUNCTION session_var(x INT) RETURNS INT BEGIN WHILE x > 0 DO "
        "SET @seen = x; SET x = x - 1; END WHILE; RETURN x; END")
    for name in ("reads", "counts", "session_var"):
        assert code(run, f"SELECT {name}(3)") == 1235


# ---------------------------------------------------------------- long CALLs

def test_a_long_call_gives_the_host_turns_and_kill_query_stops_it(run: Any) -> None:
    session = run.session
    host = session.server.host
    run("CREATE PROCEDURE spin(IN n INT, OUT done INT) BEGIN DECLARE i INT DEFAULT 0; "
        "WHILE i < n DO SET i = i + 1; END WHILE; SET done = i; END")
    waiting = session.execute("CALL spin(1000, @done)")  # ~2000 statements: 10 slices
    assert isinstance(waiting, Pending)
    slices = 0
    while not waiting.done():
        assert host.timers, "a suspended CALL is resumed by a timer"
        host.fire_timers()
        slices += 1
    assert waiting.result().ok is not None and slices >= 5
    assert value(run, "SELECT @done") == 1000
    forever = session.execute("CALL spin(1000000000, @done)")
    assert isinstance(forever, Pending) and not forever.done()
    session.interrupt()  # KILL QUERY
    host.fire_timers()
    with pytest.raises(MarmotError) as info:
        forever.result()
    assert info.value.code == 1317
    assert value(run, "SELECT 1") == 1  # the session goes on


def test_a_long_function_moves_off_the_loop_and_kill_query_stops_it(tmp_path: Path) -> None:
    import threading
    import time

    from marmotdb.sql.results import LongRead
    server = server_state(tmp_path)
    session = database_session(server, "db", "CREATE TABLE t (id INT PRIMARY KEY)")
    session.execute("CREATE FUNCTION spin(n INT) RETURNS INT BEGIN DECLARE i INT DEFAULT 0; "
                    "WHILE i < n DO SET i = i + 1; END WHILE; RETURN i; END")
    with pytest.raises(LongRead) as info:  # the in-loop budget ran out inside the function
        session.execute("SELECT spin(3000)")
    job = info.value.job
    try:
        assert [tuple(r) for r in job.run().rows] == [(3000,)]
    finally:
        job.finish()
    with pytest.raises(LongRead) as info:
        session.execute("SELECT spin(100000000)")
    job = info.value.job
    outcome: list[Any] = []

    def run_job() -> None:
        try:
            job.run()
            outcome.append("finished")
        except MarmotError as exc:
            outcome.append(exc.code)
    worker = threading.Thread(target=run_job)
    worker.start()
    time.sleep(0.3)
    server.kill(session.connection_id, query_only=True)
    worker.join(10)
    job.finish()
    assert outcome == [1317]


def test_prepared_statements_call_stored_functions_and_columns_keep_their_names(
        run: Any) -> None:
    session = run.session
    run("CREATE FUNCTION inc(x INT) RETURNS INT RETURN x + 1")
    run("CREATE FUNCTION tens(x INT) RETURNS INT BEGIN DECLARE i INT DEFAULT 0; "
        "WHILE i < x DO SET i = i + 1; END WHILE; RETURN i * 10; END")
    run("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    result = run("SELECT id, inc(id + 2), tens(id) AS t10, tens(1) + 1 FROM t ORDER BY id")
    assert [c.name for c in result.columns] == ["id", "inc(id + 2)", "t10", "tens(1) + 1"]
    assert rows(result) == [(1, 4, 10, 11), (2, 5, 20, 11)]
    plan = session.prepare("SELECT id, inc(id + ?), tens(?) FROM t WHERE tens(id) > ? "
                           "ORDER BY id")
    assert [c.name for c in plan.columns] == ["id", "inc(id + ?)", "tens(?)"]
    assert [tuple(r) for r in session.execute_prepared(plan, [1, 3, 10]).rows] == [(2, 4, 30)]
