"""Smoke test of the cluster benchmark's Galera half: marmotdb/torture/galera_cluster.py starts three
MariaDB Galera nodes on free loopback ports that form one cluster and replicate a row, and
stopping leaves no process and no data directory behind."""

from __future__ import annotations

import pytest

from marmotdb.torture import galera_cluster

_MISSING = galera_cluster.missing_requirements()

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # ~20 s: two state transfers
    pytest.mark.skipif(_MISSING is not None, reason=f"Galera cluster: {_MISSING}"),
]


def test_three_nodes_form_one_cluster_and_replicate_a_row() -> None:
    cluster = galera_cluster.GaleraCluster(size=3)
    with cluster:
        nodes = cluster.nodes
        assert [n.status("wsrep_cluster_size") for n in nodes] == ["3", "3", "3"]
        assert len({n.port for n in nodes}) == 3
        nodes[1].root_sql("CREATE DATABASE smoke; "
                          "CREATE TABLE smoke.t (id INT PRIMARY KEY, v VARCHAR(20)); "
                          "INSERT INTO smoke.t VALUES (1, 'from node 2')")
        for node in (nodes[0], nodes[2]):
            # wsrep_sync_wait=1: the read waits until the node has applied what was committed.
            rows = node.root_sql("SET SESSION wsrep_sync_wait = 1; SELECT v FROM smoke.t").stdout
            assert rows.strip() == "from node 2"
        settings = nodes[0].root_sql("SELECT @@innodb_flush_log_at_trx_commit, @@log_bin")
        assert settings.stdout.split() == ["1", "0"]
        processes, base_dir = [n.process for n in nodes], cluster.base_dir
    assert all(p is not None and p.poll() is not None for p in processes)
    assert base_dir is not None and not base_dir.exists()
