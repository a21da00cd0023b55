"""SQL crash runs: one seeded run (``run_one``), its result and replay command, and the CLI.

    python -m marmotdb.sim --seeds 1..300 --scenario sql-crash
    python -m marmotdb.sim --seed 7 --scenario sql-crash --crash recorded#3/power

``sql_world.SqlRun`` is the run itself; ``sql_invariants.check_run`` its verdict. A run is a pure
function of (seed, forced crash plan): the same seed prints the same trace hash.
"""

from __future__ import annotations

import dataclasses
import time

from marmotdb.sim import sql_invariants
from marmotdb.sim.runner import report
from marmotdb.sim.sql_disk import installed
from marmotdb.sim.sql_invariants import SqlViolation
from marmotdb.sim.sql_workloads import DDL_CLIENTS, DDL_CLIENTS_DEFAULT
from marmotdb.sim.sql_world import SCENARIO, CrashPlan, SqlRun


@dataclasses.dataclass(frozen=True)
class SqlRunResult:
    seed: int
    plan: str
    trace_hash: str
    violation: SqlViolation | None
    error: str | None
    crash_point: str | None
    txns: int
    acked: int
    committed: int
    spanning: int  # committed transactions of both databases
    redone: int    # their second branches the restart finished
    batches: int
    wall_s: float
    crash: str | None = None  # the forced --crash, for the replay command
    crash_phase: str = "-"    # running | in-batch-commit | idle (killed after the workload)

    @property
    def ok(self) -> bool:
        return self.violation is None and self.error is None

    def replay_command(self) -> str:
        forced = f" --crash {self.crash}" if self.crash else ""
        env = f"MARMOT_SIM_DDL_CLIENTS={DDL_CLIENTS} " \
            if DDL_CLIENTS != DDL_CLIENTS_DEFAULT else ""
        return f"{env}python -m marmotdb.sim --seed {self.seed} --scenario {SCENARIO}{forced}"

    def summary(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        return (f"{status} seed={self.seed} scenario={SCENARIO} {self.plan} "
                f"crashed_at={self.crash_point} ({self.crash_phase}) txns={self.txns} "
                f"acked={self.acked} "
                f"committed={self.committed} two_db={self.spanning} redone={self.redone} "
                f"batches={self.batches} "
                f"trace={self.trace_hash[:16]} wall={self.wall_s:.2f}s")


def run_one(seed: int, crash: CrashPlan | None = None) -> SqlRunResult:
    started = time.perf_counter()
    violation: SqlViolation | None = None
    error: str | None = None
    with installed() as vfs:
        run = SqlRun(seed, crash)
        vfs.disks.append(run.disk)
        try:
            restarted = run.execute()
            sql_invariants.check_run(run, restarted)
        except SqlViolation as exc:
            violation = exc
        except Exception as exc:  # noqa: BLE001 - reported with the seed, not swallowed
            error = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                run.close()
            except Exception as exc:  # noqa: BLE001 - a node that cannot close is a finding
                error = error or f"close: {type(exc).__name__}: {exc}"
            vfs.disks.remove(run.disk)
    batches = max((r.batch or 0 for r in run.commit_order), default=0)
    return SqlRunResult(
        seed=seed, plan=run.describe(), trace_hash=run.trace.hexdigest(), violation=violation,
        error=error, crash_point=run.disk.crash_point, txns=len(run.records),
        acked=sum(1 for r in run.records if r.acked), committed=run.committed_count,
        spanning=run.spanning_count, redone=run.branches_redone,
        batches=batches, wall_s=time.perf_counter() - started,
        crash=crash.describe() if crash else None, crash_phase=run.crash_phase)


def main(seeds: range, crash: str | None = None, quiet: bool = False) -> int:
    """``python -m marmotdb.sim --scenario sql-crash``: run seeds, print failures with their
    replay command; exit status 1 if any failed."""
    plan = CrashPlan.parse(crash) if crash else None
    return report((run_one(seed, plan) for seed in seeds), quiet)
