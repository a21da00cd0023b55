"""mysqldump round trip against a real ``marmotdb serve``.

A populated database (several tables, foreign keys, secondary and unique indexes, NULLs,
unicode, every byte value in blobs, exact decimals, dates/times, ENUM, JSON) is dumped with
``mariadb-dump`` (the mysqldump of the mariadb-client package), the dump is fed to the
``mariadb`` CLI into a fresh database, and the two databases must then agree: the same rows
table by table, the same column definitions, foreign keys still enforced, AUTO_INCREMENT
continuing where it was. Dumps are handled as bytes: without ``--hex-blob`` they hold raw
binary string literals that are not valid UTF-8.

A second database has every column type, STORED and VIRTUAL generated columns, indexes, a
FOREIGN KEY, a view, a trigger and routines: dumped with ``--routines --triggers --events``
(and ``--single-transaction``, ``--lock-tables``, ``--complete-insert``), restored, dumped
again, the two dumps are identical; its tables' part restores into MariaDB with the same rows.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.differential import MariaDBEndpoint
from tests.integration.server import MARIADB_CLI, MarmotServer

pytestmark = pytest.mark.integration

DUMP_BIN = shutil.which("mariadb-dump") or shutil.which("mysqldump") or "mariadb-dump"
DUMP_TIMEOUT_S = 60.0
SOURCE_DB = "dump_src"
CUSTOMERS = 120
ORDERS = 300

SCHEMA = [
    """CREATE TABLE customers (
        id INT NOT NULL AUTO_INCREMENT,
        name VARCHAR(100) NOT NULL,
        email VARCHAR(200) NULL,
        country CHAR(2) NOT NULL DEFAULT 'GB',
        created DATETIME(6) NOT NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_email (email),
        KEY ix_name (name)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE products (
        sku VARCHAR(20) NOT NULL,
        title TEXT NOT NULL,
        price DECIMAL(12,4) NOT NULL,
        weight_kg DOUBLE NULL,
        stock INT UNSIGNED NOT NULL DEFAULT 0,
        photo MEDIUMBLOB NULL,
        released DATE NULL,
        active TINYINT(1) NOT NULL DEFAULT 1,
        PRIMARY KEY (sku)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE orders (
        id BIGINT NOT NULL AUTO_INCREMENT,
        customer_id INT NOT NULL,
        placed_at DATETIME NOT NULL,
        ship_by TIME NULL,
        status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
        note VARCHAR(255) NULL,
        PRIMARY KEY (id),
        KEY ix_customer_placed (customer_id, placed_at),
        CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id)
            REFERENCES customers (id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    """CREATE TABLE order_items (
        order_id BIGINT NOT NULL,
        line SMALLINT NOT NULL,
        sku VARCHAR(20) NOT NULL,
        qty INT NOT NULL,
        unit_price DECIMAL(10,2) NOT NULL,
        PRIMARY KEY (order_id, line),
        KEY ix_sku (sku),
        CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id)
            ON DELETE CASCADE,
        CONSTRAINT fk_items_product FOREIGN KEY (sku) REFERENCES products (sku)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4""",
    # a partitioned table: the dump replays its PARTITION BY, SHOW CREATE TABLE agrees after
    """CREATE TABLE readings (
        id INT NOT NULL,
        taken DATE NOT NULL,
        doc JSON NULL,
        PRIMARY KEY (id, taken)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
    PARTITION BY RANGE (YEAR(taken)) (PARTITION p0 VALUES LESS THAN (2020),
                                      PARTITION p1 VALUES LESS THAN MAXVALUE)""",
]
TABLE_KEYS = {"customers": "id", "products": "sku", "orders": "id",
              "order_items": "order_id, line", "readings": "id"}

NAMES = ["Zoë Ångström", "李小龍", "O'Brien", 'Say "hi"', "back\\slash", "tab\there",
         "new\nline", "emoji 🐿️✨", "", "Ünïcödé", "Дмитрий", "محمد"]
PRODUCTS = [
    ("SKU-1", "Plain widget", decimal.Decimal("0.0001"), 0.1, 0, None, None, 1),
    ("SKU-2", "Gadget — “quoted” ✓", decimal.Decimal("99999999.9999"), 1e-300, 4294967295,
     bytes(range(256)), datetime.date(1000, 1, 1), 0),
    ("SKU-3", "Négative ' price\\", decimal.Decimal("-12.3400"), -2.5, 17, b"",
     datetime.date(9999, 12, 31), 1),
    ("SKU-4", "x" * 5000, decimal.Decimal("3.1415"), None, 3, b"\x00" * 70000,
     datetime.date(2024, 2, 29), 1),
]


def _connect(server: MarmotServer, database: str | None = None) -> Any:
    return server.connect(database=database, autocommit=True, charset="utf8mb4")


def _populate(cur: Any) -> None:
    for ddl in SCHEMA:
        cur.execute(ddl)
    cur.executemany(
        "INSERT INTO customers (name, email, country, created) VALUES (%s, %s, %s, %s)",
        [(NAMES[i % len(NAMES)] + f" #{i}", None if i % 3 == 0 else f"c{i}@example.org",
          ("GB", "FR", "JP", "BR")[i % 4],
          datetime.datetime(2020, 1, 1, 0, 0, 0, i * 997 % 1_000_000)
          + datetime.timedelta(hours=i)) for i in range(CUSTOMERS)])
    cur.executemany("INSERT INTO products VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", PRODUCTS)
    cur.executemany(
        "INSERT INTO orders (customer_id, placed_at, ship_by, status, note) "
        "VALUES (%s, %s, %s, %s, %s)",
        [(1 + i % CUSTOMERS, datetime.datetime(2023, 12, 31, 23, 59, 59)
          - datetime.timedelta(minutes=37 * i),
          None if i % 5 else datetime.timedelta(hours=i % 24, minutes=i % 60),
          ("new", "paid", "shipped")[i % 3], None if i % 2 else NAMES[i % len(NAMES)])
         for i in range(ORDERS)])
    items = [(1 + i // 3, i % 3, PRODUCTS[i % len(PRODUCTS)][0], 1 + i % 7,
              decimal.Decimal(i * 37 % 10000) / 100) for i in range(ORDERS * 3)]
    for start in range(0, len(items), ORDERS):  # not one 4500-value INSERT (see report)
        cur.executemany("INSERT INTO order_items VALUES (%s, %s, %s, %s, %s)",
                        items[start:start + ORDERS])
    cur.executemany("INSERT INTO readings (id, taken, doc) VALUES (%s, %s, %s)",
                    [(i, datetime.date(2015 + i % 10, 1, 1), '{"unit": "kg"}')
                     for i in range(20)])


@pytest.fixture(scope="module")
def source(marmot_server: MarmotServer) -> Iterator[str]:
    conn = _connect(marmot_server)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
        cur.execute(f"CREATE DATABASE {SOURCE_DB} CHARACTER SET utf8mb4")
        cur.execute(f"USE {SOURCE_DB}")
        _populate(cur)
    conn.close()
    yield SOURCE_DB


def _login_args(server: MarmotServer) -> list[str]:
    return ["--no-defaults", f"-h{server.host}", f"-P{server.port}", f"-u{server.user}",
            f"-p{server.password}"]


def _dump(server: MarmotServer, database: str, options: list[str],
          tables: tuple[str, ...] = ()) -> bytes:
    result = subprocess.run([DUMP_BIN, *_login_args(server), *options, database, *tables],
                            capture_output=True, timeout=DUMP_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"-- Dump completed" in result.stdout
    return result.stdout


def _restore(server: MarmotServer, database: str, dump: bytes) -> None:
    conn = _connect(server)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {database}")
        cur.execute(f"CREATE DATABASE {database} CHARACTER SET utf8mb4")
    conn.close()
    result = subprocess.run([MARIADB_CLI, *_login_args(server), "--binary-mode", database],
                            input=dump, capture_output=True, timeout=DUMP_TIMEOUT_S,
                            check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def _rows(cur: Any, table: str) -> list[tuple[Any, ...]]:
    cur.execute(f"SELECT * FROM {table} ORDER BY {TABLE_KEYS[table]}")
    return list(cur.fetchall())


def _column_definitions(cur: Any, database: str, table: str) -> list[tuple[Any, ...]]:
    cur.execute("SELECT column_name, column_type, is_nullable, column_default, extra "
                "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", (database, table))
    return list(cur.fetchall())


def _checksums(cur: Any) -> list[tuple[Any, ...]]:
    cur.execute("CHECKSUM TABLE " + ", ".join(TABLE_KEYS))
    return [(name.split(".")[-1], value) for name, value in cur.fetchall()]


def _assert_same_databases(server: MarmotServer, source: str, copy: str) -> None:
    src, dst = _connect(server, source), _connect(server, copy)
    with src.cursor() as s, dst.cursor() as d:
        s.execute("SHOW TABLES")
        d.execute("SHOW TABLES")
        assert sorted(d.fetchall()) == sorted(s.fetchall())
        for table in TABLE_KEYS:
            assert _rows(d, table) == _rows(s, table), table
            assert _column_definitions(d, copy, table) == \
                _column_definitions(s, source, table), table
            s.execute(f"SHOW CREATE TABLE {table}")
            d.execute(f"SHOW CREATE TABLE {table}")
            assert d.fetchone() == s.fetchone(), table
    src.close()
    dst.close()


@pytest.mark.parametrize("options", [
    pytest.param([], id="defaults"),
    pytest.param(["--single-transaction", "--hex-blob", "--skip-extended-insert",
                  "--complete-insert"], id="single-transaction-hex-blob-row-per-insert"),
])
def test_dump_restore_gives_identical_data(marmot_server: MarmotServer, source: str,
                                           options: list[str]) -> None:
    dump = _dump(marmot_server, source, options)
    assert b"CREATE TABLE `order_items`" in dump and b"INSERT INTO `customers`" in dump
    _restore(marmot_server, "dump_copy", dump)
    _assert_same_databases(marmot_server, source, "dump_copy")


def test_checksum_table_agrees_after_restore(marmot_server: MarmotServer, source: str) -> None:
    _restore(marmot_server, "dump_checksum", _dump(marmot_server, source, []))
    src, dst = _connect(marmot_server, source), _connect(marmot_server, "dump_checksum")
    with src.cursor() as s, dst.cursor() as d:
        source_sums = _checksums(s)
        assert [name for name, _ in source_sums] == list(TABLE_KEYS)
        assert all(isinstance(value, int) and value != 0 for _, value in source_sums)
        assert _checksums(d) == source_sums
        d.execute("UPDATE products SET stock = stock + 1 WHERE sku = 'SKU-1'")
        assert _checksums(d) != source_sums  # the checksum does look at the data
    src.close()
    dst.close()


def test_restored_copy_has_the_sample_values(marmot_server: MarmotServer, source: str) -> None:
    """The comparison above could pass if both sides were equally wrong: check known values."""
    _restore(marmot_server, "dump_values", _dump(marmot_server, source, []))
    conn = _connect(marmot_server, "dump_values")
    with conn.cursor() as cur:
        assert _rows(cur, "products") == [tuple(p) for p in PRODUCTS]
        cur.execute("SELECT COUNT(*), COUNT(email), SUM(name LIKE '%🐿️%') FROM customers")
        assert cur.fetchone() == (CUSTOMERS, CUSTOMERS - CUSTOMERS // 3, CUSTOMERS // 12)
        cur.execute("SELECT name, created FROM customers WHERE id = 2")
        assert cur.fetchone() == ("李小龍 #1", datetime.datetime(2020, 1, 1, 1, 0, 0, 997))
        cur.execute("SELECT COUNT(*), SUM(unit_price * qty) FROM order_items")
        count, total = cur.fetchone()
        assert count == ORDERS * 3
        assert total == sum(decimal.Decimal(i * 37 % 10000) / 100 * (1 + i % 7)
                            for i in range(ORDERS * 3))
    conn.close()


def test_restored_copy_keeps_constraints_and_auto_increment(marmot_server: MarmotServer,
                                                           source: str) -> None:
    _restore(marmot_server, "dump_constraints", _dump(marmot_server, source, []))
    conn = _connect(marmot_server, "dump_constraints")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO customers (name, created) VALUES ('new', NOW())")
        assert cur.lastrowid == CUSTOMERS + 1  # (first: InnoDB burns ids on failed inserts)
        with pytest.raises(pymysql.err.IntegrityError) as info:
            cur.execute("INSERT INTO orders (customer_id, placed_at) "
                        "VALUES (99999, '2024-01-01 00:00:00')")
        assert info.value.args[0] == 1452
        with pytest.raises(pymysql.err.IntegrityError) as info:
            cur.execute("INSERT INTO customers (name, email, created) "
                        "VALUES ('dup', 'c1@example.org', NOW())")
        assert info.value.args[0] == 1062
        cur.execute("DELETE FROM customers WHERE id = 1")  # cascades to orders and items
        cur.execute("SELECT COUNT(*) FROM orders WHERE customer_id = 1")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT COUNT(*) FROM order_items WHERE order_id NOT IN "
                    "(SELECT id FROM orders)")
        assert cur.fetchone() == (0,)
    conn.close()


def test_foreign_keys_to_tables_not_created_yet(marmot_server: MarmotServer) -> None:
    """A dump creates tables alphabetically under FOREIGN_KEY_CHECKS=0, children first; with
    the checks on, MySQL refuses such a table (1824)."""
    conn = _connect(marmot_server)
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS dump_fk_order")
        cur.execute("USE dump_fk_order")
        with pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute("CREATE TABLE a_child (id INT, p INT, "
                        "FOREIGN KEY (p) REFERENCES z_parent (id))")
        assert info.value.args[0] == 1824
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        cur.execute("CREATE TABLE a_child (id INT PRIMARY KEY, p INT, q INT, "
                    "FOREIGN KEY (p) REFERENCES z_parent (id), "
                    "FOREIGN KEY (q) REFERENCES y_parent (id))")
        cur.execute("INSERT INTO a_child VALUES (1, 1, 1)")
        cur.execute("CREATE TABLE y_parent (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE z_parent (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO y_parent VALUES (1)")
        cur.execute("INSERT INTO z_parent VALUES (1)")
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")
        cur.execute("INSERT INTO a_child VALUES (2, 1, 1)")
        with pytest.raises(pymysql.err.IntegrityError) as info:
            cur.execute("INSERT INTO a_child VALUES (3, 1, 2)")
        assert info.value.args[0] == 1452
    conn.close()


def test_a_foreign_key_to_another_database_survives_a_dump(marmot_server: MarmotServer) -> None:
    """The dump of the child's database names the parent's database (SHOW CREATE TABLE's
    text); restored under FOREIGN_KEY_CHECKS=0, the key is there and enforced again."""
    conn = _connect(marmot_server)
    with conn.cursor() as cur:
        for statement in ("CREATE DATABASE IF NOT EXISTS dump_fk_parent",
                          "CREATE DATABASE IF NOT EXISTS dump_fk_child",
                          "CREATE TABLE dump_fk_parent.p (id INT PRIMARY KEY)",
                          "CREATE TABLE dump_fk_child.c (id INT PRIMARY KEY, pid INT, "
                          "CONSTRAINT c_p FOREIGN KEY (pid) REFERENCES dump_fk_parent.p (id))",
                          "INSERT INTO dump_fk_parent.p VALUES (1)",
                          "INSERT INTO dump_fk_child.c VALUES (1, 1)"):
            cur.execute(statement)
    dump = _dump(marmot_server, "dump_fk_child", [])
    assert b"REFERENCES `dump_fk_parent`.`p` (`id`)" in dump
    _restore(marmot_server, "dump_fk_copy", dump)
    with conn.cursor() as cur:
        cur.execute("SELECT id, pid FROM dump_fk_copy.c")
        assert cur.fetchall() == ((1, 1),)
        with pytest.raises(pymysql.err.IntegrityError) as info:
            cur.execute("INSERT INTO dump_fk_copy.c VALUES (2, 9)")
        assert info.value.args[0] == 1452
        with pytest.raises(pymysql.err.IntegrityError) as info:
            cur.execute("DELETE FROM dump_fk_parent.p")  # two children now, one per database
        assert info.value.args[0] == 1451
    conn.close()


def test_a_databases_character_set_survives_a_dump(marmot_server: MarmotServer) -> None:
    """``--databases`` writes the database's CREATE DATABASE with its character set and
    collation (SHOW CREATE DATABASE's), and around a routine made under another collation of
    the database an ALTER DATABASE to that one and back; restored, the database, its tables
    and the routine have them again, and the restored database dumps the same."""
    conn = _connect(marmot_server)
    with conn.cursor() as cur:
        for statement in ("DROP DATABASE IF EXISTS dump_cs",
                          "CREATE DATABASE dump_cs CHARACTER SET latin1 COLLATE latin1_bin",
                          "CREATE TABLE dump_cs.t (a VARCHAR(3))",
                          "CREATE PROCEDURE dump_cs.p() SELECT 1",
                          "ALTER DATABASE dump_cs COLLATE latin1_swedish_ci",
                          "CREATE TABLE dump_cs.t2 (a VARCHAR(3))"):
            cur.execute(statement)
    options = ["--databases", "--routines", "--skip-dump-date"]
    dump = _dump(marmot_server, "dump_cs", options)
    assert b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `dump_cs` /*!40100 DEFAULT CHARACTER SET " \
        b"latin1 COLLATE latin1_swedish_ci */" in dump
    # the procedure was made while the database was latin1_bin: its part switches to that
    assert b"ALTER DATABASE `dump_cs` CHARACTER SET latin1 COLLATE latin1_bin" in dump
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE dump_cs")
    result = subprocess.run([MARIADB_CLI, *_login_args(marmot_server), "--binary-mode"],
                            input=dump, capture_output=True, timeout=DUMP_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    with conn.cursor() as cur:
        cur.execute("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME = 'dump_cs'")
        assert cur.fetchall() == (("latin1_swedish_ci",),)
        cur.execute("SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = 'dump_cs' ORDER BY TABLE_NAME")
        assert cur.fetchall() == (("t", "latin1_bin"), ("t2", "latin1_swedish_ci"))
        cur.execute("SELECT DATABASE_COLLATION FROM information_schema.ROUTINES "
                    "WHERE ROUTINE_SCHEMA = 'dump_cs'")
        assert cur.fetchall() == (("latin1_bin",),)
    assert _dump(marmot_server, "dump_cs", options) == dump
    conn.close()


def test_an_invisible_index_survives_a_dump(marmot_server: MarmotServer) -> None:
    conn = _connect(marmot_server)
    with conn.cursor() as cur:
        for statement in ("DROP DATABASE IF EXISTS dump_ix", "CREATE DATABASE dump_ix",
                          "CREATE TABLE dump_ix.t (id INT PRIMARY KEY, a INT, KEY ka (a) "
                          "INVISIBLE)"):
            cur.execute(statement)
    conn.close()
    dump = _dump(marmot_server, "dump_ix", ["--skip-dump-date"])
    assert b"KEY `ka` (`a`) /*!80000 INVISIBLE */" in dump
    _restore(marmot_server, "dump_ix_copy", dump)
    assert _dump(marmot_server, "dump_ix_copy", ["--skip-dump-date"]).replace(
        b"dump_ix_copy", b"dump_ix") == dump


# ---------------------------------------------------------------- every column type, again

EVERY_DB = "dump_every"
# Explicit utf8mb4_unicode_ci: MariaDB 10.11 does not know MySQL 8's default utf8mb4_0900_ai_ci,
# which a MySQL 8 dump names too; with it the dump restores into MariaDB (the view, trigger and
# routines are made by a session whose collation_connection is utf8mb4_unicode_ci, which they
# record and their dump parts set).
# The indexed VIRTUAL column reads no CHAR column and no string literal: MariaDB refuses both
# in an indexed virtual column (1901: they depend on its sql_mode PAD_CHAR_TO_FULL_LENGTH and
# on the literal's collation), which MySQL 8 accepts.
EVERY_OPTIONS = "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
EVERY_SCHEMA = [
    f"""CREATE TABLE kinds (
        id INT NOT NULL AUTO_INCREMENT,
        ti TINYINT, si SMALLINT UNSIGNED, mi MEDIUMINT, bi BIGINT UNSIGNED, bits BIT(5),
        f FLOAT, dbl DOUBLE, dec1 DECIMAL(20,6),
        d DATE, dt DATETIME(3), ts TIMESTAMP NULL DEFAULT NULL, tm TIME(2), yr YEAR,
        ch CHAR(3), vc VARCHAR(50) NOT NULL DEFAULT '', bn BINARY(4), vb VARBINARY(10),
        tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lt LONGTEXT,
        tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
        en ENUM('a','b','c') DEFAULT 'b', st SET('x','y','z'), js JSON,
        total BIGINT AS (mi * 2 + ti) STORED,
        gross DECIMAL(21,6) AS (dec1 * 2) STORED,
        label VARCHAR(60) AS (UPPER(vc)) VIRTUAL,
        PRIMARY KEY (id), UNIQUE KEY uq_vc (vc), KEY ix_d (d, dt), KEY ix_label (label),
        KEY ix_total (total)
    ) ENGINE=InnoDB {EVERY_OPTIONS}""",
    f"""CREATE TABLE child (
        id INT NOT NULL, kind_id INT NULL, note VARCHAR(20) NULL,
        PRIMARY KEY (id),
        CONSTRAINT fk_kind FOREIGN KEY (kind_id) REFERENCES kinds (id) ON DELETE SET NULL
    ) ENGINE=InnoDB {EVERY_OPTIONS}""",
    "INSERT INTO kinds (ti, si, mi, bi, bits, f, dbl, dec1, d, dt, ts, tm, yr, ch, vc, bn, vb, "
    "tt, tx, mt, lt, tb, bl, mb, lb, en, st, js) VALUES "
    "(-128, 65535, -8388608, 18446744073709551615, b'10101', 1.5, -2.25e100, "
    "12345678901234.123456, '2024-02-29', '2024-01-01 10:11:12.345', '2024-01-01 00:00:01', "
    "'-838:59:59.00', 2155, 'abc', 'v1', 0x00ff0102, 0x0001, 'tiny', 'tëxt', 'medium', "
    "'long', 0x01, 0x0203, 0x04, 0x05, 'c', 'x,z', '{\"a\": [1, 2, {\"b\": null}]}'), "
    "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "'v2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "INSERT INTO child VALUES (1, 1, 'one'), (2, NULL, NULL)",
    # what the view, trigger and routines record, and their dump parts set (MariaDB knows it)
    "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
    "CREATE VIEW v_kinds AS SELECT id, vc, total FROM kinds WHERE id > 0",
    "CREATE TRIGGER trg_child BEFORE INSERT ON child FOR EACH ROW "
    "SET NEW.note = UPPER(NEW.note)",
    "CREATE PROCEDURE p_count(OUT n INT) SELECT COUNT(*) INTO n FROM kinds",
    "CREATE FUNCTION f_twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
]
EVERY_COLUMNS = ("id, ti, si, mi, bi, bits, f, dbl, dec1, d, dt, ts, tm, yr, ch, vc, bn, vb, "
                 "tt, tx, mt, lt, tb, bl, mb, lb, en, st, js, total, gross, label")


@pytest.fixture(scope="module")
def every(marmot_server: MarmotServer) -> Iterator[str]:
    conn = _connect(marmot_server)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {EVERY_DB}")
        cur.execute(f"CREATE DATABASE {EVERY_DB}")
        cur.execute(f"USE {EVERY_DB}")
        for statement in EVERY_SCHEMA:
            cur.execute(statement)
    conn.close()
    yield EVERY_DB


def _every_rows(conn: Any) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT {EVERY_COLUMNS} FROM kinds ORDER BY id")
        kinds = [tuple(json.loads(v) if i == 28 and v is not None else v
                       for i, v in enumerate(row)) for row in cur.fetchall()]
        cur.execute("SELECT id, kind_id, note FROM child ORDER BY id")
        return kinds + list(cur.fetchall())


@pytest.mark.parametrize("options", [
    pytest.param([], id="defaults"),
    pytest.param(["--single-transaction", "--complete-insert", "--hex-blob"],
                 id="single-transaction-complete-insert-hex-blob"),
    pytest.param(["--lock-tables", "--skip-extended-insert"], id="lock-tables-row-per-insert"),
])
def test_every_column_type_dumps_again_identically(marmot_server: MarmotServer, every: str,
                                                   options: list[str]) -> None:
    """Generated columns (STORED and VIRTUAL: mariadb-dump writes their values, ignored with
    warning 1906 outside strict mode), indexes, a FOREIGN KEY, a view, a trigger, routines and
    AUTO_INCREMENT: dump, restore, dump the copy: the same text but for the database's name."""
    options = ["--routines", "--triggers", "--events", "--skip-dump-date", *options]
    dump = _dump(marmot_server, every, options)
    assert b"`total` bigint GENERATED ALWAYS AS" in dump
    assert b"TRIGGER `trg_child`" in dump and b"FUNCTION `f_twice`" in dump
    _restore(marmot_server, "dump_every_copy", dump)
    again = _dump(marmot_server, "dump_every_copy", options)
    assert again.replace(b"dump_every_copy", EVERY_DB.encode()) == dump
    source, copy = _connect(marmot_server, every), _connect(marmot_server, "dump_every_copy")
    assert _every_rows(copy) == _every_rows(source)
    with copy.cursor() as cur:
        cur.execute("INSERT INTO kinds (vc, mi, ti) VALUES ('v3', 5, 1)")
        assert cur.lastrowid == 3
        cur.execute("SELECT total, label FROM kinds WHERE id = 3")
        assert cur.fetchone() == (11, "V3")
        cur.execute("INSERT INTO child VALUES (3, 3, 'low')")  # the trigger came back
        cur.execute("SELECT note FROM child WHERE id = 3")
        assert cur.fetchone() == ("LOW",)
        cur.execute("CALL p_count(@n)")
        cur.execute("SELECT @n, f_twice(21), COUNT(*) FROM v_kinds")
        assert cur.fetchone() == (3, 42, 3)
    source.close()
    copy.close()


def test_every_column_type_restores_into_mariadb(marmot_server: MarmotServer, every: str,
                                                  differential_mariadb: MariaDBEndpoint
                                                  ) -> None:
    """marmotdb's dump, view, trigger and routines included, restores into MariaDB with the
    same rows, generated values recomputed there: each object's part sets the
    character_set_client and collation_connection it was created with (utf8mb4_unicode_ci,
    which MariaDB 10.11 knows; it does not know MySQL 8's utf8mb4_0900_ai_ci)."""
    dump = _dump(marmot_server, every, ["--routines", "--triggers", "--skip-dump-date"])
    assert b"0900" not in dump
    # the trigger, the two routines and the view
    assert len(re.findall(rb"SET collation_connection += utf8mb4_unicode_ci", dump)) == 4
    admin = differential_mariadb.connect(autocommit=True)
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS dump_every_maria")
        cur.execute("CREATE DATABASE dump_every_maria")
    admin.close()
    login = ["--no-defaults", f"-h{differential_mariadb.host}", f"-P{differential_mariadb.port}",
             f"-u{differential_mariadb.user}", f"-p{differential_mariadb.password}"]
    # marmotdb's root@% has no account there: the objects are the restoring account's (the
    # usual rewrite of a dump's definers when moving it to a server with other accounts)
    dump = dump.replace(b"DEFINER=`root`@`%`", b"DEFINER=CURRENT_USER")
    result = subprocess.run([MARIADB_CLI, *login, "--binary-mode", "dump_every_maria"],
                            input=dump, capture_output=True, timeout=DUMP_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    source = _connect(marmot_server, every)
    maria = differential_mariadb.connect(database="dump_every_maria", autocommit=True,
                                         charset="utf8mb4")
    for theirs, ours in zip(_every_rows(maria)[:2], _every_rows(source)[:2]):
        assert [(name, a) for name, a, b in zip(EVERY_COLUMNS.split(", "), theirs, ours)
                if a != b] == [], ours
    with maria.cursor() as cur:
        cur.execute("SHOW CREATE TABLE kinds")
        assert "GENERATED ALWAYS AS" in cur.fetchone()[1]
        cur.execute("INSERT INTO kinds (vc) VALUES ('v9')")
        assert cur.lastrowid == 3  # AUTO_INCREMENT continues there too
        cur.execute("INSERT INTO child VALUES (3, 3, 'low')")  # the trigger is there
        cur.execute("SELECT note FROM child WHERE id = 3")
        assert cur.fetchone() == ("LOW",)
        cur.execute("CALL p_count(@n)")
        cur.execute("SELECT @n, f_twice(21), COUNT(*) FROM v_kinds")
        assert cur.fetchone() == (3, 42, 3)
        cur.execute("SELECT COLLATION_CONNECTION FROM information_schema.VIEWS "
                    "WHERE TABLE_SCHEMA = 'dump_every_maria'")
        assert cur.fetchall() == (("utf8mb4_unicode_ci",),)
        cur.execute("DROP DATABASE dump_every_maria")
    source.close()
    maria.close()
