"""Many idle clients at once, and clean shutdown with clients connected."""

from __future__ import annotations

import resource

import pytest

pytestmark = pytest.mark.integration
IDLE_CONNECTIONS = 1000


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_thousand_idle_connections_hold(marmot_server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < IDLE_CONNECTIONS + 100:
        pytest.skip("file descriptor limit too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, IDLE_CONNECTIONS + 100), hard))
    before = _rss_kib(marmot_server.pid)
    # Plain TCP: PyMySQL otherwise loads the system CA store for every TLS connect (~50 ms).
    idle = [marmot_server.connect(ssl_disabled=True) for _ in range(IDLE_CONNECTIONS)]
    try:
        after = _rss_kib(marmot_server.pid)
        print(f"\nserver RSS {before} KiB -> {after} KiB with {IDLE_CONNECTIONS} idle "
              f"connections: {(after - before) / IDLE_CONNECTIONS:.1f} KiB each")
        probe = marmot_server.connect()
        cur = probe.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
        for conn in idle[::100]:  # the idle ones still answer
            c = conn.cursor()
            c.execute("SELECT CONNECTION_ID()")
            assert c.fetchone()[0] > 0
        probe.close()
    finally:
        for conn in idle:
            conn.close()
