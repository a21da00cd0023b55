"""Table options MySQL 8 with InnoDB keeps are stored and shown back by SHOW CREATE TABLE in
MySQL's place and spelling (sql_show.cc store_create_info): TABLESPACE and AUTOEXTEND_SIZE
before ENGINE=, SECONDARY_ENGINE and the ENGINE_ATTRIBUTEs after CONNECTION. Those InnoDB
refuses get its errors; those marmotdb cannot honour are refused with 1235 naming them, and
MariaDB's own options are 1064 as in MySQL. None is accepted and silently dropped."""

from __future__ import annotations

import pytest

from marmotdb.users import User
from tests.sql.sessions import error_code, new_server, rows, session


@pytest.fixture
def db(tmp_path):
    state = new_server(tmp_path, [User("root", "x", {"*": "admin"})])
    session(state).execute("CREATE DATABASE d")
    yield session(state, database="d")
    state.close()


def _shown(s, table: str = "t") -> str:
    return rows(s.execute(f"SHOW CREATE TABLE {table}"))[0][1].split("\n)", 1)[1]


def test_kept_options_are_shown_in_mysqls_places(db):
    db.execute("CREATE TABLE t (a INT) ENGINE_ATTRIBUTE='{\"k\": 1}' SECONDARY_ENGINE=rapid "
               "AUTOEXTEND_SIZE=8M TABLESPACE=innodb_file_per_table COMMENT 'c' "
               "SECONDARY_ENGINE_ATTRIBUTE='{}'")
    assert _shown(db) == (
        " /*!50100 TABLESPACE `innodb_file_per_table` */ /*!80023 AUTOEXTEND_SIZE=8388608 */"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT='c'"
        " SECONDARY_ENGINE=rapid /*!80021 ENGINE_ATTRIBUTE='{\"k\": 1}' */"
        " /*!80021 SECONDARY_ENGINE_ATTRIBUTE='{}' */")
    db.execute("ALTER TABLE t ADD COLUMN b INT")  # a rebuild keeps them
    db.execute("CREATE TABLE copy LIKE t")
    assert _shown(db, "copy") == _shown(db)
    db.execute("ALTER TABLE t SECONDARY_ENGINE=NULL, AUTOEXTEND_SIZE=0, ENGINE_ATTRIBUTE='', "
               "TABLESPACE innodb_system")
    assert _shown(db) == (
        " /*!50100 TABLESPACE `innodb_system` */ ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        " COLLATE=utf8mb4_0900_ai_ci COMMENT='c' /*!80021 SECONDARY_ENGINE_ATTRIBUTE='{}' */")


@pytest.mark.parametrize(("statement", "code"), [
    ("CREATE TABLE t (a INT) TABLESPACE nowhere", 3510),  # no CREATE TABLESPACE here
    ("CREATE TABLE t (a INT) AUTOEXTEND_SIZE=6M", 4023),  # not a multiple of 4M
    ("CREATE TABLE t (a INT) AUTOEXTEND_SIZE=2M", 4025),  # below 4M
    ("CREATE TABLE t (a INT) AUTOEXTEND_SIZE=5G", 4025),  # above 4G
    ("CREATE TABLE t (a INT) ENGINE_ATTRIBUTE='{oops'", 3980),
    ("CREATE TABLE t (a INT) SECONDARY_ENGINE_ATTRIBUTE='[1,'", 3980),
    ("CREATE TABLE t (a INT) UNION=(u)", 1235),  # MERGE tables
    ("CREATE TABLE t (a INT) DATA DIRECTORY='/tmp'", 1235),
    ("CREATE TABLE t (a INT) INDEX DIRECTORY='/tmp'", 1235),
    ("CREATE TABLE t (a INT) PAGE_CHECKSUM=1", 1064),  # MariaDB's own options
    ("CREATE TABLE t (a INT) TRANSACTIONAL=1", 1064),
    ("CREATE TABLE t (a INT) PAGE_COMPRESSED=1", 1064),
])
def test_refused_options_get_mysqls_errors_and_create_nothing(db, statement, code):
    assert error_code(lambda: db.execute(statement)) == code
    assert error_code(lambda: db.execute("SELECT * FROM t")) == 1146


def test_an_alter_with_a_refused_option_changes_nothing(db):
    db.execute("CREATE TABLE t (a INT) AUTOEXTEND_SIZE=4M")
    assert error_code(lambda: db.execute("ALTER TABLE t AUTOEXTEND_SIZE=10M")) == 4023
    assert error_code(lambda: db.execute("ALTER TABLE t TABLESPACE elsewhere")) == 3510
    assert "/*!80023 AUTOEXTEND_SIZE=4194304 */" in _shown(db)
