"""Per-table checksums: order-independent, type-exact, sensitive to any difference."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from marmotdb.storage.checksum import database_checksums, table_checksum
from tests.storage.examples import property_settings
from tests.storage.origin import open_database

SCHEMA = """
CREATE TABLE named(name TEXT PRIMARY KEY, v);
CREATE TABLE loose(a, b);
"""


def filled(rows, order) -> object:
    conn = open_database(SCHEMA)
    for index in order:
        conn.execute("INSERT INTO named VALUES (?, ?)", rows[index])
    return conn


def test_same_rows_inserted_in_different_orders_agree():
    rows = [(f"k{i}", i * 1.5) for i in range(50)]
    forward, backward = filled(rows, range(50)), filled(rows, reversed(range(50)))
    # A TEXT primary key in a rowid table: the two files have different rowids per name.
    assert forward.execute("SELECT rowid FROM named WHERE name = 'k0'").fetchone() != \
        backward.execute("SELECT rowid FROM named WHERE name = 'k0'").fetchone()
    assert table_checksum(forward, "named") == table_checksum(backward, "named")
    assert table_checksum(forward, "named").rows == 50


def test_any_difference_changes_the_checksum():
    base = open_database(SCHEMA)
    base.execute("INSERT INTO named VALUES ('a', 1), ('b', 2)")
    reference = table_checksum(base, "named").digest
    variants = ["UPDATE named SET v = 1.0 WHERE name = 'a'",      # int -> real
                "UPDATE named SET v = '1' WHERE name = 'a'",      # int -> text
                "UPDATE named SET v = x'01' WHERE name = 'a'",    # int -> blob
                "DELETE FROM named WHERE name = 'b'",
                "INSERT INTO named VALUES ('c', NULL)",
                "UPDATE named SET name = 'z' WHERE name = 'a'"]
    for sql in variants:
        conn = open_database(SCHEMA)
        conn.execute("INSERT INTO named VALUES ('a', 1), ('b', 2)")
        conn.execute(sql)
        assert table_checksum(conn, "named").digest != reference, sql


def test_rowid_tables_include_the_rowid_and_count_duplicates():
    one, two = open_database(SCHEMA), open_database(SCHEMA)
    one.execute("INSERT INTO loose(rowid, a, b) VALUES (1, 'x', 1), (2, 'x', 1)")
    two.execute("INSERT INTO loose(rowid, a, b) VALUES (1, 'x', 1), (3, 'x', 1)")
    assert table_checksum(one, "loose") != table_checksum(two, "loose")
    two.execute("DELETE FROM loose WHERE rowid = 3")
    two.execute("INSERT INTO loose(rowid, a, b) VALUES (2, 'x', 1)")
    assert table_checksum(one, "loose") == table_checksum(two, "loose")


def test_empty_table_and_database_listing():
    conn = open_database(SCHEMA)
    empty = table_checksum(conn, "loose")
    assert empty.rows == 0 and empty.digest == "0" * 32
    assert sorted(database_checksums(conn)) == ["loose", "named"]
    assert sorted(database_checksums(conn, include_internal=True)) == [
        "__marmot_applied", "__marmot_row_versions", "loose", "named"]


@property_settings(share=0.10)
@given(rows=st.dictionaries(st.text(max_size=4), st.one_of(
    st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=5),
    st.binary(max_size=5)), max_size=30), data=st.data())
def test_property_checksum_ignores_insert_order(rows, data):
    items = list(rows.items())
    order = data.draw(st.permutations(range(len(items))))
    first, second = filled(items, range(len(items))), filled(items, order)
    assert table_checksum(first, "named") == table_checksum(second, "named")
