"""``marmotdb serve`` and ``marmotdb config`` as a user meets them: --help, one-line errors for
every mistake (never a traceback), no secrets printed, a lone node in MARMOT_CLUSTER_NODES and
the unauthenticated metrics listener."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from marmotdb.runtime.cluster_state import free_port, free_ports
from marmotdb.runtime import cli

HOST = "127.0.0.1"
SECRET = "a-cluster-secret-for-tests"


def marmotdb(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MARMOTDB_")}
    return subprocess.run([sys.executable, "-m", "marmotdb", *args], capture_output=True,
                          text=True, timeout=timeout, env={**base, **(env or {})}, cwd=cwd,
                          check=False)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if " ERROR " not in line and
             " WARNING " not in line and " INFO " not in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_serve_help_is_grouped_with_types_defaults_and_variables(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: marmotdb serve [--config FILE] [--SETTING VALUE ...]")
    for title in ("MySQL listener (TOML [mysql], MARMOTDB_MYSQL_NAME)",
                  "cluster membership, peers, admin API (TOML [cluster]",
                  "SQLite storage (TOML [storage]"):
        assert title in text
    flat = " ".join(text.split())
    assert "--mysql-port INT TCP port of the MySQL listener. [default 3306; MARMOTDB_MYSQL_PORT]" \
        in flat
    assert "--cluster-probe-interval-ms INT" in flat
    assert "[default \"./marmotdb-data\"; MARMOTDB_DATA_DIR]" in flat
    assert "CFG__" not in text


@pytest.mark.parametrize("args, env, expected", [
    (["--mysql-port", "abc"], {}, "marmotdb: --mysql-port: 'abc' is not a whole number"),
    (["--mysql-port", "70000"], {}, "mysql.port (--mysql-port, MARMOTDB_MYSQL_PORT) must be a "
                                    "TCP port 0..65535; got 70000"),
    (["--mysql-prot", "1"], {}, "marmotdb serve: unrecognized arguments: --mysql-prot 1; did "
                                "you mean --mysql-port? (see `marmotdb serve --help`)"),
    ([], {"MARMOTDB_MYSQL_TLS": "maybe"}, "environment MARMOTDB_MYSQL_TLS: 'maybe' is not true "
                                          "or false"),
    (["--storage-durability", "always"], {}, "storage.durability (--storage-durability, "
                                             "MARMOTDB_STORAGE_DURABILITY) must be one of "
                                             "normal, fsync; got 'always'"),
    (["--sql-lock-wait-timeout-s", "-1"], {}, "must not be negative"),
])
def test_bad_values_are_one_clear_line(args: list[str], env: dict[str, str], expected: str,
                                       tmp_path: Path) -> None:
    # In a scratch folder: were a bad value accepted, the node must not start in the checkout.
    assert expected in one_line_error(marmotdb("serve", *args, env=env, cwd=tmp_path,
                                               timeout=20))


def test_bad_toml_names_the_setting_and_suggests_the_right_name(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[mysql]\nprot = 3307\n")
    assert "unknown setting mysql.prot; did you mean mysql.port?" in one_line_error(
        marmotdb("serve", "--config", str(path)))
    path.write_text('[mysql]\nhost = ["a", "b"]\n')
    assert "mysql.host: ['a', 'b'] is not a string" in one_line_error(
        marmotdb("serve", "--config", str(path)))


def test_port_in_use_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = marmotdb("serve", "--data-dir", str(tmp_path / "d"), "--mysql-port", str(port),
                          env={"MARMOTDB_ROOT_PASSWORD": "pw"})
    assert (f"MySQL port {HOST}:{port} is already in use (another marmotdb or MySQL?): choose "
            f"another with mysql.port (--mysql-port, MARMOTDB_MYSQL_PORT)"
            ) in one_line_error(result)


def test_missing_secret_and_a_cluster_folder_name_the_fix(tmp_path: Path) -> None:
    result = marmotdb("serve", "--data-dir", str(tmp_path / "d"), "--peer-port",
                      str(free_port(HOST)))
    line = one_line_error(result)
    assert "needs the cluster secret: set MARMOTDB_CLUSTER_SECRET" in line
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "cluster.json").write_text("{}")
    line = one_line_error(marmotdb("serve", "--data-dir", str(tmp_path / "c")))
    assert "is the folder of a local cluster" in line and "marmotdb cluster start NODE" in line


def test_config_print_masks_secrets(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[auth]\nroot_password = "hunter2-root"\n[mysql]\nport = 4000\n')
    result = marmotdb("config", "--config", str(path),
                      env={"MARMOTDB_CLUSTER_SECRET": "s3cret-s3cret-s3cret"})
    assert result.returncode == 0, result.stderr
    assert "port = 4000" in result.stdout and 'secret = "********"' in result.stdout
    assert "hunter2" not in result.stdout and "s3cret" not in result.stdout


@pytest.fixture
def lone_node(tmp_path: Path) -> Iterator[tuple[int, Path, subprocess.Popen[str]]]:
    """A node without cluster settings and without MARMOTDB_ROOT_PASSWORD."""
    port = free_port(HOST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARMOTDB_")}
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "marmotdb", "serve", "--data-dir", str(tmp_path / "d"),
         "--mysql-port", str(port)], stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        yield port, tmp_path, process
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _connect_when_up(port: int, password_file: Path, process: subprocess.Popen[str]
                     ) -> pymysql.Connection:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the node exited"
        try:
            return pymysql.connect(host=HOST, port=port, user="root",
                                   password=password_file.read_text().strip())
        except (OSError, pymysql.err.OperationalError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_generated_password_goes_to_a_private_file_and_a_lone_node_lists_itself(
        lone_node: tuple[int, Path, subprocess.Popen[str]]) -> None:
    port, root, process = lone_node
    password_file = root / "d" / "root-password.txt"
    with _connect_when_up(port, password_file, process) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT node_id, mysql_address, state FROM MARMOT_CLUSTER_NODES")
        assert cursor.fetchall() == ((1, f"{HOST}:{port}", "ALIVE"),)
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    log = (root / "serve.log").read_text()
    assert str(password_file) in log and password_file.read_text().strip() not in log


def test_metrics_listener_needs_no_secret_and_serves_nothing_else(tmp_path: Path) -> None:
    mysql, peer, admin, metrics = free_ports(HOST, 4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARMOTDB_")}
    env.update(MARMOTDB_CLUSTER_SECRET=SECRET, MARMOTDB_ROOT_PASSWORD="pw")
    process = subprocess.Popen(
        [sys.executable, "-m", "marmotdb", "serve", "--data-dir", str(tmp_path / "d"),
         "--mysql-port", str(mysql), "--peer-port", str(peer), "--admin-port", str(admin),
         "--metrics-port", str(metrics)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://{HOST}:{metrics}/metrics", timeout=5) as r:
                    text = r.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "metrics listener never answered"
                time.sleep(0.2)
        assert 'marmotdb_cluster_members{state="alive"} 1.0' in text
        with pytest.raises(urllib.error.HTTPError) as other:
            urllib.request.urlopen(f"http://{HOST}:{metrics}/cluster/members", timeout=5)
        assert other.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as admin_refused:
            urllib.request.urlopen(f"http://{HOST}:{admin}/metrics", timeout=5)
        assert admin_refused.value.code == 401
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert SECRET not in output


def test_documented_scrape_config_targets_the_readmes_metrics_port() -> None:
    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "operations.md").read_text()
    readme = (root / "README.md").read_text()
    target = docs.split('targets: ["', 1)[1].split('"', 1)[0]
    assert f"--metrics-port {target.split(':')[1]}" in readme
    assert "metrics_path: /metrics" in docs


@pytest.mark.parametrize("flag, what, setting", [
    ("--peer-port", "peer", "cluster.peer_port (--cluster-peer-port"),
    ("--admin-port", "admin", "cluster.admin_port (--cluster-admin-port"),
])
def test_cluster_ports_in_use_name_the_setting(tmp_path: Path, flag: str, what: str,
                                               setting: str) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        peer, admin = free_ports(HOST, 2)
        others = {"--peer-port": str(peer), "--admin-port": str(admin)}
        others[flag] = str(port)
        result = marmotdb("serve", "--data-dir", str(tmp_path / "d"), "--mysql-port", "0",
                          *[x for item in others.items() for x in item],
                          env={"MARMOTDB_ROOT_PASSWORD": "pw", "MARMOTDB_CLUSTER_SECRET": SECRET})
    line = one_line_error(result)
    assert f"{what} port {HOST}:{port} is already in use" in line and setting in line
