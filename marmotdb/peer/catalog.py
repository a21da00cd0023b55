"""Every owner of peer messages, imported in one place, so ``PEER_MESSAGES`` is complete.

A node (runtime or simulator) imports this module before it builds its codec. Add each new
owner's messages module here when it registers its first message (txn/, replication/, ddl/).
"""

from __future__ import annotations

import marmotdb.cdc.messages  # noqa: F401  (registers the cdc tag 128)
import marmotdb.cluster.messages  # noqa: F401  (registers the membership tags 1-7)
import marmotdb.replication.messages  # noqa: F401  (registers the replication tags 64-67)
import marmotdb.txn.messages  # noqa: F401  (registers the txn tags 32-39)
from marmotdb.peer.registry import PEER_MESSAGES, MessageRegistry


def all_messages() -> MessageRegistry:
    """The process-wide registry with every owner's messages registered."""
    return PEER_MESSAGES
