"""One torture run, phase by phase (DESIGN.md here has the why):

    1 start     N nodes (netns or loopback), the database on each, the workload's tables
    2 load      ``clients`` threads spread over the nodes for ``time_s``, every operation in
                the history; the nemesis beside them, its windows in the history too
    3 heal      the nemesis undoes its last fault; every node running, resumed, reachable
    4 converge  the audit's settle step: one membership, nothing in doubt, equal applied
                vectors (marmotdb); Galera: every node Synced with empty queues
    5 final     each node's tables and SHOW CREATE TABLE through its own MySQL port, as
                ``final-state`` lines
    6 audit     (marmotdb) every node stopped cleanly, their files compared (audit.py)
    7 write     run.json (metadata), summary.json (throughput, latency, unavailability)
    8 check     ``python -m marmotdb.torture.check RUN_DIR`` when that module exists

A run directory::

    history.jsonl  run.json  summary.json  nodes/node<i>/ (data and log of each node)
    check.txt (what the checker printed) and its report.txt/.json/.svg, index.html
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from marmotdb.torture import history as hist
from marmotdb.torture import nemesis as nem
from marmotdb.torture import summary
from marmotdb.torture.clients import Clients
from marmotdb.torture.history import History
from marmotdb.torture.workloads import WORKLOADS

CHECKER = "marmotdb.torture.check"
CHECK_TIMEOUT_S = 600
FINAL_READ_TIMEOUT_S = 30


@dataclasses.dataclass
class RunOptions:
    workload: str
    faults: str = "none"
    nodes: int = 3
    time_s: float = 60.0
    clients: int = 10
    consistency: str = "QUORUM"
    read_consistency: str | None = None  # None: the workload's default (LOCAL; register QUORUM)
    seed: int = 1
    quiet_s: float = 5.0  # between faults
    fault_s: float = 5.0  # each fault's length
    galera: bool = False
    netns: bool = True  # False: loopback + fault layer even as root
    check: bool = True
    converge_timeout_s: float = 120.0  # heal -> settled; past it the run has a problem


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    meta: dict[str, Any]
    summary: dict[str, Any]
    check_status: int | None  # the checker's exit code; None: no checker in this checkout
    check_output: str


def _make_target(options: RunOptions, root: Path) -> Any:
    if options.galera:
        from marmotdb.torture.galera import GaleraTarget
        return GaleraTarget(options.nodes)
    from marmotdb.torture.target import MarmotTarget
    wants_disk = options.faults == "all" or "disk-full" in options.faults.split(",")
    target = MarmotTarget(root / "nodes", options.nodes, prefer_netns=options.netns)
    if wants_disk and target.disk_full_possible() is None:
        target.disk_node = int(nem.DISK_FULL_NODE.lstrip("n"))
    return target


def _faults(options: RunOptions, target: Any, busiest: Any) -> tuple[list[Any], list[str]]:
    faults = nem.faults_for(options.faults, busiest)
    skipped = []
    if any(f.name == "disk-full" for f in faults) and getattr(target, "disk_node", 1) is None:
        reason = target.disk_full_possible() or "no small disk mounted"
        faults = [f for f in faults if f.name != "disk-full"]
        skipped.append(f"disk-full: {reason}")
    kept, cannot = nem.supported(target, faults)
    return kept, skipped + cannot


def run(options: RunOptions, out: Path) -> RunResult:
    workload = WORKLOADS[options.workload]()
    read_level = options.read_consistency or getattr(workload, "read_consistency", "LOCAL")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)
    target = _make_target(options, out)
    started_wall = dt.datetime.now(dt.UTC)
    meta: dict[str, Any] = {"product": target.product, "workload": workload.name,
                            "nodes": [], "consistency": options.consistency,
                            "read_consistency": read_level, "seed": options.seed,
                            "clients": options.clients, "faults": options.faults,
                            "start_wall_time": started_wall.isoformat(),
                            "options": dataclasses.asdict(options)} | workload.meta()
    history = History(out / "history.jsonl")
    problems: list[str] = []
    clients: Clients | None = None
    try:
        target.start()
        meta["nodes"] = target.node_names()
        meta["target"] = target.describe()
        with target.connect(target.node_names()[0]) as conn, conn.cursor() as cur:
            workload.setup(cur)
        clients = Clients(target, workload, history, options.clients, options.consistency,
                          read_level, options.seed)
        faults, skipped = _faults(options, target, clients.busiest)
        meta["fault_schedule"] = {"faults": [f.name for f in faults], "skipped": skipped,
                                  "quiet_s": options.quiet_s, "fault_s": options.fault_s}
        history.started_ns = time.monotonic_ns()  # time 0: the load begins
        nemesis = nem.Nemesis(target, history, faults, rng, options.quiet_s, options.fault_s)
        clients.start()
        nemesis.run(options.time_s)  # on this thread: see Nemesis
        clients.stop()
        meta["duration_s"] = history.now_ns() / 1e9
        meta["fault_windows"] = nemesis.windows
        problems += nemesis.errors + clients.errors
        _heal(target, problems)
        databases = workload_databases(target, workload)
        converged = True
        try:
            meta["converge_s"] = round(target.converge(options.converge_timeout_s,
                                                       databases=databases), 3)
        except AssertionError as exc:
            converged = False
            problems.append(f"no convergence: {str(exc)[:2000]}")
        _final_state(target, workload, history, problems, converged)
        if hasattr(target, "file_audit"):
            # the audit settles first: after a failed convergence it would only wait again
            meta["file_audit"] = (target.file_audit(tuple(workload.tables()), databases)
                                  if converged else "not run: no convergence")
    finally:
        if clients is not None:
            clients.stop(timeout_s=0)  # a no-op after a normal end; on an error, stop the load
        try:
            target.stop()
        finally:
            history.close()
    meta["problems"] = problems
    (out / "run.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    stats = summary.summarize(hist.read(out / "history.jsonl"))
    (out / "summary.json").write_text(json.dumps(stats, indent=2) + "\n")
    status, output = check(out) if options.check else (None, "checker not asked for")
    return RunResult(out, meta, stats, status, output)


def workload_databases(target: Any, workload: Any) -> tuple[str, ...]:
    """The databases a run settles and audits: the target's, and the workload's own (bank2)."""
    own = workload.databases() if hasattr(workload, "databases") else []
    return tuple(dict.fromkeys([target.database, *own]))


def _heal(target: Any, problems: list[str]) -> None:
    """Every node running, resumed and on a healed network, whatever the nemesis left."""
    for node in target.node_names():
        try:
            target.resume(node)
            if not target.running(node):
                target.restart(node)
        except Exception as exc:  # noqa: BLE001 — reported in run.json
            problems.append(f"heal {node}: {type(exc).__name__}: {exc}")
    try:
        target.heal()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"heal network: {type(exc).__name__}: {exc}")


def _final_state(target: Any, workload: Any, history: History, problems: list[str],
                 converged: bool = True) -> None:
    """Each node's final state; after a failed convergence read at STALE (what the node holds
    now: a node that cannot catch up refuses even LOCAL reads, 1205), so the checkers still
    judge what is there while run.json keeps the convergence problem."""
    for node in target.node_names():
        try:
            value = read_state(target, node, workload.tables(), stale=not converged)
        except Exception as exc:  # noqa: BLE001 — a node that cannot answer is a finding
            problems.append(f"final state of {node}: {type(exc).__name__}: {exc}")
            continue
        history.record(hist.FINAL, hist.OK, "final-state", value, node=node)


def read_state(target: Any, node: str, tables: list[str], stale: bool = False
               ) -> dict[str, Any]:
    """Every table's rows (sorted) and SHOW CREATE TABLE text, read through ``node``: the
    target database's tables (those of ``tables`` when it names some), and each
    ``database.table`` of ``tables`` under that name. ``stale``: at
    ``marmot_read_consistency = STALE`` (never waits)."""
    with target.connect(node, timeout_s=FINAL_READ_TIMEOUT_S) as conn, conn.cursor() as cur:
        if stale:
            target.session_setup(cur, "QUORUM", "STALE")
        cur.execute("SHOW TABLES")
        names = sorted(str(name) for (name,) in cur.fetchall())
        names = [n for n in names if not tables or n in tables]
        names += sorted(n for n in tables if "." in n)
        rows, schema = {}, {}
        for name in names:
            quoted = ".".join(f"`{part}`" for part in name.split(".", 1))
            cur.execute(f"SELECT * FROM {quoted}")
            rows[name] = sorted(([_plain(v) for v in row] for row in cur.fetchall()),
                                key=_row_key)
            cur.execute(f"SHOW CREATE TABLE {quoted}")
            schema[name] = str(cur.fetchone()[1])
    return {"tables": rows, "schema": schema}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (int, float, str)):
        return value
    return str(value)


def _row_key(row: list[Any]) -> tuple[Any, ...]:
    return tuple((0, v, "") if isinstance(v, (int, float)) else
                 (2, 0, "") if v is None else (1, 0, str(v)) for v in row)


def check(run_dir: Path, compare_dir: Path | None = None) -> tuple[int | None, str]:
    """Run the independent checker on ``run_dir`` (beside ``compare_dir``, the Galera run of
    the same workload, when given) if this checkout has it; its exit code and output. None: no
    checker here."""
    if importlib.util.find_spec(CHECKER) is None:
        return None, f"{CHECKER} is not in this checkout: history written, not checked"
    dirs = [str(run_dir)] + ([str(compare_dir)] if compare_dir is not None else [])
    done = subprocess.run([sys.executable, "-m", CHECKER, *dirs], capture_output=True,
                          text=True, timeout=CHECK_TIMEOUT_S, check=False)
    (run_dir / "check.txt").write_text(done.stdout + done.stderr)
    return done.returncode, done.stdout + done.stderr
