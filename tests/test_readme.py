"""The README's shell blocks, run as written, so the README cannot drift from the code.

Every ```sh block of README.md becomes one bash script (the blocks in order, `set -e`, so a
failing command fails the test with the transcript). The substitutions are only those a reader's
machine makes unnecessary:

- ports: every number 3306..4999 in the README becomes P + (n - 3306) for a base P whose ports
  are all free here (TCP and UDP), and the quick start gets MARMOTDB_BASE_PORT=P;
- folders: the script runs in a scratch folder, with MARMOTDB_DATA_DIR=<scratch>/marmotdb-data
  (the README's ./marmotdb-data), `bench/` standing for the checkout's and `.venv` for a
  virtualenv whose `marmotdb` and `python` run this checkout (so the quick start's install
  step finds it installed and skips pip; installing is what CI's fresh machine does);
- long-running commands: the quick start (foreground until Ctrl-C) runs in the background and
  the script waits for its "Ctrl-C stops the cluster" line; a line ending in `&` waits until the
  ports it names accept connections, as a reader waits for the node to say it listens;
- `./scripts/test.sh` is not run here: it is this test suite (CI runs it as the README says).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PORT_PATTERN = re.compile(r"(?<![\d.])(3[3-9]\d\d|4\d\d\d)(?!\d)")
README_BASE_PORT = 3306
BENCH_PATH = re.compile(r"(?<![\w./-])bench/")  # the checkout's bench/ (scratch cwd)
CLUSTER_OFFSETS = [0, 1, 2, 100, 101, 102, 200, 201, 202]
TIMEOUT_S = 400

pytestmark = [pytest.mark.integration, pytest.mark.timeout(TIMEOUT_S + 30)]

PRELUDE = r"""
set -euo pipefail
wait_for_line() {  # FILE TEXT: until FILE holds TEXT (the quick start is up)
  for _ in $(seq 1200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    if ! kill -0 "$3" 2>/dev/null; then cat "$1"; return 1; fi
    sleep 0.1
  done
  cat "$1"; return 1
}
wait_for_ports() {  # PORT...: until each accepts TCP connections
  for port in "$@"; do
    for _ in $(seq 1200); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
  done
}
"""


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pick_base(ports: set[int]) -> int:
    offsets = {p - README_BASE_PORT for p in ports} | set(CLUSTER_OFFSETS)
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 40_000)
        if all(_free(base + o) for o in offsets):
            return base
    raise RuntimeError("no free block of ports for the README's commands")


def script_for(blocks: list[str], base: int) -> str:
    """The README's commands as one bash script (see the module docstring)."""
    lines = [PRELUDE]
    for block in blocks:
        for line in block.splitlines():
            command = PORT_PATTERN.sub(lambda m: str(base + int(m.group(1)) - README_BASE_PORT),
                                       line)
            stripped = command.split("#", 1)[0].strip()
            lines.append(f"echo {_quote('$ ' + line)}")
            if stripped.startswith("./scripts/quickstart.sh"):
                # Its own window in real life: not a job of this shell (the README's `kill %1`
                # means the reader's first job).
                lines += [f'("$REPO"/{stripped[2:]} > quickstart.log 2>&1 & echo $! > qs.pid)',
                          "QUICKSTART=$(cat qs.pid)",
                          "wait_for_line quickstart.log 'Ctrl-C stops the cluster' $QUICKSTART",
                          "cat quickstart.log"]
            elif stripped.startswith("./scripts/test.sh"):
                lines.append(": not run here: it is this test suite")
            elif stripped.endswith("&"):
                ports = re.findall(r"--(?:mysql|peer|admin|metrics)-port (\d+)", stripped)
                lines += [command, f"wait_for_ports {' '.join(ports)}"]
            else:
                command = BENCH_PATH.sub('"$REPO"/bench/', command)
                lines.append(command.replace(".venv/", "$VENV/"))
    lines += ["wait", "while kill -0 $QUICKSTART 2>/dev/null; do sleep 0.1; done",
              "cat quickstart.log", "echo README-DONE"]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def fake_venv(path: Path) -> Path:
    """A virtualenv layout whose python and marmotdb run this checkout with this interpreter."""
    bin_dir = path / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (("python", f'exec {sys.executable} "$@"'),
                       ("marmotdb", f'exec {sys.executable} -m marmotdb "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (bin_dir / "activate").write_text(f'export PATH="{bin_dir}:$PATH"\n')
    return path


def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    text = README.read_text()
    blocks = shell_blocks(text)
    assert len(blocks) >= 4, "the README lost its shell blocks"
    ports = {int(p) for block in blocks for p in PORT_PATTERN.findall(block)}
    base = pick_base(ports)
    venv = fake_venv(tmp_path / "venv")
    data_dir = tmp_path / "work" / "marmotdb-data"
    data_dir.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARMOTDB_")}
    env.update(REPO=str(ROOT), VENV=str(venv), MARMOTDB_VENV=str(venv),
               MARMOTDB_DATA_DIR=str(data_dir), MARMOTDB_BASE_PORT=str(base),
               PYTHONPATH=str(ROOT), PATH=f"/usr/sbin:{env.get('PATH', '')}")
    script = script_for(blocks, base)
    process = subprocess.Popen(["bash", "-c", script], cwd=data_dir.parent, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        subprocess.run([sys.executable, "-m", "marmotdb", "cluster", "down", "--data-dir",
                        str(data_dir)], env=env, capture_output=True, check=False)
    assert process.returncode == 0 and "README-DONE" in output, output[-6000:]
    # What the reader is promised along the way.
    assert "3 node(s) up" in output and "source " in output
    assert not _secrets_in(data_dir, output)
    assert "every node has stopped" in output  # the quick start returned after `cluster down`
    assert re.search(r"^\d+\s*$", output, re.M)  # curl | grep -c ALIVE printed a count


def _secrets_in(data_dir: Path, output: str) -> str:
    """The cluster secret if it appears in the transcript (it must not), else ''."""
    import json
    secret = json.loads((data_dir / "cluster.json").read_text())["secret"]
    return secret if secret in output else ""


def test_script_maps_ports_and_long_running_commands() -> None:
    blocks = ["./scripts/quickstart.sh   # x\nmariadb -P3306 -e 'SELECT 1'\n",
              "marmotdb serve --mysql-port 4306 --peer-port 4406 &\nsource .venv/bin/activate\n"]
    script = script_for(blocks, 30_000)
    assert "mariadb -P30000" in script
    assert "marmotdb serve --mysql-port 31000 --peer-port 31100 &\nwait_for_ports 31000 31100" \
        in script
    assert "wait_for_line quickstart.log" in script and "./scripts" not in script.split(
        "echo")[-1] and "source $VENV/bin/activate" in script
    bench = script_for(["python bench/connect_bench.py --seconds 1   # see bench/README.md\n"],
                       30_000)
    assert 'python "$REPO"/bench/connect_bench.py --seconds 1' in bench
