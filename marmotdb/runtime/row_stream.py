"""RowStream: a long read's rows, from the worker thread that reads them to the client's
connection on the event loop, one batch at a time.

The worker calls ``send(columns, rows)`` for each batch (sql/server_state.py's
``query_batches``). The batch is handed to the loop, which encodes and writes it; the worker
may send the next one only once the loop has written this one and the socket's write buffer
is below its high-water mark (``writable``). So a result of any size costs the server about
one batch in the worker, one being encoded and the transport's buffer — back-pressure from
the client's reading speed up to SQLite's cursor. ``cancel`` (KILL QUERY, max_execution_time,
net_write_timeout, the client gone) wakes a waiting worker with ``StreamCancelled``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from marmotdb.mysql.types import Column
from marmotdb.sql.results import StreamCancelled


class RowStream:
    def __init__(self, loop: asyncio.AbstractEventLoop,
                 deliver: Callable[[RowStream, list[Column], list[tuple[Any, ...]]], None]):
        self._loop = loop
        self._deliver = deliver          # on the loop: write one batch to the client
        self._may_send = threading.Event()
        self._may_send.set()
        self.cancelled = False
        self.started = False             # the column block has gone out (loop side)

    # ------------------------------------------------------------------ worker side
    def send(self, columns: list[Column], rows: list[tuple[Any, ...]]) -> None:
        self._may_send.wait()
        if self.cancelled:
            raise StreamCancelled("the rows are not wanted any more")
        self._may_send.clear()
        try:
            self._loop.call_soon_threadsafe(self._deliver, self, columns, rows)
        except RuntimeError:  # the loop is closed (shutdown)
            raise StreamCancelled("the server is stopping") from None

    # ------------------------------------------------------------------ any thread
    def cancel(self) -> None:
        self.cancelled = True
        self._may_send.set()

    # ------------------------------------------------------------------ loop side
    def writable(self) -> None:
        """The batch is written and the socket drains: the worker may send the next one."""
        self._may_send.set()
