"""A local cluster's state file and its node processes (used by ``marmotdb cluster``).

Everything the cluster commands need is in ``<data-dir>/cluster.json`` (mode 0600: it holds the
cluster secret and the root password): the settings the cluster was created with, and per node
its id, pid, ports, data folder and log file.

Pids: a recorded pid is only trusted while ``/proc/<pid>/cmdline`` still names marmotdb and the
node's data folder, so a recycled pid is never signalled. When the recorded pid is gone the node
may still run, started by hand (``marmotdb serve --data-dir <cluster>/node2 ...``) or by another
``marmotdb cluster`` command: ``find_node_pid`` looks for a ``marmotdb serve`` process whose
``--data-dir`` resolves (against that process's own working directory) to the node's folder.
"""

from __future__ import annotations

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
ADMIN_HEADER_FILE = "admin.header"
PEER_PORT_OFFSET = 100
ADMIN_PORT_OFFSET = 200
NODES_MAX = 64
POLL_INTERVAL_S = 0.1
HTTP_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 20.0


class ClusterCliError(Exception):
    """Something the user must fix; printed as one message without a traceback."""


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
    base_port: int | None = None  # None: a state file written before it was recorded
    password_generated: bool = False

    @classmethod
    def load(cls, data_dir: Path) -> ClusterState:
        path = data_dir / STATE_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ClusterCliError(f"no cluster in {data_dir} (missing {STATE_FILE}); "
                                  f"start one with `marmotdb cluster up`") from None
        except (OSError, ValueError) as exc:
            raise ClusterCliError(f"cannot read {path}: {exc}") from None
        nodes = [NodeRecord(**n) for n in raw.pop("nodes")]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(nodes=nodes, **{k: v for k, v in raw.items() if k in known})

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        _write_private(data_dir / STATE_FILE, json.dumps(dataclasses.asdict(self), indent=2))
        # For `curl -H @<data-dir>/admin.header`: the secret never appears on a command line.
        _write_private(data_dir / ADMIN_HEADER_FILE, f"Authorization: Bearer {self.secret}\n")

    def seeds_for(self, record: NodeRecord) -> list[str]:
        return [f"{self.host}:{n.peer_port}" for n in self.nodes if n is not record]

    def node(self, node_id: int) -> NodeRecord:
        for record in self.nodes:
            if record.node_id == node_id:
                return record
        raise ClusterCliError(f"no node {node_id} in this cluster (nodes "
                              f"{', '.join(str(r.node_id) for r in self.nodes)})")


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def plan_cluster(data_dir: Path, nodes: int, base_port: int, host: str, profile: str,
                 serve_args: list[str]) -> ClusterState:
    if not 1 <= nodes <= NODES_MAX:
        raise ClusterCliError(f"--nodes must be 1..{NODES_MAX}; got {nodes}")
    if base_port and not 1 <= base_port <= 65535 - ADMIN_PORT_OFFSET - nodes:
        raise ClusterCliError(f"--base-port must be 0 (any free port) or 1.."
                              f"{65535 - ADMIN_PORT_OFFSET - nodes}; got {base_port}")
    records = []
    chosen = free_ports(host, 3 * nodes) if base_port == 0 else []
    for i in range(nodes):
        mysql, peer, admin = (chosen[3 * i:3 * i + 3] if base_port == 0 else
                              (base_port + i, base_port + PEER_PORT_OFFSET + i,
                               base_port + ADMIN_PORT_OFFSET + i))
        node_dir = (data_dir / f"node{i + 1}").resolve()
        records.append(NodeRecord(i + 1, mysql, peer, admin, str(node_dir),
                                  str(node_dir / "marmotdb.log")))
    secret = os.environ.get("MARMOTDB_CLUSTER_SECRET") or secrets.token_urlsafe(24)
    password = os.environ.get("MARMOTDB_ROOT_PASSWORD")
    return ClusterState(host, secret, password or secrets.token_urlsafe(12), profile, records,
                        serve_args, base_port, password_generated=not password)


# ---------------------------------------------------------------------- processes


def _serve_data_dir(pid: int) -> str | None:
    """The resolved --data-dir of a running ``marmotdb serve`` process, else None."""
    try:
        args = [a.decode(errors="replace") for a in
                Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
        stat = Path(f"/proc/{pid}/stat").read_text()
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
        return None
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return None  # exited, not yet reaped by its parent
    if "serve" not in args or not any("marmotdb" in a for a in args):
        return None
    for i, arg in enumerate(args):
        value = (args[i + 1] if arg == "--data-dir" and i + 1 < len(args) else
                 arg.split("=", 1)[1] if arg.startswith("--data-dir=") else None)
        if value is not None:
            return os.path.normpath(os.path.join(cwd, value))
    return None


def node_running(record: NodeRecord) -> bool:
    """True if ``record.pid`` is alive and is still this node's marmotdb process."""
    return bool(record.pid) and _serve_data_dir(record.pid or 0) == record.data_dir


def find_node_pid(record: NodeRecord) -> int | None:
    """The pid serving ``record``'s data folder: the recorded one, else a scan of /proc."""
    if node_running(record):
        return record.pid
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _serve_data_dir(int(entry.name)) == record.data_dir:
            return int(entry.name)
    return None


def refresh_pids(state: ClusterState) -> None:
    """Bring every record's pid up to date (a node restarted by hand keeps being seen)."""
    for record in state.nodes:
        record.pid = find_node_pid(record)


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


def stop_nodes(records: list[NodeRecord], timeout_s: float = STOP_TIMEOUT_S,
               signum: int = signal.SIGTERM) -> list[int]:
    """Signal every running node (SIGTERM: clean stop), SIGKILL those still up after
    ``timeout_s``; return the ids that had to be killed."""
    running = [r for r in records if node_running(r)]
    for record in running:
        assert record.pid is not None
        os.kill(record.pid, signum)
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
    while any(node_running(r) for r in running):
        _reap_children()
        time.sleep(POLL_INTERVAL_S)
    for record in records:
        record.pid = None
    return killed if signum != signal.SIGKILL else []


def _reap_children() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for TCP and UDP that the kernel just handed out (another process may still
    take it before the caller binds it: a server under test binds port 0 where it can)."""
    return free_ports(host, 1)[0]


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports free for TCP and UDP (a peer port carries both). Each stays
    bound until all are chosen: one socket at a time, the kernel may hand out a port twice (a
    node's admin port once came back equal to its peer port)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
            if _udp_free(host, port):
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def _udp_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_free(host: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:  # as the nodes bind: TIME_WAIT leftovers are fine
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def log_tail(record: NodeRecord, chars: int = 4000) -> str:
    try:
        return Path(record.log_file).read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


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
