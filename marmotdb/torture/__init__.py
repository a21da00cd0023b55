"""The torture suite: real ``marmotdb serve`` processes under a workload and a fault schedule,
every client operation recorded as a history for an independent checker (DESIGN.md here)."""
