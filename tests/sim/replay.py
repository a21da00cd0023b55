"""Running ``python -m marmotdb.sim`` in a child process, as a user replaying a seed would."""

from __future__ import annotations

import os
import subprocess
import sys


def printed_trace_hashes(*args: str, hash_seeds: tuple[str, ...] = ("1", "2")) -> list[str]:
    """The trace hash (16 hex digits) the CLI prints for ``args``, once per PYTHONHASHSEED:
    string hashing is randomised per process, so iterating a set of strings would show."""
    hashes = []
    for hash_seed in hash_seeds:
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        done = subprocess.run([sys.executable, "-m", "marmotdb.sim", *args],
                              capture_output=True, text=True, env=env, timeout=300, check=True)
        hashes.append(done.stdout.split("trace=")[1].split()[0])
    return hashes
