"""The MySQL table model: the stored CREATE TABLE read by the one reader (the translation's,
sql/definition/), reconciliation with SQLite, SHOW CREATE TABLE rendering."""

from __future__ import annotations

import apsw
import pytest

from marmotdb import errors
from marmotdb.sql.catalog.declared import declared_table
from marmotdb.sql.catalog.render import render_create_table
from marmotdb.sql.catalog.snapshot import snapshot, table_model

CANONICAL = """CREATE TABLE `items` (
  `id` int unsigned NOT NULL AUTO_INCREMENT,
  `name` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '' COMMENT 'the name',
  `price` decimal(10,2) DEFAULT NULL,
  `flag` tinyint(1) NOT NULL DEFAULT '1',
  `k` int(11) unsigned zerofill DEFAULT NULL,
  `st` enum('a','b''c') COLLATE utf8mb4_bin DEFAULT 'a',
  `ts` timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  `bits` bit(8) DEFAULT b'101',
  `body` longtext,
  `twice` int GENERATED ALWAYS AS ((`k` * 2)) STORED,
  `later` int DEFAULT ((`k` + 1)),
  PRIMARY KEY (`id`),
  UNIQUE KEY `uq_name` (`name`(10),`flag`),
  KEY `idx_k` (`k` DESC),
  FULLTEXT KEY `ft` (`body`),
  CONSTRAINT `fk1` FOREIGN KEY (`k`) REFERENCES `parent` (`id`) ON DELETE CASCADE ON UPDATE SET NULL,
  CONSTRAINT `chk_price` CHECK ((`price` >= 0)) /*!80016 NOT ENFORCED */
) ENGINE=InnoDB AUTO_INCREMENT=5 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT='stock'"""


def test_canonical_text_round_trips() -> None:
    model = declared_table(CANONICAL).finish()
    assert render_create_table(model, 5) == CANONICAL


def test_parsed_details() -> None:
    model = declared_table(CANONICAL).finish()
    columns = {c.name: c for c in model.columns}
    assert columns["id"].auto_increment and not columns["id"].nullable
    assert columns["id"].key == "PRI" and columns["name"].key == "MUL"
    assert columns["k"].key == "MUL" and columns["k"].column_type == "int(11) unsigned zerofill"
    assert (columns["name"].charset, columns["name"].collation) == ("ascii", "ascii_bin")
    assert (columns["st"].charset, columns["st"].collation) == ("utf8mb4", "utf8mb4_bin")
    assert columns["st"].column_type == "enum('a','b''c')"
    assert columns["ts"].default == "CURRENT_TIMESTAMP(6)"
    assert columns["ts"].on_update == "CURRENT_TIMESTAMP(6)"
    assert columns["bits"].default == "b'101'" and columns["price"].default_kind == "null"
    assert columns["twice"].generated == "(`k` * 2)" and columns["twice"].generated_stored
    assert columns["later"].default_kind == "expression"
    assert [(i.name, i.kind) for i in model.indexes] == [
        ("PRIMARY", "PRIMARY"), ("uq_name", "UNIQUE"), ("idx_k", "INDEX"), ("ft", "FULLTEXT")]
    assert model.indexes[1].columns == [("name", 10, "A"), ("flag", None, "A")]
    assert model.indexes[2].columns == [("k", None, "D")]
    fk = model.foreign_keys[0]
    assert (fk.name, fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete, fk.on_update) == \
        ("fk1", ["k"], "parent", ["id"], "CASCADE", "SET NULL")
    assert [(c.name, c.clause, c.enforced) for c in model.checks] == \
        [("chk_price", "(`price` >= 0)", False)]
    assert (model.engine, model.auto_increment, model.comment) == ("InnoDB", 5, "stock")


def test_user_spelling_is_normalised() -> None:
    model = declared_table(
        "create table if not exists db.t (id integer primary key, "
        "a BOOL, b INT(11), c numeric(8), d FLOAT(30), e double precision, f char, g serial, "
        "h varchar(5) not null unique, i dec, j int1 default -1, "
        "k datetime default now() on update localtimestamp, "
        "index (b), unique key (b, c), foreign key (b) references u (id), check (j < 9)"
        ") engine=myisam default character set latin1").finish()
    types = [(c.name, c.column_type) for c in model.columns]
    assert types == [("id", "int"), ("a", "tinyint(1)"), ("b", "int"), ("c", "decimal(8,0)"),
                     ("d", "double"), ("e", "double"), ("f", "char(1)"),
                     ("g", "bigint unsigned"), ("h", "varchar(5)"), ("i", "decimal(10,0)"),
                     ("j", "tinyint"), ("k", "datetime")]
    assert model.name == "t" and model.engine == "MyISAM"
    assert (model.charset, model.collation) == ("latin1", "latin1_swedish_ci")
    assert [(i.name, i.kind) for i in model.indexes] == [
        ("PRIMARY", "PRIMARY"), ("g", "UNIQUE"), ("h", "UNIQUE"), ("b", "INDEX"),
        ("b_2", "UNIQUE")]
    assert model.foreign_keys[0].name == "t_ibfk_1" and model.checks[0].name == "t_chk_1"
    columns = {c.name: c for c in model.columns}
    assert columns["j"].default == "-1"
    assert (columns["k"].default, columns["k"].on_update) == ("CURRENT_TIMESTAMP",
                                                              "CURRENT_TIMESTAMP")
    assert columns["h"].key == "UNI" and columns["b"].key == "MUL"


def test_foreign_key_gets_an_index_when_none_covers_it() -> None:
    model = declared_table("CREATE TABLE c (id int PRIMARY KEY, pid int, qid int, "
                               "KEY by_q (qid), CONSTRAINT fk_p FOREIGN KEY (pid) REFERENCES p(id),"
                               " FOREIGN KEY (qid) REFERENCES q(id))").finish()
    assert [(i.name, i.columns[0][0]) for i in model.indexes] == [
        ("PRIMARY", "id"), ("by_q", "qid"), ("fk_p", "pid")]


def test_primary_promotion_of_a_not_null_unique() -> None:
    model = declared_table("CREATE TABLE t (a int NOT NULL, b int, UNIQUE KEY (a))").finish()
    assert [c.key for c in model.columns] == ["PRI", ""]


@pytest.mark.parametrize("sql", ["CREATE TABLE t", "CREATE VIEW v AS SELECT 1",
                                 "CREATE TABLE t (a int FANCY)", "CREATE TABLE t (a int"])
def test_unparsable_ddl(sql: str) -> None:
    with pytest.raises(errors.MarmotError):
        declared_table(sql)


def sqlite_conn(*statements: str) -> apsw.Connection:
    conn = apsw.Connection(":memory:")
    for sql in statements:
        conn.execute(sql)
    return conn


def test_reconcile_keeps_only_what_sqlite_has() -> None:
    stored = ("CREATE TABLE `t` (`id` int NOT NULL AUTO_INCREMENT, `a` varchar(10) DEFAULT NULL, "
              "`gone` int DEFAULT NULL, PRIMARY KEY (`id`), KEY `ka` (`a`), KEY `kg` (`gone`), "
              "CONSTRAINT `fk` FOREIGN KEY (`a`) REFERENCES `p` (`x`))")
    conn = sqlite_conn("CREATE TABLE p(x VARCHAR(10) PRIMARY KEY)",
                       "CREATE TABLE t(id INTEGER PRIMARY KEY, a VARCHAR(10), added INT, "
                       "FOREIGN KEY (added) REFERENCES p(x))",
                       "CREATE INDEX t__ka ON t(a)", "CREATE INDEX t__added ON t(added)")
    sql = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 't'").fetchall()[0][0]
    model = table_model(conn, "t", sql, stored)
    assert [c.name for c in model.columns] == ["id", "a", "added"]
    assert [c.column_type for c in model.columns] == ["int", "varchar(10)", "int"]
    assert [i.name for i in model.indexes] == ["PRIMARY", "ka", "t__added"]
    assert [(f.name, f.columns) for f in model.foreign_keys] == [("t_ibfk_1", ["added"])]


def test_model_of_a_plain_sqlite_table() -> None:
    conn = sqlite_conn("CREATE TABLE w(a INTEGER, b TEXT NOT NULL DEFAULT 'x', c BLOB, "
                       "d NUMERIC, e REAL, PRIMARY KEY (a, b), UNIQUE (c))")
    sql = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'w'").fetchall()[0][0]
    model = table_model(conn, "w", sql, None)
    assert [(c.name, c.column_type, c.nullable, c.key) for c in model.columns] == [
        ("a", "bigint", False, "PRI"), ("b", "text", False, "PRI"), ("c", "blob", True, "UNI"),
        ("d", "decimal(10,0)", True, ""), ("e", "double", True, "")]
    assert model.columns[1].default == "x"
    assert [(i.name, i.kind) for i in model.indexes] == [("PRIMARY", "PRIMARY"),
                                                         ("c", "UNIQUE")]


def test_snapshot_is_reused_until_the_schema_changes() -> None:
    conn = sqlite_conn("CREATE TABLE a(id INTEGER PRIMARY KEY)")
    first = snapshot(conn, "db")
    assert snapshot(conn, "db") is first
    conn.execute("INSERT INTO a VALUES (1)")
    assert snapshot(conn, "db") is first  # data changes keep the snapshot
    conn.execute("CREATE TABLE b(id INTEGER PRIMARY KEY)")
    second = snapshot(conn, "db")
    assert second is not first and [n for n, _ in second.object_names()] == ["a", "b"]
