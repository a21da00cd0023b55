"""The server's own work per connect, in process: no sockets, no client process, no kernel.

Theory of operation
-------------------
``connect_bench.py`` measures what a client sees; on a shared machine its differences of a few
tens of microseconds drown in noise. This runs the server side alone: the real
``MysqlProtocol`` and node (as ``marmotdb serve`` builds them) on uvloop, fed by a fake transport
with the bytes of a PyMySQL-shaped connect (HandshakeResponse41 with caching_sha2_password's
fast path, ``SET NAMES utf8mb4``, ``SET AUTOCOMMIT = 0``, ``SELECT 1``, COM_QUIT, close:
``tests/runtime/memory_connect.py``). Only the time inside the protocol's callbacks
and the loop turn after each (the node's end-of-iteration work) is counted, as this thread's
CPU time (``--wall``: wall time) less the clock's own cost per reading; the best of
``--repeat`` runs of ``--connects`` connects is printed in microseconds per connect.

    python bench/connect_server_bench.py [--connects 800] [--repeat 5] [--wall]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marmotdb import config as config_module  # noqa: E402
from marmotdb.runtime import serve  # noqa: E402
from marmotdb.runtime.node_host import NodeHost  # noqa: E402
from tests.runtime.memory_connect import MemoryConnect  # noqa: E402

PASSWORD = "bench-pw"
WARMUP_CONNECTS = 300
# This thread's CPU time: time the machine's other jobs take from us is not counted (wall
# time swung 2x between runs with 8 other jobs on 2 cores). --wall measures wall time instead.
CLOCK = time.thread_time


def clock_reading_s() -> float:
    """What one timed interval adds by itself: the clock's own cost (thread_time is a system
    call, ~5 µs on this VM, and a connect is timed in six intervals)."""
    best = float("inf")
    for _ in range(2000):
        started = CLOCK()
        best = min(best, CLOCK() - started)
    return best


async def measure(connects: int, repeat: int) -> float:
    data_dir = tempfile.mkdtemp(prefix="marmot-connect-server-")
    config = config_module.load(None, {"MARMOTDB_ROOT_PASSWORD": PASSWORD,
                                       "MARMOTDB_DATA_DIR": data_dir})
    host = NodeHost(asyncio.get_running_loop(), read_threads=1)
    serve.build_node(config, host)
    service = serve.build_service(config, host)
    try:
        for _ in range(WARMUP_CONNECTS):
            await MemoryConnect(PASSWORD, clock=CLOCK).run(service)
        best = float("inf")
        for _ in range(repeat):
            connect = MemoryConnect(PASSWORD, clock=CLOCK)
            for _ in range(connects):
                await connect.run(service)
            spent_s = connect.spent_s - connect.intervals * clock_reading_s()
            best = min(best, spent_s / connects)
        return best
    finally:
        host.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connects", type=int, default=800, help="per run (default 800)")
    parser.add_argument("--repeat", type=int, default=5, help="runs, best counts (default 5)")
    parser.add_argument("--wall", action="store_true", help="wall time, not this thread's CPU")
    args = parser.parse_args()
    if args.wall:
        global CLOCK
        CLOCK = time.perf_counter
    best_s = uvloop.run(measure(args.connects, args.repeat))
    print(f"server work per connect: {best_s * 1e6:.1f} us (best of {args.repeat} x "
          f"{args.connects})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
