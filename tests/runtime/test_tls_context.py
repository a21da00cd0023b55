"""The listener's TLS context: built once, and its session tickets let a client resume."""

from __future__ import annotations

import ssl
from pathlib import Path

from marmotdb.mysql.tls import TlsChannel
from marmotdb.runtime import tls


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _connect(server_context: ssl.SSLContext, client_context: ssl.SSLContext,
             session: ssl.SSLSession | None = None) -> ssl.SSLObject:
    """A TLS 1.3 handshake in memory, then one byte each way (tickets come after it)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(incoming, outgoing, server_side=False, session=session)
    server = TlsChannel(server_context)
    while not server.handshake_done:
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        server.feed(outgoing.read())
        incoming.write(server.take_output())
    client.do_handshake()
    client.write(b"?")
    assert server.feed(outgoing.read()) == b"?"
    server.write(b"!")
    incoming.write(server.take_output())
    assert client.read(1) == b"!"
    return client


def test_a_ticket_resumes_the_next_connect(tmp_path: Path) -> None:
    server_context = tls.server_context(tmp_path, "", "", session_tickets=1)
    client_context = _client_context()
    first = _connect(server_context, client_context)
    assert first.version() == "TLSv1.3" and first.session.has_ticket
    again = _connect(server_context, client_context, session=first.session)
    assert again.session_reused


def test_no_tickets_when_set_to_zero(tmp_path: Path) -> None:
    server_context = tls.server_context(tmp_path, "", "", session_tickets=0)
    first = _connect(server_context, _client_context())
    assert not first.session.has_ticket
