"""The report and the CLI: files written into the run directory, the exit code, anomalies
named with their operations, two runs side by side, and the availability figures."""

from __future__ import annotations

import json
import pathlib
import xml.etree.ElementTree as ET

import pytest

from marmotdb.torture.check import availability
from marmotdb.torture.check.__main__ import main
from marmotdb.torture.check.report import REPORT_FILES
from tests.torture.histories import HistoryBuilder, append, read


def write_run(directory: pathlib.Path, h: HistoryBuilder) -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in h.events))
    (directory / "run.json").write_text(json.dumps(h.run))
    return directory


def faulty_run(product: str, lose: bool) -> HistoryBuilder:
    """Appends every 100 ms; from 1 s to 3 s a partition makes every op fail; ok after."""
    h = HistoryBuilder({"product": product, "workload": "list-append",
                        "nodes": ["n1", "n2", "n3"]})
    for step in range(50):
        at, element = step * 100.0, step + 1
        if step == 10:
            h.nemesis("start", "partition-halves", at_ms=at, nodes=[["n1"], ["n2", "n3"]])
        if step == 30:
            h.nemesis("stop", "partition-halves", at_ms=at)
        outcome = "fail" if 10 <= step < 30 else "ok"
        h.invoke(step, "txn", [append(1, element)], node="n1", at_ms=at + 1)
        h.complete(step, "txn", outcome, [append(1, element)], node="n1", at_ms=at + 5,
                   error=None if outcome == "ok" else "1047 not in quorum")
    acknowledged = [e for e in range(1, 51) if not 11 <= e <= 30]
    seen = [e for e in acknowledged if not (lose and e == 3)]
    h.invoke(99, "txn", [read(1)], at_ms=5100)
    h.complete(99, "txn", "ok", [read(1, seen)], at_ms=5110)
    for node in ("n1", "n2", "n3"):
        h.final(node, {"lists": [[1, ",".join(map(str, seen))]]})
    return h


def test_clean_run_writes_every_report_file_and_exits_0(tmp_path: pathlib.Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    run = write_run(tmp_path / "run", faulty_run("marmotdb", lose=False))
    assert main([str(run)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("VALID") and "list-append" in out
    assert all((run / name).is_file() for name in REPORT_FILES)
    svg = ET.fromstring((run / "report.svg").read_text())
    assert svg.tag.endswith("svg")
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert "partition-halves" in titles
    report = json.loads((run / "report.json").read_text())
    assert report["valid"] is True
    assert "report.svg" in (run / "index.html").read_text()


def test_anomaly_exits_1_and_names_the_operations(tmp_path: pathlib.Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run", faulty_run("marmotdb", lose=True))
    assert main([str(run)]) == 1
    out = capsys.readouterr().out
    assert "lost-append (VIOLATION at QUORUM)" in out
    lost = next(a for c in json.loads((run / "report.json").read_text())["runs"][0]["checkers"]
                for a in c["anomalies"] if a["kind"] == "lost-append")
    writer = lost["ops"][0]
    assert f"#{writer} p2@n1 txn ok" in out  # the operation itself is printed
    assert str(writer) in json.loads((run / "report.json").read_text())["runs"][0]["ops"]


def test_two_runs_side_by_side(tmp_path: pathlib.Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    ours = write_run(tmp_path / "ours", faulty_run("marmotdb", lose=False))
    galera = write_run(tmp_path / "galera", faulty_run("galera", lose=True))
    assert main([str(ours), str(galera)]) == 1
    out = capsys.readouterr().out
    table = out[out.index("== side by side"):]
    assert "marmotdb   valid" in table and "galera     INVALID" in table
    report = json.loads((ours / "report.json").read_text())
    assert [r["product"] for r in report["runs"]] == ["marmotdb", "galera"]
    svg = ET.fromstring((ours / "report.svg").read_text())
    texts = "".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    assert "marmotdb" in texts and "galera" in texts


def test_missing_run_directory_exits_2(tmp_path: pathlib.Path) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2


def test_malformed_history_is_invalid(tmp_path: pathlib.Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    h = HistoryBuilder({"workload": "set"})
    h.complete(4, "add", "ok", 1)
    h.op("add", 2, outcome="info", process=7)
    h.op("add", 3, process=7)
    assert main([str(write_run(tmp_path / "run", h))]) == 1
    out = capsys.readouterr().out
    assert "without an invocation" in out and "reused after an info" in out


def test_availability_windows_and_fault_figures() -> None:
    h = faulty_run("marmotdb", lose=False)
    h.final("n1", {}, at_ms=60_000)  # after a long convergence wait: not part of the load
    result = availability.check(h.history())
    stats = result.stats
    # last ok before the partition completes at 0.905 s, the next at 3.005 s
    assert stats["unavailable"]["all"] == [[0.905, 3.005]]
    [fault] = stats["faults"]
    assert fault["fault"] == "partition-halves" and fault["ok"] == 0 and fault["fail"] == 20
    assert fault["unavailable_s"] == pytest.approx(2.0, abs=0.01)
    assert stats["overall"]["p50_ms"] == 4.0 and stats["overall"]["ok"] == 31
    assert stats["per_second"][0]["ok"] == 10 and stats["per_second"][1]["ok"] == 0
    assert stats["duration_s"] == 5.11 and len(stats["per_second"]) == 6
    assert result.valid


def test_text_shows_a_few_allowed_anomalies_per_kind_and_json_all() -> None:
    from marmotdb.torture.check import report
    from marmotdb.torture.check.suite import check_history
    h = HistoryBuilder({"workload": "list-append"})
    for pair in range(5):  # five independent write skews
        x, y = 2 * pair, 2 * pair + 1
        h.op("txn", [read(x), append(y, 1)], [read(x, []), append(y, 1)])
        h.op("txn", [read(y), append(x, 2)], [read(y, []), append(x, 2)])
        h.op("txn", [read(x), read(y)], [read(x, [2]), read(y, [1])])
    verdicts = [check_history(h.history())]
    text = report.to_text(verdicts)
    assert text.count("G2-item (allowed at QUORUM)") == report.ALLOWED_SHOWN_PER_KIND_MAX
    assert "G2-item (allowed) x5" in text and text.rstrip().endswith("VALID")
    kept = report.to_json(verdicts)["runs"][0]["checkers"][0]["anomalies"]
    assert sum(a["kind"] == "G2-item" for a in kept) == 5


def test_runner_problems_become_one_line_notes(tmp_path: pathlib.Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    h = HistoryBuilder({"workload": "set", "nodes": ["n1"],
                        "problems": ["no convergence: not within 120 s\n--- node 1 log\nmore"]})
    h.op("add", 1)
    assert main([str(write_run(tmp_path / "run", h))]) == 1  # n1 has no final state
    out = capsys.readouterr().out
    assert "note: runner: no convergence: not within 120 s ... (run.json has the rest)" in out
    assert "node 1 log" not in out


def test_all_runs_of_a_session_in_one_matrix(tmp_path: pathlib.Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "session"
    write_run(out / "list-append-partition", faulty_run("marmotdb", lose=False))
    write_run(out / "galera-list-append-partition", faulty_run("galera", lose=True))
    write_run(out / "galera-bank-none", faulty_run("galera", lose=False))
    assert main(["--all", str(out)]) == 1
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines()[1:-1]}
    assert set(lines) == {"list-append-partition", "galera-list-append-partition",
                          "galera-bank-none"}
    assert "valid" in lines["list-append-partition"]
    assert "INVALID" in lines["galera-list-append-partition"] and "lost-append x2" in text
    side_by_side = (out / "list-append-partition" / "report.txt").read_text()
    assert "== side by side" in side_by_side  # the marmotdb run is reported beside its twin
    assert (out / "galera-list-append-partition" / "report.txt").is_file()
    assert json.loads((out / "matrix.json").read_text())["valid"] is False
    assert "galera-bank-none/index.html" in (out / "index.html").read_text()
    assert main(["--all", str(tmp_path / "empty")]) == 2


def test_latency_lines_break_at_seconds_without_acknowledgements() -> None:
    from marmotdb.torture.check import plot
    rows = [{"t_s": t, "ok": ok, "not_ok": 0, "p50_ms": 5.0 if ok else None,
             "p99_ms": 9.0 if ok else None} for t, ok in enumerate([3, 3, 0, 0, 3, 3, 3])]
    svg = ET.fromstring(plot.render([{"title": "t", "per_second": rows, "faults": [],
                                      "unavailable": []}]))
    lines = list(svg.iter("{http://www.w3.org/2000/svg}polyline"))
    assert len(lines) == 4  # p99 and p50, each in two runs: seconds 0-1 and 4-6
    assert sorted(len(line.get("points", "").split()) for line in lines) == [2, 2, 3, 3]


def test_figures_per_consistency_level_when_a_run_mixes_them() -> None:
    from marmotdb.torture.check import report
    from marmotdb.torture.check.suite import check_history
    h = HistoryBuilder({"workload": "set"})
    h.op("add", 1)
    h.op("add", 2, consistency="ONE")
    h.op("add", 3, consistency="ONE", outcome="fail")
    verdict = check_history(h.history())
    by_level = verdict.result("availability").stats["by_level"]
    assert {k: v["ok"] for k, v in by_level.items()} == {"ONE/LOCAL": 1, "QUORUM/LOCAL": 1}
    assert "  at ONE/LOCAL: " in report.to_text([verdict])
