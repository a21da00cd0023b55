"""TLS material for the MySQL listener: a configured certificate, or one made on first start.

The generated certificate is self-signed for localhost/127.0.0.1 and kept in
``<data_dir>/tls``; the RSA key pair used by caching_sha2_password without TLS lives there too.
The certificate's key is ECDSA P-256: the server signs once per TLS handshake, and a P-256
signature costs a fraction of an RSA-2048 one (every client connect pays it).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _pem_key(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate_certificate(cert_path: Path, key_path: Path, common_name: str = "marmotdb") -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .sign(key, hashes.SHA256()))
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(key_path, _pem_key(key))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def server_context(data_dir: Path, cert_file: str, key_file: str,
                   session_tickets: int | None = None) -> ssl.SSLContext:
    """One context for the process (built at start, never per connect). ``session_tickets``:
    TLS 1.3 tickets sent per full handshake (None: OpenSSL's default, 2); the ticket key is
    the context's, so a ticket resumes on this process until it restarts."""
    cert = Path(cert_file) if cert_file else data_dir / "tls" / "server.pem"
    key = Path(key_file) if key_file else data_dir / "tls" / "server.key"
    if not cert_file and not cert.exists():
        generate_certificate(cert, key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    if session_tickets is not None:
        context.num_tickets = session_tickets
    return context


def rsa_key(data_dir: Path) -> rsa.RSAPrivateKey:
    """The RSA key pair for caching_sha2_password's key exchange, kept across restarts."""
    path = data_dir / "tls" / "rsa_private.pem"
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        return loaded
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, _pem_key(key))
    return key
