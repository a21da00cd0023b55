"""mysqldump against a real ``marmotdb serve``.

A populated database (several tables, foreign keys, secondary and unique indexes, NULLs,
unicode, every byte value in blobs, exact decimals, dates/times, ENUM) is dumped with
``mariadb-dump`` (the mysqldump of the mariadb-client package); the dump must carry MySQL DDL
(keys, foreign keys with their actions, column types) and every row. Dumps are handled as
bytes: without ``--hex-blob`` they hold raw binary string literals that are not valid UTF-8.

Restoring the dump into a fresh database with the ``mariadb`` CLI and comparing the two
databases table by table is not in this module yet: the server still rejects statements on
that path (MariaDB's ``/*M!999999\\- enable the sandbox mode */`` first line, DROP DATABASE of
a used database, INSERTs of more than 4096 values).
"""

from __future__ import annotations

import datetime
import decimal
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.server import MarmotServer

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
]
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


def _dump(server: MarmotServer, database: str, options: list[str]) -> bytes:
    result = subprocess.run([DUMP_BIN, *_login_args(server), *options, database],
                            capture_output=True, timeout=DUMP_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"-- Dump completed" in result.stdout
    return result.stdout


def _insert_statements(dump: bytes, table: str) -> int:
    return dump.count(f"INSERT INTO `{table}` ".encode())


@pytest.mark.parametrize(("options", "one_insert_per_row"), [
    pytest.param([], False, id="defaults"),
    pytest.param(["--hex-blob", "--skip-extended-insert", "--complete-insert"], True,
                 id="hex-blob-row-per-insert"),
])
def test_dump_has_schema_and_data(marmot_server: MarmotServer, source: str,
                                  options: list[str], one_insert_per_row: bool) -> None:
    dump = _dump(marmot_server, source, options)
    assert b"CONSTRAINT `fk_orders_customer` FOREIGN KEY (`customer_id`) REFERENCES " \
           b"`customers` (`id`) ON DELETE CASCADE" in dump
    assert b"CONSTRAINT `fk_items_product` FOREIGN KEY (`sku`) REFERENCES `products` " \
           b"(`sku`)" in dump
    assert b"PRIMARY KEY (`order_id`,`line`)" in dump
    assert b"UNIQUE KEY `uq_email` (`email`)" in dump
    assert b"KEY `ix_customer_placed` (`customer_id`,`placed_at`)" in dump
    assert b"`status` enum('new','paid','shipped') NOT NULL DEFAULT 'new'" in dump
    assert b"`price` decimal(12,4) NOT NULL" in dump
    assert f"AUTO_INCREMENT={CUSTOMERS + 1} ".encode() in dump
    assert "'李小龍 #1'".encode() in dump and "'emoji 🐿️✨ #7'".encode() in dump
    assert b"99999999.9999" in dump and b"'9999-12-31'" in dump
    if one_insert_per_row:
        assert _insert_statements(dump, "customers") == CUSTOMERS
        assert _insert_statements(dump, "order_items") == ORDERS * 3
        assert b"0x" + bytes(range(256)).hex().upper().encode() in dump
    else:
        assert 1 <= _insert_statements(dump, "order_items") < ORDERS
