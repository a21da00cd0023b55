"""LOAD DATA LOCAL INFILE through real clients against ``marmotdb serve`` (issue 15): the
protocol's client-side file transfer with PyMySQL (``local_infile=True``) and the mariadb CLI
(``--local-infile``), MySQL's FIELDS/LINES/IGNORE/column list/SET options, the opt-in on both
sides, the server-side form refused, and a file larger than the protocol's buffers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.differential import MariaDBEndpoint

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(marmot_server):
    name = marmot_server.create_database("loading")
    conn = marmot_server.connect(autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET GLOBAL local_infile = 1")
    conn.close()
    return name


def _loader(marmot_server, db, **kwargs):
    return marmot_server.connect(database=db, local_infile=True, autocommit=True, **kwargs)


def test_csv_with_options_column_list_and_set(marmot_server, db, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text('id,name,born\n1,"Ann, the first",1990\n2,"Bob ""B"" Jr",\\N\n'
                      '3,Cy\\tTab,2001\n', encoding="utf-8")
    conn = _loader(marmot_server, db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40), born INT, "
                    "decade INT)")
        affected = cur.execute(
            f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE people FIELDS TERMINATED BY ',' "
            "OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' IGNORE 1 LINES "
            "(id, name, @born) SET born = @born, decade = @born DIV 10 * 10")
        assert affected == 3
        cur.execute("SELECT id, name, born, decade FROM people ORDER BY id")
        assert cur.fetchall() == ((1, "Ann, the first", 1990, 1990), (2, 'Bob "B" Jr', None,
                                                                      None),
                                  (3, "Cy\tTab", 2001, 2000))
    conn.close()


def test_info_counts_duplicates_as_skipped_and_replace_replaces(marmot_server, db,
                                                                tmp_path: Path) -> None:
    source = tmp_path / "kv.tsv"
    source.write_text("1\tone\n2\ttwo\n1\tuno\n", encoding="utf-8")
    conn = _loader(marmot_server, db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute(f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE kv")
        cur.execute("SELECT k, v FROM kv ORDER BY k")
        assert cur.fetchall() == ((1, "one"), (2, "two"))  # LOCAL: duplicates are skipped
        cur.execute(f"LOAD DATA LOCAL INFILE '{source}' REPLACE INTO TABLE kv")
        cur.execute("SELECT k, v FROM kv ORDER BY k")
        assert cur.fetchall() == ((1, "uno"), (2, "two"))
    conn.close()


def test_message_line_is_mysqls(marmot_server, db, tmp_path: Path) -> None:
    source = tmp_path / "msg.tsv"
    source.write_text("1\ta\n1\tb\n2\n", encoding="utf-8")
    conn = _loader(marmot_server, db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE msg (k INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute(f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE msg")
        message = conn._result.message.decode()  # PyMySQL keeps the info's length byte
        assert message[1:].startswith("Records: 3  Deleted: 0  Skipped: 1  Warnings: ")
        cur.execute("SELECT k, v FROM msg ORDER BY k")
        assert cur.fetchall() == ((1, "a"), (2, None))
    conn.close()


def test_a_file_of_many_packets_streams_into_one_transaction(marmot_server, db,
                                                              tmp_path: Path) -> None:
    rows = 20_000
    source = tmp_path / "big.csv"
    with source.open("w", encoding="utf-8") as out:
        for i in range(rows):
            out.write(f"{i},{'x' * 40}-{i}\n")
    conn = _loader(marmot_server, db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(64))")
        affected = cur.execute(f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE big "
                               "FIELDS TERMINATED BY ','")
        assert affected == rows
        cur.execute("SELECT COUNT(*), MAX(id), SUM(LENGTH(v)) FROM big")
        count, top, total = cur.fetchone()
        assert (count, top) == (rows, rows - 1)
        assert total == sum(len(f"{'x' * 40}-{i}") for i in range(rows))
    conn.close()


def test_needs_the_opt_in_of_both_sides(marmot_server, db, tmp_path: Path) -> None:
    source = tmp_path / "one.tsv"
    source.write_text("1\n", encoding="utf-8")
    conn = marmot_server.connect(database=db, autocommit=True)  # no CLIENT_LOCAL_FILES
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS one (k INT)")
        with pytest.raises(pymysql.err.OperationalError) as info:
            cur.execute(f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE one")
        assert info.value.args[0] == 3948
        cur.execute("SELECT 1")  # the connection stays usable
    conn.close()
    admin = marmot_server.connect(autocommit=True)
    with admin.cursor() as cur:
        cur.execute("SET GLOBAL local_infile = 0")
    try:
        conn = _loader(marmot_server, db)
        with conn.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as info:
            cur.execute(f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE one")
        assert info.value.args[0] == 3948
        conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute("SET GLOBAL local_infile = 1")
        admin.close()


def test_server_side_file_form_is_refused(marmot_server, db) -> None:
    conn = _loader(marmot_server, db)
    with conn.cursor() as cur, pytest.raises(pymysql.err.MySQLError) as info:
        cur.execute("LOAD DATA INFILE '/etc/passwd' INTO TABLE one")
    assert info.value.args[0] == 1290
    conn.close()


def test_unknown_table_and_column_before_the_file_is_read(marmot_server, db,
                                                           tmp_path: Path) -> None:
    source = tmp_path / "x.tsv"
    source.write_text("1\n", encoding="utf-8")
    conn = _loader(marmot_server, db)
    with conn.cursor() as cur:
        with pytest.raises(pymysql.err.ProgrammingError) as info:
            cur.execute(f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE nowhere")
        assert info.value.args[0] == 1146
        cur.execute("CREATE TABLE IF NOT EXISTS one (k INT)")
        with pytest.raises(pymysql.err.OperationalError) as info:
            cur.execute(f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE one (zz)")
        assert info.value.args[0] == 1054
        cur.execute("SELECT 1")
    conn.close()


def test_mariadb_cli_local_infile(marmot_server, db, tmp_path: Path) -> None:
    source = tmp_path / "cli.csv"
    source.write_text("10;ten\r\n20;twenty\r\n", encoding="utf-8")
    marmot_server.mariadb_cli(["-e", f"CREATE TABLE {db}.cli (n INT, word VARCHAR(10))"])
    done = marmot_server.mariadb_cli(
        ["--local-infile=1", db, "-e",
         f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE cli FIELDS TERMINATED BY ';' "
         "LINES TERMINATED BY '\\r\\n'; SELECT n, word FROM cli ORDER BY n"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["n", "word", "10", "ten", "20", "twenty"]


# ---------------------------------------------------------------- the same loads in MariaDB

LOADS = [  # (name, table, file text, options)
    ("tsv defaults", "k INT PRIMARY KEY, v VARCHAR(20)", "1\ta\n2\t\\N\n3\tc\\td\n1\tdup\n", ""),
    ("csv enclosed", "k INT PRIMARY KEY, v VARCHAR(20), n DECIMAL(6,2)",
     'k,v,n\n1,"x, y",1.5\n2,"q""uote",\n3,NULL,NULL\n',
     "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' IGNORE 1 LINES"),
    ("prefix and crlf", "k INT, v VARCHAR(20)", "#1;a\r\nskip me\r\n#2;b\r\n",
     "FIELDS TERMINATED BY ';' LINES STARTING BY '#' TERMINATED BY '\\r\\n'"),
    ("variables and set", "k INT, v VARCHAR(20), w INT",
     "1,abc,5\n2,de,7\n", "FIELDS TERMINATED BY ',' (k, @v, @w) SET v = UPPER(@v), "
     "w = @w * 10"),
    ("too few and too many fields", "a INT, b INT, c INT", "1,2\n3,4,5,6\n",
     "FIELDS TERMINATED BY ','"),
    ("replace", "k INT PRIMARY KEY, v VARCHAR(5)", "1\tone\n1\tuno\n2\ttwo\n", "REPLACE"),
]


def _load(conn: Any, table: str, ddl: str, path: Path, options: str
          ) -> tuple[tuple[Any, ...], int, str]:
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(f"CREATE TABLE {table} ({ddl})")
        replace = "REPLACE " if options.startswith("REPLACE") else ""
        rest = options.removeprefix("REPLACE")
        affected = cur.execute(f"LOAD DATA LOCAL INFILE '{path}' {replace}INTO TABLE {table} "
                               f"{rest}")
        info = conn._result.message.decode()[1:]
        cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
        return cur.fetchall(), affected, info.rsplit("Warnings:", 1)[0]


@pytest.mark.parametrize("name, ddl, text, options", LOADS, ids=[c[0] for c in LOADS])
def test_loads_as_mariadb_does(marmot_server, db, tmp_path: Path, name: str, ddl: str,
                               text: str, options: str,
                               differential_mariadb: MariaDBEndpoint) -> None:
    """Rows, affected count and the Records/Deleted/Skipped line as MariaDB gives them
    (the warning count is left out: MariaDB counts conversions differently)."""
    path = tmp_path / "load.txt"
    path.write_text(text, encoding="utf-8")
    mariadb = differential_mariadb.connect(autocommit=True, local_infile=True)
    with mariadb.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS marmot_load_diff")
        cur.execute("USE marmot_load_diff")
    table = "load_" + name.replace(" ", "_")
    try:
        expected = _load(mariadb, table, ddl, path, options)
    finally:
        with mariadb.cursor() as cur:
            cur.execute("DROP DATABASE marmot_load_diff")
        mariadb.close()
    conn = _loader(marmot_server, db)
    try:
        assert _load(conn, table, ddl, path, options) == expected
    finally:
        conn.close()


def test_mariadb_import_tool(marmot_server, db, tmp_path: Path) -> None:
    """mariadb-import (mysqlimport) --local: the table named by the file, its LOAD DATA LOCAL."""
    import shutil
    import subprocess
    tool = shutil.which("mariadb-import") or shutil.which("mysqlimport")
    if tool is None:
        pytest.skip("mariadb-import is not installed")
    source = tmp_path / "imported.txt"
    source.write_text("1,one\n2,two\n", encoding="utf-8")
    marmot_server.mariadb_cli(["-e", f"CREATE TABLE {db}.imported (k INT, v VARCHAR(5))"])
    done = subprocess.run([tool, "--no-defaults", f"-h{marmot_server.host}",
                           f"-P{marmot_server.port}", f"-u{marmot_server.user}",
                           f"-p{marmot_server.password}", "--local",
                           "--fields-terminated-by=,", db, str(source)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "Records: 2" in done.stdout
    conn = marmot_server.connect(database=db)
    with conn.cursor() as cur:
        cur.execute("SELECT k, v FROM imported ORDER BY k")
        assert cur.fetchall() == ((1, "one"), (2, "two"))
    conn.close()


def test_show_warnings_lists_the_whole_loads_warnings(marmot_server, db, tmp_path: Path) -> None:
    source = tmp_path / "warn.tsv"
    source.write_text("".join(f"{i}\tx\n" for i in range(60)) + "1\ty\n7\n", encoding="utf-8")
    conn = _loader(marmot_server, db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE warn (k INT PRIMARY KEY, v VARCHAR(5))")
        cur.execute(f"LOAD DATA LOCAL INFILE '{source}' INTO TABLE warn")
        cur.execute("SHOW WARNINGS")
        assert cur.fetchall() == (("Warning", 1261,
                                   "Row 62 doesn't contain data for all columns"),)
        cur.execute("SELECT COUNT(*) FROM warn")
        assert cur.fetchone() == (60,)  # rows 61 and 62 repeat keys 1 and 7: skipped
    conn.close()
