"""Cluster sweeps: many (seed, scenario) runs spread over worker processes.

A run is single-threaded Python plus SQLite and takes ~0.4-3.5 s of CPU (profiled with py-spy:
~85% of it is the product's own code path — the txn store, row versions, the commit log and
apply, peer frame authentication — and ~9% the simulated disk), so the only way to run a few
hundred seeds in CI within minutes is to run them side by side. Every run is determined by
(seed, scenario, node count) alone and writes only its own scratch folder, so runs in separate
processes give exactly the results (and trace hashes) of runs in one process.

Workers are *spawned*, not forked: the caller may be a pytest process holding open SQLite
connections and a registered VFS, which a forked child must not inherit. Results come back in
the order of the runs asked for (``Executor.map``), so a report reads the same with any number
of workers; the pool hands out one run at a time so a slow seed does not hold back a batch.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from collections.abc import Iterable, Iterator

from marmotdb.sim.cluster_runner import ClusterRunResult, run_one

JOBS_MAX = 64  # bound of the worker pool, whatever the caller asks
Run = tuple[int, str, int | None]  # (seed, scenario, node count or None: drawn)


def default_jobs() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _run(run: Run) -> ClusterRunResult:
    seed, scenario, nodes = run
    return run_one(seed, scenario, nodes)


def sweep(seeds: Iterable[int], scenarios: Iterable[str], nodes: int | None = None,
          jobs: int | None = None) -> Iterator[ClusterRunResult]:
    """Every scenario for every seed (seed-major: a short sweep covers every scenario)."""
    scenarios = list(scenarios)
    return run_all([(seed, scenario, nodes) for seed in seeds for scenario in scenarios], jobs)


def run_all(runs: list[Run], jobs: int | None = None) -> Iterator[ClusterRunResult]:
    """One result per run, in the order given, computed by ``jobs`` worker processes (default:
    one per core; 1: in this process)."""
    jobs = min(JOBS_MAX, default_jobs() if jobs is None else max(1, jobs), len(runs) or 1)
    if jobs == 1:
        yield from map(_run, runs)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        yield from pool.map(_run, runs, chunksize=1)
