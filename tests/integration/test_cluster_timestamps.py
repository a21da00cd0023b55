"""A TIMESTAMP written under one session time_zone on one node is the same instant read under
another on the other node (sql/rewrites/timestamps.py): rows replicate as their stored UTC
values, and each session converts them to its own zone. Two real ``marmotdb serve``
processes, PyMySQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from marmotdb.torture.cluster import LocalCluster
from tests.runtime.process_cluster import connect, everywhere, running_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from running_cluster(tmp_path_factory.mktemp("timestamps"), nodes=2)


def test_timestamp_written_under_plus_five_reads_as_utc_on_another_node(pair: LocalCluster
                                                                        ) -> None:
    with connect(pair, 1) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS zones")
        cur.execute("CREATE TABLE zones.t (id INT PRIMARY KEY, ts TIMESTAMP NULL, "
                    "dt DATETIME NULL)")
        cur.execute("SET time_zone = '+05:00'")
        cur.execute("INSERT INTO zones.t VALUES (1, '2020-01-01 10:00:00', "
                    "'2020-01-01 10:00:00')")
    everywhere(pair, "SELECT COUNT(*) FROM zones.t", [(1,)])
    with connect(pair, 2) as conn, conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("SELECT ts, dt, UNIX_TIMESTAMP(ts) FROM zones.t")
        assert cur.fetchall() == ((dt.datetime(2020, 1, 1, 5, 0), dt.datetime(2020, 1, 1, 10, 0),
                                   1577854800),)
        cur.execute("SET time_zone = '-08:00'")
        cur.execute("SELECT ts FROM zones.t WHERE ts = '2019-12-31 21:00:00'")
        assert cur.fetchall() == ((dt.datetime(2019, 12, 31, 21, 0),),)
