"""Each view, trigger and routine keeps the character_set_client and collation_connection of
the session that created it and its database's collation (schema.CreationCharsets), and every
place MySQL shows them shows those: mysqldump sets them around the object's CREATE, so a dump
of an object made by a utf8mb4_unicode_ci session restores into MariaDB, which does not know
MySQL 8's utf8mb4_0900_ai_ci."""

from __future__ import annotations

import apsw

from marmotdb.sql.server_state import ServerState
from marmotdb.storage.commitlog import iter_log
from marmotdb.storage.writeset import decode_write_set
from tests.sql.sessions import rows, session

MADE = ("utf8mb4", "utf8mb4_unicode_ci")
DEFAULTS = ("utf8mb4", "utf8mb4_0900_ai_ci")


def _made_with_unicode_ci(server: ServerState) -> None:
    s = session(server)
    for statement in ("CREATE DATABASE cs", "USE cs", "CREATE TABLE t (id INT, note TEXT)",
                      "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
                      "CREATE VIEW v AS SELECT id FROM t",
                      "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.note = 'x'",
                      "CREATE PROCEDURE p() SELECT 1",
                      "CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN 1",
                      "SET NAMES utf8mb4",
                      "CREATE VIEW v_default AS SELECT id FROM t"):
        s.execute(statement)


def test_show_create_gives_the_creating_sessions_charsets(server: ServerState) -> None:
    _made_with_unicode_ci(server)
    s = session(server, database="cs")  # another session, with other settings
    s.execute("SET NAMES latin1")
    assert rows(s.execute("SHOW CREATE VIEW v"))[0][2:] == MADE
    assert rows(s.execute("SHOW CREATE TABLE v"))[0][2:] == MADE
    assert rows(s.execute("SHOW CREATE VIEW v_default"))[0][2:] == DEFAULTS
    assert rows(s.execute("SHOW CREATE TRIGGER tr"))[0][3:5] == MADE
    assert rows(s.execute("SHOW TRIGGERS"))[0][8:10] == MADE
    assert rows(s.execute("SHOW CREATE PROCEDURE p"))[0][3:5] == MADE
    assert rows(s.execute("SHOW CREATE FUNCTION f"))[0][3:5] == MADE
    assert [r[8:10] for r in rows(s.execute("SHOW PROCEDURE STATUS WHERE Db = 'cs'"))] == [MADE]
    assert [r[8:10] for r in rows(s.execute("SHOW FUNCTION STATUS WHERE Db = 'cs'"))] == [MADE]


def test_information_schema_gives_them_too(server: ServerState) -> None:
    _made_with_unicode_ci(server)
    s = session(server, database="cs")
    assert rows(s.execute("SELECT TABLE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM "
                          "information_schema.VIEWS WHERE TABLE_SCHEMA = 'cs' "
                          "ORDER BY TABLE_NAME")) == [("v", *MADE), ("v_default", *DEFAULTS)]
    assert rows(s.execute("SELECT CHARACTER_SET_CLIENT, COLLATION_CONNECTION, "
                          "DATABASE_COLLATION FROM information_schema.TRIGGERS "
                          "WHERE TRIGGER_SCHEMA = 'cs'")) == [(*MADE, "utf8mb4_0900_ai_ci")]
    assert rows(s.execute("SELECT ROUTINE_NAME, CHARACTER_SET_CLIENT, COLLATION_CONNECTION FROM "
                          "information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'cs' "
                          "ORDER BY ROUTINE_NAME")) == [("f", *MADE), ("p", *MADE)]


def test_they_replicate_with_the_definition(server: ServerState) -> None:
    """A replica replays the DDL's shipped statements: they carry the charsets (the
    bookkeeping row's ``meta``), as they carry the definition."""
    _made_with_unicode_ci(server)
    conn = apsw.Connection(str(server.databases.get("cs").path))
    try:
        shipped = [(change.mysql, " ".join(change.statements))
                   for entry in iter_log(conn)
                   for change in decode_write_set(entry.write_set).schema_changes]
    finally:
        conn.close()
    for kind, name in (("VIEW", "v"), ("TRIGGER", "tr"), ("PROCEDURE", "p"), ("FUNCTION", "f")):
        (statements,) = [ran for mysql, ran in shipped if f" {kind} {name} " in mysql
                         or f" {kind} {name}(" in mysql]
        assert "utf8mb4_unicode_ci" in statements, kind
