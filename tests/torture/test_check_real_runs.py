"""Histories of real torture runs (the runner's first real-process runs, 25 s each, 3 nodes on
loopback with the transport fault layer, kept in tests/fixtures/torture/): the checker must go
on finding exactly what it found in them, named by the same operations — anomalies of the
product at the time, not of the checker."""

from __future__ import annotations

import gzip
import json
import pathlib

from marmotdb.torture.check.history import parse
from marmotdb.torture.check.suite import RunVerdict, check_history

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "torture"


def verdict_of(name: str) -> RunVerdict:
    with gzip.open(FIXTURES / f"{name}.history.jsonl.gz", "rt") as lines:
        events = [json.loads(line) for line in lines if line.strip()]
    run = json.loads((FIXTURES / f"{name}.run.json").read_text())
    return check_history(parse(events, run))


def named(verdict: RunVerdict, checker: str, kind: str) -> list[tuple[int, ...]]:
    return [a.ops for a in verdict.result(checker).anomalies if a.kind == kind]


def test_register_under_partitions_stale_quorum_reads() -> None:
    verdict = verdict_of("register-partition")
    assert verdict.result("register").counts == {"stale-read": 2, "non-linearizable": 2}
    # key 4: #2726 wrote 694, #2778 wrote 709 and was acknowledged, then QUORUM read #2792
    # on another node returned 694
    assert (2726, 2778, 2792) in named(verdict, "register", "stale-read")
    assert [ops[0] for ops in named(verdict, "register", "non-linearizable")] == [2822, 2792]
    assert verdict.result("replicas").valid


def test_list_append_under_partitions_lost_append_and_lost_updates() -> None:
    verdict = verdict_of("list-append-partition")
    result = verdict.result("list-append")
    assert {k: n for k, n in result.counts.items() if "allowed" not in k} == {
        "lost-append": 2, "lost-update": 3}
    # element 10 of key 48, acknowledged at QUORUM at 21.59 s, is on no node afterwards
    assert (2909,) in named(verdict, "list-append", "lost-append")
    assert (197, 215) in named(verdict, "list-append", "lost-update")
    assert verdict.result("replicas").valid


def test_bank_under_kill_money_created_after_kill_all() -> None:
    verdict = verdict_of("bank-kill")
    result = verdict.result("bank")
    assert result.counts == {"wrong-total": 3, "unexplained-balances": 3}
    # every read during the run summed to 500; the final state, after kill-all and restart,
    # sums to 567 on all three nodes
    assert all("sum to 567" in a.message for a in result.anomalies if a.kind == "wrong-total")
    assert verdict.result("replicas").valid
