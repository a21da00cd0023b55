"""``marmotdb cluster up | status | down``: a local cluster of real processes on one host.

Theory of operation
-------------------
``up`` starts N ``marmotdb serve`` processes on loopback, one data folder each under one cluster
folder (``--data-dir``, default ./marmotdb-cluster), every node seeding from all the others.
Ports: with ``--base-port P`` node i (0-based) gets MySQL P+i, peer P+100+i and admin P+200+i;
``--base-port 0`` lets the kernel pick free ports (tests). One cluster secret and one root
password are generated (or taken from MARMOTDB_CLUSTER_SECRET / MARMOTDB_ROOT_PASSWORD) and
passed to the nodes through their environment.

Everything ``status`` and ``down`` need is in the state file ``<data-dir>/cluster.json``
(mode 0600: it holds the secret and the root password): node ids, pids, ports, data folders,
log files. ``up`` on a folder whose nodes have all stopped restarts them with the same layout
and data. A pid is only trusted while ``/proc/<pid>/cmdline`` still names marmotdb and the
node's data folder, so a recycled pid is never signalled.

Without ``--foreground`` the nodes run in their own session and outlive the command; with it,
the command stays, reports node exits, and on Ctrl-C (or SIGTERM) stops the nodes (SIGTERM,
then SIGKILL after ``--stop-timeout-s``).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

STATE_FILE = "cluster.json"
DEFAULT_DATA_DIR = "./marmotdb-cluster"
DEFAULT_BASE_PORT = 3306
PEER_PORT_OFFSET = 100
ADMIN_PORT_OFFSET = 200
NODES_MAX = 64
READY_TIMEOUT_S = 60.0
CONVERGE_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.1
HTTP_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 20.0


class ClusterCliError(Exception):
    """Something the user must fix; printed without a traceback."""


@dataclasses.dataclass
class NodeRecord:
    node_id: int
    mysql_port: int
    peer_port: int
    admin_port: int
    data_dir: str
    log_file: str
    pid: int | None = None


@dataclasses.dataclass
class ClusterState:
    host: str
    secret: str
    root_password: str
    profile: str
    nodes: list[NodeRecord]
    serve_args: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def load(cls, data_dir: Path) -> ClusterState:
        path = data_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ClusterCliError(f"no cluster in {data_dir} (missing {STATE_FILE}); "
                                  f"start one with `marmotdb cluster up`") from None
        nodes = [NodeRecord(**n) for n in raw.pop("nodes")]
        return cls(nodes=nodes, **raw)

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / (STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(dataclasses.asdict(self), fh, indent=2)
        os.replace(tmp, data_dir / STATE_FILE)

    def seeds_for(self, record: NodeRecord) -> list[str]:
        return [f"{self.host}:{n.peer_port}" for n in self.nodes if n is not record]


# ---------------------------------------------------------------------- processes


def node_running(record: NodeRecord) -> bool:
    """True if ``record.pid`` is alive and is still this node's marmotdb process."""
    if not record.pid:
        return False
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{record.pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    if status.rsplit(")", 1)[-1].split()[0] == "Z":
        return False  # exited, not yet reaped by its parent
    args = [a.decode(errors="replace") for a in cmdline]
    return "marmotdb" in " ".join(args) and record.data_dir in args


_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def serve_command(state: ClusterState, record: NodeRecord) -> list[str]:
    host = state.host
    return [sys.executable, "-m", "marmotdb", "serve", "--node-id", str(record.node_id),
            "--data-dir", record.data_dir, "--mysql-host", host,
            "--mysql-port", str(record.mysql_port), "--cluster-peer-host", host,
            "--peer-port", str(record.peer_port), "--cluster-admin-host", host,
            "--admin-port", str(record.admin_port),
            "--seed-nodes", ",".join(state.seeds_for(record)),
            "--cluster-swim-profile", state.profile, *state.serve_args]


def start_node(state: ClusterState, record: NodeRecord, tie_to_parent: bool
               ) -> subprocess.Popen[bytes]:
    Path(record.data_dir).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MARMOTDB_CLUSTER_SECRET=state.secret,
               MARMOTDB_ROOT_PASSWORD=state.root_password)
    with open(record.log_file, "ab") as log:
        process = subprocess.Popen(
            serve_command(state, record), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=_die_with_parent if tie_to_parent else None)  # noqa: PLW1509 (no threads)
    record.pid = process.pid
    return process


def stop_nodes(records: list[NodeRecord], timeout_s: float = STOP_TIMEOUT_S) -> list[int]:
    """SIGTERM every running node, SIGKILL those still up after ``timeout_s``; ids killed."""
    running = [r for r in records if node_running(r)]
    for record in running:
        assert record.pid is not None
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(node_running(r) for r in running):
        _reap_children()
        time.sleep(POLL_INTERVAL_S)
    killed = []
    for record in running:
        if node_running(record):
            assert record.pid is not None
            os.kill(record.pid, signal.SIGKILL)
            killed.append(record.node_id)
    _reap_children()
    for record in records:
        record.pid = None
    return killed


def _reap_children() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


# ---------------------------------------------------------------------- admin API client


def admin_get(state: ClusterState, record: NodeRecord, path: str) -> Any:
    """GET a JSON document from a node's admin API (raises OSError when unreachable)."""
    request = urllib.request.Request(f"http://{state.host}:{record.admin_port}{path}",
                                     headers={"Authorization": f"Bearer {state.secret}"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        return json.loads(response.read())


def admin_post(state: ClusterState, record: NodeRecord, path: str, document: Any,
               method: str = "POST") -> Any:
    request = urllib.request.Request(
        f"http://{state.host}:{record.admin_port}{path}", data=json.dumps(document).encode(),
        method=method, headers={"Authorization": f"Bearer {state.secret}",
                                "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        return json.loads(response.read())


def node_members(state: ClusterState, record: NodeRecord) -> list[dict[str, Any]] | None:
    try:
        return list(admin_get(state, record, "/cluster/members"))
    except (OSError, ValueError, urllib.error.URLError):
        return None


# ---------------------------------------------------------------------- up


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:  # as the nodes bind: TIME_WAIT leftovers are fine
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def plan_cluster(data_dir: Path, nodes: int, base_port: int, host: str, profile: str,
                 serve_args: list[str]) -> ClusterState:
    if not 1 <= nodes <= NODES_MAX:
        raise ClusterCliError(f"--nodes must be 1..{NODES_MAX}")
    records = []
    for i in range(nodes):
        mysql, peer, admin = ((_free_port(host), _free_port(host), _free_port(host))
                              if base_port == 0 else
                              (base_port + i, base_port + PEER_PORT_OFFSET + i,
                               base_port + ADMIN_PORT_OFFSET + i))
        node_dir = (data_dir / f"node{i + 1}").resolve()
        records.append(NodeRecord(i + 1, mysql, peer, admin, str(node_dir),
                                  str(node_dir / "marmotdb.log")))
    secret = os.environ.get("MARMOTDB_CLUSTER_SECRET") or secrets.token_urlsafe(24)
    password = os.environ.get("MARMOTDB_ROOT_PASSWORD") or secrets.token_urlsafe(12)
    return ClusterState(host, secret, password, profile, records, serve_args)


def prepare_state(args: argparse.Namespace) -> ClusterState:
    data_dir = Path(args.data_dir)
    if (data_dir / STATE_FILE).exists():
        state = ClusterState.load(data_dir)
        if any(node_running(r) for r in state.nodes):
            raise ClusterCliError(f"a cluster is already running from {data_dir}; "
                                  f"`marmotdb cluster down --data-dir {data_dir}` first")
        if len(state.nodes) != args.nodes:
            raise ClusterCliError(f"{data_dir} holds a cluster of {len(state.nodes)} nodes; "
                                  f"use --nodes {len(state.nodes)} or another --data-dir")
        return state
    return plan_cluster(data_dir, args.nodes, args.base_port, args.host, args.profile,
                        list(args.serve_arg or []))


def _check_ports(state: ClusterState) -> None:
    for record in state.nodes:
        for port in (record.mysql_port, record.peer_port, record.admin_port):
            if not _port_free(state.host, port):
                raise ClusterCliError(f"port {state.host}:{port} (node {record.node_id}) is in "
                                      f"use; pick another --base-port")


def wait_ready(state: ClusterState, processes: dict[int, subprocess.Popen[bytes]],
               timeout_s: float = READY_TIMEOUT_S, records: list[NodeRecord] | None = None
               ) -> None:
    """Until the nodes' admin APIs answer; fail (with its log tail) if a node exits."""
    deadline = time.monotonic() + timeout_s
    waiting = {r.node_id: r for r in (state.nodes if records is None else records)}
    while waiting:
        for node_id, record in list(waiting.items()):
            code = processes[node_id].poll()
            if code is not None:
                raise ClusterCliError(f"node {node_id} exited with code {code}:\n"
                                      f"{log_tail(record)}")
            try:
                admin_get(state, record, "/health")
                del waiting[node_id]
            except (OSError, ValueError, urllib.error.URLError):
                pass
        if waiting and time.monotonic() > deadline:
            raise ClusterCliError(f"nodes {sorted(waiting)} not ready after {timeout_s:.0f} s")
        if waiting:
            time.sleep(POLL_INTERVAL_S)


def wait_converged(state: ClusterState, timeout_s: float = CONVERGE_TIMEOUT_S) -> bool:
    """Until every node sees every node ALIVE; False on timeout."""
    deadline = time.monotonic() + timeout_s
    expected = {str(r.node_id) for r in state.nodes}
    while time.monotonic() < deadline:
        views = [node_members(state, r) for r in state.nodes]
        if all(v is not None and {m["node_id"] for m in v if m["state"] == "ALIVE"} == expected
               for v in views):
            return True
        time.sleep(POLL_INTERVAL_S)
    return False


def log_tail(record: NodeRecord, chars: int = 4000) -> str:
    try:
        return Path(record.log_file).read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


def cluster_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    state = prepare_state(args)
    _check_ports(state)
    processes: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for record in state.nodes:
            processes[record.node_id] = start_node(state, record, args.foreground)
        state.save(data_dir)
        wait_ready(state, processes)
    except BaseException:
        stop_nodes(state.nodes)
        state.save(data_dir)
        raise
    converged = wait_converged(state)
    _print_up(state, data_dir, converged)
    if not args.foreground:
        return 0
    return _run_foreground(state, data_dir, processes, args.stop_timeout_s)


def _print_up(state: ClusterState, data_dir: Path, converged: bool) -> None:
    first = state.nodes[0]
    out = [f"marmotdb cluster: {len(state.nodes)} node(s) up, data in {data_dir.resolve()}"
           + ("" if converged else " (membership has not converged yet)"),
           f"  {'node':<5} {'pid':<8} {'mysql':<22} {'peer':<22} admin"]
    for r in state.nodes:
        out.append(f"  {r.node_id:<5} {r.pid or '-':<8} {state.host + ':' + str(r.mysql_port):<22}"
                   f" {state.host + ':' + str(r.peer_port):<22} http://{state.host}:{r.admin_port}")
    out += ["",
            (f"connect: mariadb -h{state.host} -P{first.mysql_port} -uroot "
             f"-p{state.root_password}"),
            (f"admin:   curl -H 'Authorization: Bearer {state.secret}' "
             f"http://{state.host}:{first.admin_port}/cluster/members"),
            f"status:  marmotdb cluster status --data-dir {data_dir}",
            f"stop:    marmotdb cluster down --data-dir {data_dir}"]
    print("\n".join(out), flush=True)


def _run_foreground(state: ClusterState, data_dir: Path,
                    processes: dict[int, subprocess.Popen[bytes]], stop_timeout_s: float) -> int:
    stopping = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    print("running in the foreground: Ctrl-C stops the cluster", flush=True)
    reported: set[int] = set()
    try:
        while not stopping:
            for node_id, process in processes.items():
                if process.poll() is not None and node_id not in reported:
                    reported.add(node_id)
                    print(f"node {node_id} exited with code {process.returncode}", flush=True)
            time.sleep(POLL_INTERVAL_S)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        print("stopping the cluster", flush=True)
        killed = stop_nodes(state.nodes, stop_timeout_s)
        state.save(data_dir)
    if killed:
        print(f"nodes {killed} did not stop in time and were killed", flush=True)
    return 0


# ---------------------------------------------------------------------- status, down


def cluster_status(args: argparse.Namespace) -> int:
    state = ClusterState.load(Path(args.data_dir))
    report = [node_status(state, r) for r in state.nodes]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"  {'node':<5} {'pid':<8} {'running':<8} {'state':<8} {'mysql':<22} {'peer':<22} "
          f"{'admin':<22} sees")
    for entry in report:
        sees = ", ".join(f"{k}:{v}" for k, v in sorted(entry["sees"].items())) or "-"
        print(f"  {entry['node_id']:<5} {entry['pid'] or '-':<8} {entry['running']!s:<8} "
              f"{entry['state'] or '-':<8} {entry['mysql']:<22} {entry['peer']:<22} "
              f"{entry['admin']:<22} {sees}")
    return 0 if all(e["running"] for e in report) else 1


def node_status(state: ClusterState, record: NodeRecord) -> dict[str, Any]:
    running = node_running(record)
    members = node_members(state, record) if running else None
    me = next((m for m in members or [] if m["is_self"]), None)
    return {"node_id": record.node_id, "pid": record.pid if running else None,
            "running": running, "state": me["state"] if me else None,
            "incarnation": me["incarnation"] if me else None,
            "mysql": f"{state.host}:{record.mysql_port}",
            "peer": f"{state.host}:{record.peer_port}",
            "admin": f"{state.host}:{record.admin_port}",
            "sees": {m["node_id"]: m["state"] for m in members or [] if not m["is_self"]},
            "data_dir": record.data_dir, "log_file": record.log_file}


def cluster_down(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    state = ClusterState.load(data_dir)
    running = [r.node_id for r in state.nodes if node_running(r)]
    killed = stop_nodes(state.nodes, args.stop_timeout_s)
    state.save(data_dir)
    print(f"marmotdb cluster: stopped {len(running)} node(s)"
          + (f"; killed {killed} after {args.stop_timeout_s:.0f} s" if killed else "")
          + f" (data kept in {data_dir})")
    return 0


# ---------------------------------------------------------------------- argparse


def add_parser(commands: Any) -> None:
    cluster = commands.add_parser("cluster", help="run a local cluster of real processes")
    sub = cluster.add_subparsers(dest="cluster_command", required=True)
    up = sub.add_parser("up", help="start N nodes on this host")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    up.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT,
                    help="node i gets MySQL P+i, peer P+100+i, admin P+200+i; 0 = any free")
    up.add_argument("--host", default="127.0.0.1", help="address every node listens on")
    up.add_argument("--profile", default="local", choices=("local", "lan", "wan"),
                    help="SWIM timing profile (default local: one host)")
    up.add_argument("--serve-arg", action="append", metavar="ARG",
                    help="extra argument for every `marmotdb serve` (repeat)")
    up.add_argument("--foreground", action="store_true",
                    help="stay in the foreground; Ctrl-C stops the nodes")
    for parser in (up, sub.add_parser("status", help="nodes, pids, ports and states"),
                   sub.add_parser("down", help="stop every node (data is kept)")):
        parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                            help=f"cluster folder (default {DEFAULT_DATA_DIR})")
    sub.choices["status"].add_argument("--json", action="store_true", help="JSON output")
    for name in ("up", "down"):
        sub.choices[name].add_argument("--stop-timeout-s", type=float, default=STOP_TIMEOUT_S,
                                       help="SIGKILL nodes still running after this")


_COMMANDS = {"up": cluster_up, "status": cluster_status, "down": cluster_down}


def main(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.cluster_command](args)
    except ClusterCliError as exc:
        print(f"marmotdb cluster: {exc}", file=sys.stderr)
        return 2
