"""``marmotdb cluster up|down|status|start|stop|restart|kill|logs``: a local cluster of real
processes on one host.

Theory of operation
-------------------
``up`` starts N ``marmotdb serve`` processes on loopback, one data folder each under one cluster
folder (``--data-dir``, default ``$MARMOTDB_DATA_DIR`` or ./marmotdb-data, the same default as
``marmotdb serve``), every node seeding from all the others. Ports: with ``--base-port P`` node
i (0-based) gets MySQL P+i, peer P+100+i and admin P+200+i; ``--base-port 0`` lets the kernel
pick free ports (tests). One cluster secret and one root password are generated (or taken from
MARMOTDB_CLUSTER_SECRET / MARMOTDB_ROOT_PASSWORD) and passed to the nodes through their
environment, never on a command line.

The state file is described in ``cluster_state``. ``up`` on a folder whose nodes have all
stopped restarts them with the same layout and data; if the command asks for other settings
(node count, base port, host, profile, serve arguments, root password or secret) it refuses
and names ``--reset``, which deletes the folder and creates a new cluster.

``start|stop|restart|kill NODE`` act on one node (``kill`` is SIGKILL: a crash, to try failure
by hand); ``logs NODE`` prints (``-f``: follows) its log. ``status`` finds nodes by their data
folder, so a node restarted by hand is still reported as running.

Without ``--foreground`` the nodes run in their own session and outlive the command; with it,
the command stays, reports node exits, returns once every node has stopped (``cluster down``
from another shell) and on Ctrl-C (or SIGTERM) stops the nodes (SIGTERM, then SIGKILL after
``--stop-timeout-s``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
from pathlib import Path
from typing import Any

from marmotdb.runtime.cluster_state import (
    ADMIN_HEADER_FILE, STATE_FILE, STOP_TIMEOUT_S, ClusterCliError, ClusterState, NodeRecord,
    admin_get, admin_post, find_node_pid, log_tail, node_members, node_running, plan_cluster,
    port_free, refresh_pids, start_node, stop_nodes)

__all__ = ["ClusterCliError", "ClusterState", "NodeRecord", "admin_get", "admin_post",
           "node_members", "plan_cluster", "start_node", "stop_nodes", "wait_ready", "main",
           "add_parser"]

DEFAULT_DATA_DIR = "./marmotdb-data"  # the same default as `marmotdb serve --data-dir`
DEFAULT_BASE_PORT = 3306
DEFAULT_NODES = 3
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PROFILE = "local"
READY_TIMEOUT_S = 60.0
CONVERGE_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.1


def default_data_dir() -> str:
    return os.environ.get("MARMOTDB_DATA_DIR") or DEFAULT_DATA_DIR


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ClusterCliError(f"{name}={raw!r} is not a whole number") from None


# ---------------------------------------------------------------------- up


def _requested(args: argparse.Namespace) -> dict[str, Any]:
    """The settings this `up` asks for explicitly (a flag, else a MARMOTDB_* variable)."""
    given: dict[str, Any] = {}
    for key, value, env in (("nodes", args.nodes, "MARMOTDB_NODES"),
                            ("base_port", args.base_port, "MARMOTDB_BASE_PORT")):
        if value is None and os.environ.get(env):
            value = _env_int(env, 0)
        if value is not None:
            given[key] = value
    for key in ("host", "profile"):
        if getattr(args, key) is not None:
            given[key] = getattr(args, key)
    if args.serve_arg:
        given["serve_args"] = list(args.serve_arg)
    return given


_FLAGS = {"nodes": "--nodes", "base_port": "--base-port", "host": "--host",
          "profile": "--profile", "serve_args": "--serve-arg"}


def _differences(state: ClusterState, wanted: dict[str, Any]) -> list[str]:
    have = {"nodes": len(state.nodes), "base_port": state.base_port, "host": state.host,
            "profile": state.profile, "serve_args": state.serve_args}
    out = [f"{_FLAGS[k]} {have[k]} (asked: {v})" for k, v in wanted.items()
           if have[k] is not None and have[k] != v]
    for env, held in (("MARMOTDB_ROOT_PASSWORD", state.root_password),
                      ("MARMOTDB_CLUSTER_SECRET", state.secret)):
        if os.environ.get(env) and os.environ[env] != held:
            out.append(f"another {env}")
    return out


def prepare_state(args: argparse.Namespace) -> ClusterState:
    data_dir = Path(args.data_dir)
    wanted = _requested(args)
    if (data_dir / STATE_FILE).exists():
        state = ClusterState.load(data_dir)
        refresh_pids(state)
        if any(r.pid for r in state.nodes):
            raise ClusterCliError(f"a cluster is already running from {data_dir}; "
                                  f"`marmotdb cluster down --data-dir {data_dir}` first")
        if not args.reset:
            changed = _differences(state, wanted)
            if changed:
                raise ClusterCliError(
                    f"{data_dir} holds a cluster created with other settings: "
                    f"{'; '.join(changed)}. Start it as it is (without those settings), or "
                    f"add --reset to delete {data_dir} with its data and create a new cluster")
            return state
        shutil.rmtree(data_dir)
    return plan_cluster(data_dir, wanted.get("nodes", DEFAULT_NODES),
                        wanted.get("base_port", DEFAULT_BASE_PORT),
                        wanted.get("host", DEFAULT_HOST), wanted.get("profile", DEFAULT_PROFILE),
                        wanted.get("serve_args", []))


def _check_ports(state: ClusterState, records: list[NodeRecord]) -> None:
    for record in records:
        for port in (record.mysql_port, record.peer_port, record.admin_port):
            if not port_free(state.host, port):
                raise ClusterCliError(
                    f"port {state.host}:{port} (node {record.node_id}) is in use; pick another "
                    f"--base-port (or MARMOTDB_BASE_PORT), or stop what listens there")


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
        if all(v is not None and
               {str(m["node_id"]) for m in v if m["state"] == "ALIVE"} == expected
               for v in views):
            return True
        time.sleep(POLL_INTERVAL_S)
    return False


def cluster_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    state = prepare_state(args)
    _check_ports(state, state.nodes)
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
    state.password_generated = False  # shown once, like mysqld --initialize's password
    state.save(data_dir)
    if not args.foreground:
        return 0
    return _run_foreground(data_dir, processes, args.stop_timeout_s)


def _print_up(state: ClusterState, data_dir: Path, converged: bool) -> None:
    first = state.nodes[0]
    out = [f"marmotdb cluster: {len(state.nodes)} node(s) up, data in {data_dir.resolve()}"
           + ("" if converged else " (membership has not converged yet)"),
           _node_table(state)]
    password = (f"the generated root password (shown once): {state.root_password}"
                if state.password_generated else "root password: your MARMOTDB_ROOT_PASSWORD")
    header = data_dir / ADMIN_HEADER_FILE
    out += ["",
            f"connect: mariadb -h{state.host} -P{first.mysql_port} -uroot -p   ({password})",
            f"admin:   curl -H @{header} http://{state.host}:{first.admin_port}/cluster/members",
            f"status:  marmotdb cluster status --data-dir {data_dir}",
            f"stop:    marmotdb cluster down --data-dir {data_dir}",
            "CLI:     in a new shell, first: source " + _activate_hint()]
    print("\n".join(out), flush=True)


def _activate_hint() -> str:
    return str(Path(sys.executable).parent / "activate")


def _node_table(state: ClusterState) -> str:
    lines = [f"  {'node':<5} {'pid':<8} {'mysql':<22} {'peer':<22} admin"]
    for r in state.nodes:
        lines.append(f"  {r.node_id:<5} {r.pid or '-':<8} "
                     f"{state.host + ':' + str(r.mysql_port):<22} "
                     f"{state.host + ':' + str(r.peer_port):<22} http://{state.host}:"
                     f"{r.admin_port}")
    return "\n".join(lines)


def _run_foreground(data_dir: Path, processes: dict[int, subprocess.Popen[bytes]],
                    stop_timeout_s: float) -> int:
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
            state = ClusterState.load(data_dir)
            if len(reported) == len(processes) and not any(map(find_node_pid, state.nodes)):
                print("every node has stopped", flush=True)
                return 0
            time.sleep(POLL_INTERVAL_S * 5)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("stopping the cluster", flush=True)
    state = ClusterState.load(data_dir)
    refresh_pids(state)
    killed = stop_nodes(state.nodes, stop_timeout_s)
    state.save(data_dir)
    if killed:
        print(f"nodes {killed} did not stop in time and were killed", flush=True)
    return 0


# ---------------------------------------------------------------------- status, down


def cluster_status(args: argparse.Namespace) -> int:
    state = ClusterState.load(Path(args.data_dir))
    refresh_pids(state)
    report = [node_status(state, r) for r in state.nodes]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if all(e["running"] for e in report) else 1
    print(f"  {'node':<5} {'pid':<8} {'running':<8} {'state':<8} {'mysql':<22} {'peer':<22} "
          f"{'admin':<22} {'behind':<7} {'in doubt':<9} sees")
    snapshots = []
    for entry in report:
        sees = ", ".join(f"{k}:{v}" for k, v in sorted(entry["sees"].items())) or "-"
        behind = "-" if entry["behind_txns"] is None else entry["behind_txns"]
        if entry["catching_up"]:
            behind = f"{behind}+"  # still catching up after a restart
        in_doubt = "-" if entry["in_doubt"] is None else entry["in_doubt"]
        print(f"  {entry['node_id']:<5} {entry['pid'] or '-':<8} {entry['running']!s:<8} "
              f"{entry['state'] or '-':<8} {entry['mysql']:<22} {entry['peer']:<22} "
              f"{entry['admin']:<22} {behind!s:<7} {in_doubt!s:<9} {sees}")
        if entry["snapshot"]:
            snapshots.append(f"  node {entry['node_id']} restoring a snapshot: "
                             f"{entry['snapshot']}")
        if entry["schema_drift"]:  # a DDL it has not applied yet (ddl/DESIGN.md)
            snapshots.append(f"  node {entry['node_id']} behind on the schema of: "
                             f"{', '.join(entry['schema_drift'])} (versions "
                             f"{entry['schema_versions']})")
    for line in snapshots:
        print(line)
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
            "sees": {str(m["node_id"]): m["state"] for m in members or [] if not m["is_self"]},
            "applied": me.get("applied") if me else None,
            "behind_txns": me.get("behind_txns") if me else None,
            "in_doubt": me.get("in_doubt") if me else None,
            "catching_up": me.get("catching_up") if me else None,
            "snapshot": me.get("snapshot") if me else None,
            "schema_versions": me.get("schema_versions") if me else None,
            "schema_drift": me.get("schema_drift") if me else None,
            "data_dir": record.data_dir, "log_file": record.log_file}


def cluster_down(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    state = ClusterState.load(data_dir)
    refresh_pids(state)
    running = [r.node_id for r in state.nodes if r.pid]
    killed = stop_nodes(state.nodes, args.stop_timeout_s)
    state.save(data_dir)
    print(f"marmotdb cluster: stopped {len(running)} node(s)"
          + (f"; killed {killed} after {args.stop_timeout_s:.0f} s" if killed else "")
          + f" (data kept in {data_dir})")
    return 0


# ---------------------------------------------------------------------- one node


def _one_node(args: argparse.Namespace) -> tuple[Path, ClusterState, NodeRecord]:
    data_dir = Path(args.data_dir)
    state = ClusterState.load(data_dir)
    refresh_pids(state)
    return data_dir, state, state.node(args.node)


def node_start(args: argparse.Namespace) -> int:
    data_dir, state, record = _one_node(args)
    if record.pid:
        raise ClusterCliError(f"node {record.node_id} is already running (pid {record.pid})")
    _check_ports(state, [record])
    process = start_node(state, record, tie_to_parent=False)
    state.save(data_dir)
    try:
        wait_ready(state, {record.node_id: process}, records=[record])
    finally:
        state.save(data_dir)
    print(f"node {record.node_id} started (pid {record.pid}, mysql "
          f"{state.host}:{record.mysql_port})")
    return 0


def _node_signal(args: argparse.Namespace, signum: int, verb: str) -> int:
    data_dir, state, record = _one_node(args)
    if not record.pid:
        print(f"node {record.node_id} is not running")
        return 0
    pid = record.pid
    killed = stop_nodes([record], args.stop_timeout_s, signum)
    state.save(data_dir)
    print(f"node {record.node_id} {verb} (pid {pid})"
          + (f"; killed after {args.stop_timeout_s:.0f} s" if killed else ""))
    return 0


def node_stop(args: argparse.Namespace) -> int:
    return _node_signal(args, signal.SIGTERM, "stopped")


def node_kill(args: argparse.Namespace) -> int:
    return _node_signal(args, signal.SIGKILL, "killed with SIGKILL")


def node_restart(args: argparse.Namespace) -> int:
    node_stop(args)
    return node_start(args)


def node_logs(args: argparse.Namespace) -> int:
    _, _, record = _one_node(args)
    path = Path(record.log_file)
    if not path.exists():
        raise ClusterCliError(f"node {record.node_id} has no log yet ({path})")
    with open(path, "rb") as fh:
        lines = fh.read().splitlines(keepends=True)
        sys.stdout.buffer.write(b"".join(lines[-args.lines:] if args.lines else lines))
        sys.stdout.flush()
        while args.follow:
            chunk = fh.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            else:
                time.sleep(0.2)
    return 0


# ---------------------------------------------------------------------- argparse


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def add_parser(commands: Any) -> None:
    cluster = commands.add_parser(
        "cluster", help="run a local cluster of real processes",
        description="Run a local cluster of real marmotdb processes on this host.")
    sub = cluster.add_subparsers(dest="cluster_command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="start N nodes on this host (in the background)")
    up.add_argument("--nodes", type=_nonnegative_int, default=None,
                    help=f"number of nodes (default $MARMOTDB_NODES or {DEFAULT_NODES})")
    up.add_argument("--base-port", type=_nonnegative_int, default=None, metavar="PORT",
                    help="node i gets MySQL P+i, peer P+100+i, admin P+200+i; 0 = any free "
                         f"(default $MARMOTDB_BASE_PORT or {DEFAULT_BASE_PORT})")
    up.add_argument("--host", default=None,
                    help=f"address every node listens on (default {DEFAULT_HOST})")
    up.add_argument("--profile", default=None, choices=("local", "lan", "wan"),
                    help=f"SWIM timing profile (default {DEFAULT_PROFILE}: one host)")
    up.add_argument("--serve-arg", action="append", metavar="ARG",
                    help="extra argument for every `marmotdb serve` (repeat)")
    up.add_argument("--foreground", action="store_true",
                    help="stay in the foreground; Ctrl-C stops the nodes")
    up.add_argument("--reset", action="store_true",
                    help="delete an existing cluster folder (and its data) and create anew")
    parsers = {"up": up,
               "status": sub.add_parser("status", help="nodes, pids, ports and states"),
               "down": sub.add_parser("down", help="stop every node (data is kept)")}
    for name, help_text in (("start", "start one stopped node"),
                            ("stop", "stop one node (SIGTERM: clean shutdown)"),
                            ("restart", "stop, then start one node"),
                            ("kill", "SIGKILL one node (a crash)"),
                            ("logs", "print one node's log")):
        parsers[name] = sub.add_parser(name, help=help_text)
        parsers[name].add_argument("node", type=int, metavar="NODE", help="node id (1..N)")
    parsers["status"].add_argument("--json", action="store_true", help="JSON output")
    parsers["logs"].add_argument("-n", "--lines", type=_nonnegative_int, default=50,
                                 help="last lines to print (0 = all; default 50)")
    parsers["logs"].add_argument("-f", "--follow", action="store_true",
                                 help="keep printing new lines")
    for parser in parsers.values():
        parser.add_argument("--data-dir", default=default_data_dir(),
                            help="cluster folder (default $MARMOTDB_DATA_DIR or "
                                 f"{DEFAULT_DATA_DIR})")
    for name in ("up", "down", "stop", "restart", "kill"):
        parsers[name].add_argument("--stop-timeout-s", type=float, default=STOP_TIMEOUT_S,
                                   help="SIGKILL nodes still running after this (seconds)")


_COMMANDS = {"up": cluster_up, "status": cluster_status, "down": cluster_down,
             "start": node_start, "stop": node_stop, "restart": node_restart,
             "kill": node_kill, "logs": node_logs}


def main(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.cluster_command](args)
    except ClusterCliError as exc:
        print(f"marmotdb cluster: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
