from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from marmotdb.mysql.auth import generate_rsa_private_key
from tests.mysql.certs import client_context, server_context, write_self_signed


@pytest.fixture(scope="session")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_contexts(cert_files: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting the server's certificate)."""
    cert, key = cert_files
    return server_context(cert, key), client_context(cert)


@pytest.fixture(scope="session")
def rsa_key():
    return generate_rsa_private_key()
