"""CREATE DATABASE … CHARACTER SET / COLLATE and ALTER DATABASE: the database's default
character set and collation are kept (its ``__marmot_schema`` row, which replicates with the
DDL and survives a restart), shown by SHOW CREATE DATABASE and INFORMATION_SCHEMA.SCHEMATA,
given to the session by USE (character_set_database, collation_database) and to the tables
created there without one (MySQL's rule). tests/integration/test_database_charset.py asks
MariaDB the same."""

from __future__ import annotations

from pathlib import Path

import apsw

from marmotdb.sql.server_state import ServerState
from marmotdb.storage.commitlog import iter_log
from marmotdb.storage.writeset import decode_write_set
from marmotdb.users import User
from tests.sql.sessions import error_code, new_server, rows, session

SHOWN = ("CREATE DATABASE `{}` /*!40100 DEFAULT CHARACTER SET {} COLLATE {} */ "
         "/*!80016 DEFAULT ENCRYPTION='N' */")


def _schemata(server: ServerState) -> dict[str, tuple[str, str]]:
    found = rows(session(server).execute(
        "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
        "FROM information_schema.SCHEMATA"))
    return {name: (charset, collation) for name, charset, collation in found}


def test_create_database_keeps_and_shows_them(server: ServerState) -> None:
    s = session(server)
    s.execute("CREATE DATABASE a CHARACTER SET latin1")
    s.execute("CREATE DATABASE b DEFAULT COLLATE = utf8mb4_unicode_ci")
    s.execute("CREATE DATABASE /*!32312 IF NOT EXISTS*/ `c` /*!40100 DEFAULT CHARACTER SET "
              "utf8mb4 COLLATE utf8mb4_bin */ /*!80016 DEFAULT ENCRYPTION='N' */")  # a dump's
    s.execute("CREATE DATABASE d")
    assert rows(s.execute("SHOW CREATE DATABASE a")) == [
        ("a", SHOWN.format("a", "latin1", "latin1_swedish_ci"))]
    assert rows(s.execute("SHOW CREATE DATABASE b"))[0][1] == \
        SHOWN.format("b", "utf8mb4", "utf8mb4_unicode_ci")
    schemata = _schemata(server)
    assert (schemata["c"], schemata["d"]) == (("utf8mb4", "utf8mb4_bin"),
                                              ("utf8mb4", "utf8mb4_0900_ai_ci"))
    s.execute("CREATE DATABASE IF NOT EXISTS a CHARACTER SET utf8mb4")  # exists: unchanged
    assert _schemata(server)["a"] == ("latin1", "latin1_swedish_ci")


def test_bad_options_are_mysqls_errors_and_make_nothing(server: ServerState) -> None:
    s = session(server)
    assert error_code(lambda: s.execute("CREATE DATABASE x CHARACTER SET nope")) == 1115
    assert error_code(lambda: s.execute("CREATE DATABASE x COLLATE nope")) == 1273
    assert error_code(lambda: s.execute("CREATE DATABASE x CHARSET latin1 "
                                        "COLLATE utf8mb4_bin")) == 1253
    assert error_code(lambda: s.execute("CREATE DATABASE x ENCRYPTION 'Y'")) == 1235
    assert "x" not in _schemata(server)
    s.execute("CREATE DATABASE x")
    assert error_code(lambda: s.execute("ALTER DATABASE x")) == 1064
    assert error_code(lambda: s.execute("ALTER DATABASE x READ ONLY = 1")) == 1235
    assert error_code(lambda: s.execute("ALTER DATABASE nowhere CHARSET latin1")) == 1049
    assert error_code(lambda: s.execute("ALTER DATABASE CHARSET latin1")) == 1046


def test_alter_database_and_use(server: ServerState) -> None:
    s = session(server)
    s.execute("CREATE DATABASE a")
    s.execute("USE a")
    assert rows(s.execute("SELECT @@character_set_database, @@collation_database")) == [
        ("utf8mb4", "utf8mb4_0900_ai_ci")]
    s.execute("ALTER DATABASE COLLATE utf8mb4_unicode_ci")  # the current one: the session's too
    assert rows(s.execute("SELECT @@collation_database")) == [("utf8mb4_unicode_ci",)]
    s.execute("ALTER SCHEMA a DEFAULT CHARACTER SET = latin1")
    other = session(server, database="a")
    assert rows(other.execute("SELECT @@character_set_database, @@collation_database")) == [
        ("latin1", "latin1_swedish_ci")]
    assert _schemata(server)["a"] == ("latin1", "latin1_swedish_ci")


def test_a_table_without_a_character_set_gets_the_databases(server: ServerState) -> None:
    s = session(server)
    s.execute("CREATE DATABASE u COLLATE utf8mb4_unicode_ci")
    s.execute("USE u")
    for statement in ("CREATE TABLE plain (a VARCHAR(3))",
                      "CREATE TABLE own (a VARCHAR(3)) CHARSET latin1",
                      "CREATE TABLE selected AS SELECT 'x' AS a",
                      "CREATE TABLE u.qualified (a TEXT)"):
        s.execute(statement)
    found = rows(s.execute("SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                           "WHERE TABLE_SCHEMA = 'u' ORDER BY TABLE_NAME"))
    assert found == [("own", "latin1_swedish_ci"), ("plain", "utf8mb4_unicode_ci"),
                     ("qualified", "utf8mb4_unicode_ci"), ("selected", "utf8mb4_unicode_ci")]
    assert rows(s.execute("SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE "
                          "TABLE_SCHEMA = 'u' AND TABLE_NAME = 'plain'")) == [
        ("utf8mb4_unicode_ci",)]
    s.execute("CREATE TRIGGER tr BEFORE INSERT ON plain FOR EACH ROW SET NEW.a = 'y'")
    assert rows(s.execute("SHOW TRIGGERS"))[0][10] == "utf8mb4_unicode_ci"  # Database Collation


def test_kept_across_a_restart_and_replicated(tmp_path: Path) -> None:
    users = [User("root", "x", {"*": "admin"})]
    first = new_server(tmp_path, users)
    session(first).execute("CREATE DATABASE kept CHARACTER SET latin1 COLLATE latin1_bin")
    first.close()
    again = new_server(tmp_path, users)
    try:
        assert _schemata(again)["kept"] == ("latin1", "latin1_bin")
        conn = apsw.Connection(str(again.databases.get("kept").path))
        try:  # the DDL's entry in the commit log carries the row: replicas replay it
            shipped = [" ".join(change.statements) for entry in iter_log(conn)
                       for change in decode_write_set(entry.write_set).schema_changes]
        finally:
            conn.close()
    finally:
        again.close()
    assert any("latin1_bin" in statements for statements in shipped)
