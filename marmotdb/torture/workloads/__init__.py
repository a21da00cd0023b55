"""The workloads, one module each; ``WORKLOADS`` maps the CLI name to the class.

A workload owns its tables (created once through node 1 before the clients start), draws each
client's next operation from that client's seeded ``random.Random``, runs it on a cursor and
returns the completion value the history format asks for. Values that must be unique across the
run (list elements, set members, register values) come from counters shared by every client
(``itertools.count`` under a lock), so a value found in the final state names exactly one
operation. A workload whose tables live in databases of its own (bank2) names them in
``databases()`` and its tables as ``database.table``: its ``setup`` creates them, and the
runner settles and audits them beside the target's database and dumps those tables.
"""

from __future__ import annotations

from marmotdb.torture.workloads.bank import Bank
from marmotdb.torture.workloads.bank2 import Bank2
from marmotdb.torture.workloads.counter import Counter
from marmotdb.torture.workloads.ddl import DdlStorm
from marmotdb.torture.workloads.list_append import ListAppend
from marmotdb.torture.workloads.register import Register
from marmotdb.torture.workloads.sets import SetAdd

WORKLOADS = {"list-append": ListAppend, "bank": Bank, "set": SetAdd, "register": Register,
             "counter": Counter, "ddl": DdlStorm, "bank2": Bank2}
