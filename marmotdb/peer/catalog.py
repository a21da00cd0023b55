"""Every owner of peer messages, imported in one place, so ``PEER_MESSAGES`` is complete.

A node (runtime or simulator) imports this module before it builds its codec. Add each new
owner's messages module here when it registers its first message (txn/, replication/, ddl/).
"""

from __future__ import annotations

import marmotdb.cdc.messages
import marmotdb.cluster.messages
import marmotdb.replication.messages
import marmotdb.txn.messages
from marmotdb.peer.registry import PEER_MESSAGES, MessageRegistry

# Imported for what importing them does: each registers its tags in PEER_MESSAGES.
OWNERS = (
    marmotdb.cdc.messages,          # the cdc tag 128
    marmotdb.cluster.messages,      # the membership tags 1-7
    marmotdb.replication.messages,  # the replication tags 64-67
    marmotdb.txn.messages,          # the txn tags 32-39
)


def all_messages() -> MessageRegistry:
    """The process-wide registry with every owner's messages registered."""
    return PEER_MESSAGES
