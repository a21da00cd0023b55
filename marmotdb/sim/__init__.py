"""Deterministic simulator: the production peer code, N nodes, one process, one seed.

    world.py       machines (virtual clock, PeerEndpoint + SwimNode, inbox), the event queue,
                   the trace hash; endpoint_hooks and call() for request/response traffic
    clock.py       VirtualClock: drift and jumps
    network.py     SimNetwork: delay, loss, duplication, reordering, partitions, TCP vs UDP
    invariants.py  MembershipInvariants: no false death, agreement after heal, detection bound
    scenarios.py   the fault schedules (partition-halves, isolate-one, asymmetric,
                   flapping-link, loss-30, clock-skew, crash-restart, join-five, slow-node)
    runner.py      one run (formation, safety phase, liveness phase) and sweeps
    __main__.py    ``python -m marmotdb.sim --seed N`` / ``--seeds A..B [--scenario S]``

A run is a pure function of (seed, scenario, node count, config): randomness comes from
``random.Random`` streams derived from the seed per machine, restart and subsystem; nothing
reads the real clock. The printed trace hash is identical for two runs of one seed, in any
process (a test runs it under two PYTHONHASHSEED values). This package may use what the core
may not (it is exempt from the import scan), but it does not need to: time is simulated.
"""
