"""FULLTEXT indexes through a session: kept in the catalog (SHOW CREATE TABLE, SHOW INDEX,
INFORMATION_SCHEMA), no SQLite index behind them, MATCH … AGAINST evaluated by
sql/functions/fulltext.py. Which rows match: tests/fixtures/translate/fulltext.sql (also run on
MariaDB)."""

from __future__ import annotations

import pytest

from marmotdb.sql.functions import fulltext
from tests.sql.sessions import error_code, rows, session


@pytest.fixture
def db(server):
    s = session(server)
    s.execute("CREATE DATABASE f")
    s.use("f")
    s.execute("CREATE TABLE cattable (id INT PRIMARY KEY, description VARCHAR(50))")
    s.execute("CREATE FULLTEXT INDEX ix_cattable_description ON cattable (description)")
    return s


def test_shown_as_mysql_shows_it(db):
    create = rows(db.execute("SHOW CREATE TABLE cattable"))[0][1]
    assert "  PRIMARY KEY (`id`),\n  FULLTEXT KEY `ix_cattable_description` (`description`)\n" \
        in create
    index = [r for r in rows(db.execute("SHOW INDEX FROM cattable"))
             if r[2] == "ix_cattable_description"]
    assert [(r[4], r[10]) for r in index] == [("description", "FULLTEXT")]
    assert rows(db.execute("SELECT INDEX_TYPE FROM information_schema.STATISTICS WHERE "
                           "TABLE_SCHEMA = 'f' AND INDEX_NAME = 'ix_cattable_description'")) \
        == [("FULLTEXT",)]


def test_no_sqlite_index_and_kept_by_a_rebuild(db):
    db.execute("ALTER TABLE cattable ADD COLUMN extra INT FIRST")  # a rebuild of the table
    create = rows(db.execute("SHOW CREATE TABLE cattable"))[0][1]
    assert "FULLTEXT KEY `ix_cattable_description` (`description`)" in create
    db.execute("INSERT INTO cattable (id, description) VALUES (1, 'Python'), (2, 'Ruby')")
    assert rows(db.execute("SELECT id FROM cattable WHERE MATCH (description) "
                           "AGAINST ('ruby' IN BOOLEAN MODE)")) == [(2,)]
    db.execute("ALTER TABLE cattable RENAME INDEX ix_cattable_description TO ft")
    db.execute("DROP INDEX ft ON cattable")
    assert "FULLTEXT" not in rows(db.execute("SHOW CREATE TABLE cattable"))[0][1]


def test_query_expansion_is_refused(db):
    assert error_code(lambda: db.execute(
        "SELECT id FROM cattable WHERE MATCH (description) AGAINST ('x' WITH QUERY "
        "EXPANSION)")) == 1235


@pytest.mark.parametrize("query, document, matches", [
    ("+python +nutshell", "Python in a Nutshell", True),
    ("+python -nutshell", "Python in a Nutshell", False),
    ("python ruby", "Ruby On Rails", True),
    ("-ruby", "Python", False),  # only exclusions: nothing matches
    ("nut*", "Python in a Nutshell", True),
    ('"in a nutshell"', "Python in a Nutshell", True),
    ('"a nutshell in"', "Python in a Nutshell", False),
    ("+the +python", "Dive Into Python", True),  # a stopword is ignored, even with '+'
    ("~python", "Dive Into Python", True),
    ("+ruby +(agile programming)", "Programming Matz's Ruby", True),
    ("+ruby +(agile django)", "Programming Matz's Ruby", False),
])
def test_boolean_mode(query, document, matches):
    assert (fulltext.match_against(fulltext.BOOLEAN_MODE, query, document) > 0) is matches


def test_more_occurrences_rank_higher():
    once = fulltext.match_against(fulltext.NATURAL_MODE, "ruby", "ruby on rails")
    twice = fulltext.match_against(fulltext.NATURAL_MODE, "ruby", "ruby, ruby on rails")
    assert 0 < once < twice
    assert fulltext.match_against(fulltext.NATURAL_MODE, None, "ruby") == 0
    assert fulltext.match_against(fulltext.NATURAL_MODE, "ruby", None) == 0
