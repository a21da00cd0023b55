"""TLS as a byte transformer: ``ssl.SSLObject`` over two ``ssl.MemoryBIO`` (no socket).

MySQL upgrades a plain connection in the middle of its handshake (after the client's
SSLRequest packet). Doing TLS inside the protocol machine, rather than with the event loop's
``start_tls``, means ClientHello bytes that arrive in the same read as the SSLRequest are
simply the first bytes fed here, so they are never lost (the cause of PyMySQL hangs seen with
other servers). ``feed`` returns decrypted application bytes and leaves handshake/records to
send in ``take_output``.
"""

from __future__ import annotations

import ssl

from marmotdb.errors import ProtocolError

TLS_READ_CHUNK_BYTES = 64 * 1024


class TlsChannel:
    __slots__ = ("_incoming", "_obj", "_outgoing", "closed", "handshake_done")

    def __init__(self, context: ssl.SSLContext):
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.handshake_done = False
        self.closed = False  # the peer ended the TLS session (close_notify or EOF)

    def feed(self, data: bytes) -> bytes:
        """Ciphertext in (b"" = EOF), plaintext out. Raises ProtocolError on a TLS failure."""
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        try:
            if not self.handshake_done:
                self._obj.do_handshake()
                self.handshake_done = True
            return self._read_plaintext()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return b""
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.closed = True
            return b""
        except ssl.SSLError as exc:
            raise ProtocolError(f"TLS error: {exc.reason or exc}", code=1043,
                                sqlstate="08S01") from None

    def _read_plaintext(self) -> bytes:
        """Every whole record received, decrypted. Stops when no bytes are left rather than at
        SSLWantReadError: raising and catching it took a tenth of a TLS connect's server CPU
        (one per packet); it is still the answer for a record that is not complete yet."""
        chunks = []
        incoming, obj = self._incoming, self._obj
        while incoming.pending or obj.pending() or incoming.eof:
            try:
                chunk = self._obj.read(TLS_READ_CHUNK_BYTES)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                chunk = b""
            if not chunk:
                self.closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def write(self, plaintext: bytes) -> None:
        view = memoryview(plaintext)
        while view:
            written = self._obj.write(view)
            view = view[written:]

    def take_output(self) -> bytes:
        return self._outgoing.read()

    @property
    def version(self) -> str | None:
        return self._obj.version()

    @property
    def cipher(self) -> str | None:
        found = self._obj.cipher()
        return found[0] if found else None
