"""Deterministic simulator: the production peer code, N nodes, one process, one seed.

    timeline.py    Timeline: the event queue, seeded random streams and trace hash of a run
    world.py       machines (virtual clock, PeerEndpoint + SwimNode, inbox) on a Timeline;
                   endpoint_hooks and call() for request/response traffic
    clock.py       VirtualClock: drift and jumps
    network.py     SimNetwork: delay, loss, duplication, reordering, partitions, TCP vs UDP
    invariants.py  MembershipInvariants: no false death, agreement after heal, detection bound
    scenarios.py   the fault schedules (partition-halves, isolate-one, asymmetric,
                   flapping-link, loss-30, clock-skew, crash-restart, join-five, slow-node)
    runner.py      one run (formation, safety phase, liveness phase) and sweeps
    __main__.py    ``python -m marmotdb.sim --seed N`` / ``--seeds A..B [--scenario S]``

SQL node scenarios (``--scenario sql-crash``): one production ``marmotdb.node.Node`` on a
simulated disk, N clients, one crash, a restart on the same files, then invariants.

    sql_world.py       the run: plan drawn from the seed, event queue, crash, restart
    sql_runner.py      run_one, the result and its replay command, the CLI
    sql_workloads.py   clients and their transactions (autocommit, explicit with savepoints,
                       rollbacks, disconnects, failing statements, DDL, cascades, lock waits,
                       transfers between two databases: transactions of two databases)
    sql_disk.py        SimVFS/SimDisk: an APSW VFS counting writes/syncs; crash at the k-th,
                       kill -9 (everything written survives) or power loss (unsynced writes
                       lost, each kept with some probability)
    sql_invariants.py  acknowledged present, batches all-or-nothing, log/versions/data agree,
                       log replay reproduces the data, serial replay reproduces every outcome,
                       a transaction of two databases in both logs or neither, the money over
                       both databases conserved

Crash points: every ``txn.pipeline.FAULT_POINTS`` step (the node's ``fault`` hook raises
``MachineCrashed``), ``BRANCH_FAULT_POINT`` (a transaction of two databases between its first
branch's COMMIT and its second branch) and every disk write/sync/truncate, including those inside a group-commit
batch's COMMIT and WAL checkpoints. After the crash instant nothing the node does reaches the
files or the clients; its connections are closed through the crashed VFS; a new Node opens the
files as the first process would. Durability promised: process crash, any durability; power
loss, only with ``durability = "fsync"`` (atomicity and consistency always).

Cluster scenarios (``--scenario cluster-calm|-lossy|-duplicate|-partition|-clock|-crash|-chaos``
or ``cluster-all``): 3 or 5 production ``Node``s with the distributed commit attached, a
static roster, clients on every node, a seeded nemesis, heal, quiesce, then the invariants of
DESIGN §4.1 on every replica and on the clients' history.

    cluster_world.py       ClusterWorld: the nodes on a Timeline, each with a VirtualClock, a
                           SimDisk and a SimNetwork address; crash (kill -9, also at a pipeline
                           fault point, after the n-th txn frame sent, at the n-th disk write)
                           and restart from the files
    cluster_workloads.py   bank, set, counter, register: operations as SQL scripts, Operation
                           (one history entry: invoke/complete, ok/fail/unknown, what it read)
    cluster_clients.py     clients bound to nodes, one operation at a time, honest outcomes
                           when their node dies
    cluster_nemesis.py     episodes (loss, duplicate, halves, isolate, bridge, one-way, clock,
                           crash) and the scenarios made of them
    cluster_invariants.py  Replica (one node's files after quiescence) and ClusterChecker:
                           safety violations and convergence violations, kept apart (no
                           catch-up or recovery round yet: issue 10)
    cluster_runner.py      ClusterRun (setup, workload + faults, heal, quiesce, check), run_one,
                           the result and its replay command

A run is a pure function of (seed, scenario, node count, config): randomness comes from
``random.Random`` streams derived from the seed per machine, restart and subsystem; nothing
reads the real clock. The printed trace hash is identical for two runs of one seed, in any
process (a test runs it under two PYTHONHASHSEED values). This package may use what the core
may not (it is exempt from the import scan), but it does not need to: time is simulated.
"""
