"""Smoke test of the benchmark's MariaDB half: a private mariadbd starts, the bench user logs
in over TCP with mysql_native_password, settings are durable, a short sysbench run parses, and
stopping leaves no process and no data directory behind."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH_DIR))

from marmotdb.torture import mariadb_server
import sysbench_bench

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mariadbd") is None or shutil.which("sysbench") is None,
                       reason="needs mariadb-server and sysbench installed"),
]


@pytest.fixture(scope="module")
def mariadb() -> Iterator[mariadb_server.MariaDBServer]:
    with mariadb_server.MariaDBServer() as server:
        yield server


def _endpoint(server: mariadb_server.MariaDBServer) -> sysbench_bench.Endpoint:
    return sysbench_bench.mariadb_endpoint(server)


def test_bench_user_logs_in_over_tcp_with_durable_settings(
    mariadb: mariadb_server.MariaDBServer,
) -> None:
    result = _endpoint(mariadb).sql(
        "SELECT CURRENT_USER(), @@innodb_flush_log_at_trx_commit, @@log_bin, "
        "@@innodb_buffer_pool_size, (SELECT plugin FROM mysql.user WHERE user = 'bench')")
    assert result.returncode == 0, result.stderr
    user, flush, log_bin, pool, plugin = result.stdout.split()
    assert (user, flush, log_bin, plugin) == ("bench@%", "1", "0", "mysql_native_password")
    assert int(pool) == 256 * 1024 * 1024


def test_wrong_password_is_refused(mariadb: mariadb_server.MariaDBServer) -> None:
    endpoint = _endpoint(mariadb)
    endpoint.password = "not-the-password"
    result = endpoint.sql("SELECT 1")
    assert result.returncode != 0
    assert "Access denied" in result.stderr


def test_short_sysbench_run_is_parsed(mariadb: mariadb_server.MariaDBServer) -> None:
    endpoint = _endpoint(mariadb)
    run = sysbench_bench.RunSettings(time_s=2, threads=2, table_size=500, ps_mode="auto")
    sysbench_bench.prepare_database(endpoint, run)
    entry: dict[str, Any] = sysbench_bench.run_workload(endpoint, "oltp_point_select", run, None)
    assert "error" not in entry, entry.get("error")
    assert entry["transactions"] > 0
    assert entry["queries"] == entry["transactions"]  # one SELECT per point-select event
    assert 0 < entry["latency_p95_ms"] <= entry["latency_max_ms"]
    assert entry["server_cpu_s"] > 0
    assert entry["hwm_kib"] >= entry["rss_kib"] > 0


def test_stop_removes_process_and_datadir() -> None:
    server = mariadb_server.MariaDBServer().start()
    base_dir, process = server.base_dir, server.process
    assert base_dir is not None and process is not None
    assert (base_dir / "data" / "mysql").is_dir()
    server.stop()
    assert process.returncode == 0
    assert not base_dir.exists()
