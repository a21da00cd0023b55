"""A throwaway 3-node MariaDB Galera cluster on this machine, for the cluster benchmark and the
torture runner's comparison (galera.py).

Theory of operation: every node is a ``mariadbd`` as ``mariadb_server`` runs one (its own temp
dir, ``--no-defaults``, 127.0.0.1 only, durable: ``innodb_flush_log_at_trx_commit=1``, no
binlog so ``sync_binlog`` does not apply, 256 MiB buffer pool) plus the wsrep settings that
make it a Galera member: the provider ``/usr/lib/galera/libgalera_smm.so``,
``binlog_format=ROW``, ``innodb_autoinc_lock_mode=2``, and four free loopback ports per node
asked from the kernel: MySQL, group communication (``gmcast.listen_addr``), incremental state
transfer (``ist.recv_addr``) and state snapshot transfer (``wsrep_sst_receive_address``). Every
node's ``wsrep_cluster_address`` lists the gcomm ports of all nodes. Galera's own defaults are
kept (one applier thread, ``wsrep_sync_wait=0``: reads do not wait for replication).

Start: the first node's data dir is made by ``mariadb-install-db``; it bootstraps a new cluster
(``--wsrep-new-cluster``) and, once Synced, gets the benchmark user (mysql_native_password).
The other nodes start on empty data dirs and join one at a time; each receives a full state
snapshot transfer from the first node with ``rsync`` (Debian's ``wsrep_sst_rsync``; needs the
``rsync`` binary) and must reach ``wsrep_local_state_comment = Synced``. Last, every node must
report ``wsrep_cluster_size = N``. About 20 s on a 2-core machine, mostly the transfers.

Why the nodes run as ``mysql`` when this is started by root: the transfer's receiving end is an
``rsync --daemon``, and an rsync daemon started by root switches to ``nobody``, which cannot
write a root-owned data dir (the transfer fails with "cannot stat destination: Permission
denied"; even an incremental transfer sends a completion marker that way). Under ``mysql`` (the
account Debian's package creates, as a production node runs) nothing switches. Run by anyone
else, the nodes run as that user.

Stop: SIGTERM to the joiners, then to the first node (a clean InnoDB shutdown each; SIGKILL
after a timeout), then the temp dir is removed. Nodes are started with PR_SET_PDEATHSIG, so a
killed harness leaves none behind.

    with GaleraCluster() as cluster:
        cluster.nodes[0].port, cluster.user, cluster.password, [n.pid for n in cluster.nodes]

or from the command line (runs until Ctrl-C or SIGTERM)::

    python -m marmotdb.torture.galera_cluster [--nodes 3]
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from marmotdb.torture.mariadb_server import (
    CLIENT_BIN,
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    SERVER_BIN,
    MariaDBStartError,
    create_user_sql,
    die_with_parent,
    free_port,
    install_datadir,
    server_args,
    socket_sql,
)

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
SST_METHOD = "rsync"
SST_TOOL = "rsync"  # the binary Debian's wsrep_sst_rsync runs
ROOT_SERVER_ACCOUNT = "mysql"  # created by Debian's mariadb-server package
CLUSTER_NAME = "marmotdb-bench"
GCACHE_SIZE = "128M"
START_TIMEOUT_S = 120.0  # a joiner waits for its state transfer
STOP_TIMEOUT_S = 60.0
READY_POLL_INTERVAL_S = 0.2
SETTINGS = ("innodb_flush_log_at_trx_commit=1 (fsync per commit), no binlog (sync_binlog "
            "does not apply), buffer pool 256M, wsrep_slave_threads=1, wsrep_sync_wait=0 "
            f"(defaults), SST {SST_METHOD}")


class GaleraStartError(MariaDBStartError):
    """A Galera node did not start, join or sync; the message carries its error log."""


def server_account() -> str:
    """The account the nodes run as: ``mysql`` when started by root (the rsync daemon of a
    state transfer, started by root, would switch to ``nobody`` and could not write the data
    dir), else whoever runs this."""
    return ROOT_SERVER_ACCOUNT if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def missing_requirements() -> str | None:
    """Why a Galera cluster cannot run on this machine, in one line; None if it can."""
    for tool in (SERVER_BIN, CLIENT_BIN, "mariadb-install-db", SST_TOOL):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install mariadb-server galera-4 rsync)"
    if not PROVIDER.exists():
        return f"{PROVIDER} is missing (apt-get install galera-4)"
    account = server_account()
    try:
        pwd.getpwnam(account)
    except KeyError:
        return f"no {account!r} account to run mariadbd as (apt-get install mariadb-server)"
    return None


@dataclass
class GaleraNode:
    index: int  # 1-based
    base_dir: Path
    host: str
    port: int
    gcomm_port: int
    ist_port: int
    sst_port: int
    os_user: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.process is not None, f"node {self.index} not started"
        return self.process.pid

    @property
    def datadir(self) -> Path:
        return self.base_dir / "data"

    @property
    def run_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "mariadb.sock"

    @property
    def error_log(self) -> str:
        path = self.run_dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def args(self, cluster_address: str, bootstrap: bool) -> list[str]:
        provider_options = ";".join((
            f"gmcast.listen_addr=tcp://{self.host}:{self.gcomm_port}",
            f"ist.recv_addr={self.host}:{self.ist_port}",
            f"gcache.size={GCACHE_SIZE}",
        ))
        wsrep = [
            "--wsrep-on=ON",
            f"--wsrep-provider={PROVIDER}",
            f"--wsrep-provider-options={provider_options}",
            f"--wsrep-cluster-name={CLUSTER_NAME}",
            f"--wsrep-cluster-address={cluster_address}",
            f"--wsrep-node-name=node{self.index}",
            f"--wsrep-node-address={self.host}",
            f"--wsrep-node-incoming-address={self.host}:{self.port}",
            f"--wsrep-sst-method={SST_METHOD}",
            f"--wsrep-sst-receive-address={self.host}:{self.sst_port}",
            "--binlog-format=ROW",
            "--default-storage-engine=InnoDB",
            "--innodb-autoinc-lock-mode=2",
        ]
        return [*server_args(self.datadir, self.run_dir, self.host, self.port, self.os_user),
                *wsrep,
                *(["--wsrep-new-cluster"] if bootstrap else [])]

    def root_sql(self, sql: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return socket_sql(self.socket_path, sql, check)

    def status(self, name: str) -> str | None:
        """A global status variable over the socket; None while the node does not answer."""
        result = self.root_sql(f"SHOW GLOBAL STATUS LIKE '{name}'", check=False)
        if result.returncode != 0 or not result.stdout.strip():
            return None
        return result.stdout.split("\t", 1)[1].strip()

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class GaleraCluster:
    """N private Galera nodes; `start()`/`stop()` or use as a context manager."""

    size: int = 3
    host: str = "127.0.0.1"
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    os_user: str = field(default_factory=server_account)
    base_dir: Path | None = None
    nodes: list[GaleraNode] = field(default_factory=list)

    @property
    def cluster_address(self) -> str:
        return "gcomm://" + ",".join(f"{n.host}:{n.gcomm_port}" for n in self.nodes)

    def start(self) -> Self:
        reason = missing_requirements()
        if reason is not None:
            raise GaleraStartError(reason)
        self.base_dir = Path(tempfile.mkdtemp(prefix="marmot-galera-"))
        try:
            self._plan()
            self._make_dirs()
            first, *joiners = self.nodes
            self._spawn(first, bootstrap=True)
            first.root_sql(create_user_sql(self.user, self.password))
            for node in joiners:
                self._spawn(node, bootstrap=False)
            self._check_size()
        except BaseException:
            self.stop()
            raise
        return self

    def _plan(self) -> None:
        assert self.base_dir is not None
        ports = [free_port(self.host) for _ in range(4 * self.size)]
        if len(set(ports)) != len(ports):  # the kernel may hand out a just-released port again
            ports = sorted(set(ports))
            while len(ports) < 4 * self.size:
                port = free_port(self.host)
                if port not in ports:
                    ports.append(port)
        self.nodes = [GaleraNode(i + 1, self.base_dir / f"node{i + 1}", self.host,
                                 *ports[4 * i:4 * i + 4], self.os_user)
                      for i in range(self.size)]

    def _make_dirs(self) -> None:
        """The first node's data dir is installed; a joiner's stays empty until its state
        transfer fills it. Everything belongs to the account mariadbd runs as."""
        assert self.base_dir is not None
        self.base_dir.chmod(0o755)  # mkdtemp makes it 0700: the server account must enter it
        for node in self.nodes:
            for path in (node.base_dir, node.run_dir, node.datadir):
                path.mkdir(parents=True, exist_ok=True)
                shutil.chown(path, self.os_user, self.os_user)
        install_datadir(self.nodes[0].datadir, self.os_user)

    def _spawn(self, node: GaleraNode, bootstrap: bool) -> None:
        node.process = subprocess.Popen(
            node.args(self.cluster_address, bootstrap), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent)  # noqa: PLW1509 (see die_with_parent)
        self._wait_synced(node)

    def rejoin(self, node: GaleraNode) -> None:
        """Start a stopped or killed node again as a joiner (incremental state transfer from
        the others, or a full one if they no longer hold what it misses); until Synced."""
        self._spawn(node, bootstrap=False)

    def _wait_synced(self, node: GaleraNode) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        state = None
        while time.monotonic() < deadline:
            if not node.alive():
                assert node.process is not None
                raise GaleraStartError(f"galera node {node.index} exited with "
                                       f"{node.process.returncode}:\n{self.logs()}")
            if node.socket_path.exists():
                state = node.status("wsrep_local_state_comment")
                if state == "Synced" and node.status("wsrep_ready") == "ON":
                    return
            time.sleep(READY_POLL_INTERVAL_S)
        raise GaleraStartError(f"galera node {node.index} not Synced after {START_TIMEOUT_S} s "
                               f"(state {state}):\n{self.logs()}")

    def _check_size(self) -> None:
        for node in self.nodes:
            size = node.status("wsrep_cluster_size")
            if size != str(self.size):
                raise GaleraStartError(f"galera node {node.index} sees cluster size {size}, "
                                       f"expected {self.size}:\n{self.logs()}")

    def logs(self, chars: int = 3000) -> str:
        """The tail of every node's error log, for failure messages."""
        return "\n".join(f"--- galera node {n.index} error log ---\n{n.error_log[-chars:]}"
                         for n in self.nodes)

    def client_args(self, node: GaleraNode) -> list[str]:
        """mariadb CLI arguments that log in to `node` over TCP as the benchmark user."""
        return [CLIENT_BIN, "--no-defaults", f"-h{node.host}", f"-P{node.port}",
                f"-u{self.user}", f"-p{self.password}"]

    def stop(self) -> None:
        """Joiners first, the bootstrap node last; then remove the temp dir."""
        for node in reversed(self.nodes):
            node.stop()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a throwaway Galera cluster until Ctrl-C.")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.monotonic()
    with GaleraCluster(size=args.nodes) as cluster:
        print(f"galera: {args.nodes} nodes Synced in {time.monotonic() - started:.1f} s, "
              f"data in {cluster.base_dir}", flush=True)
        for node in cluster.nodes:
            print(f"  node {node.index}: pid {node.pid}, mysql {node.host}:{node.port}, "
                  f"gcomm {node.gcomm_port}; connect: {' '.join(cluster.client_args(node))}",
                  flush=True)
        try:
            while all(node.alive() for node in cluster.nodes):
                time.sleep(0.5)
            print(f"a galera node exited on its own:\n{cluster.logs()}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("stopping galera ...", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
