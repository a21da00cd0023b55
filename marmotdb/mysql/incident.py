"""An unexpected exception while serving a client becomes an *incident*: logged in full (with
its traceback) under a short id, and answered with ERR 1105 carrying only that id.

No Python text (exception messages, tracebacks, reprs of internal objects) ever reaches a
client: they can hold paths, data of other sessions or hints for an attacker. An operator
greps the log for the id the user reports.

One exception class has a MySQL answer of its own: RecursionError (a statement nested too
deeply for the translator) is MySQL's 1436 "Thread stack overrun", still logged as an incident.
"""

from __future__ import annotations

import itertools
import logging

from marmotdb.errors import MarmotError

ER_UNKNOWN_ERROR = 1105
ER_STACK_OVERRUN_NEED_MORE = 1436


_SEQUENCE = itertools.count(1)  # per process; the log line's timestamp tells restarts apart


def new_incident_id(connection_id: int) -> str:
    """``<connection id>-<sequence>``: unique within a process, found with one grep, and
    deterministic (no randomness in the core)."""
    return f"{connection_id}-{next(_SEQUENCE)}"


def internal_error(logger: logging.Logger, connection_id: int,
                   exc: BaseException) -> MarmotError:
    """Log ``exc`` (call inside the ``except``) and return the error to send the client."""
    incident = new_incident_id(connection_id)
    logger.error("incident %s on connection %s: %s: %s", incident, connection_id,
                 type(exc).__name__, exc, exc_info=exc)
    if isinstance(exc, RecursionError):
        return MarmotError(f"Thread stack overrun: the statement nests too deeply (incident "
                           f"{incident})", code=ER_STACK_OVERRUN_NEED_MORE, sqlstate="HY000")
    return MarmotError(f"Internal error (incident {incident}); the server log has the details",
                       code=ER_UNKNOWN_ERROR, sqlstate="HY000")
