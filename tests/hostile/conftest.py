"""Fixtures of the hostile-client suite: an RSA key for caching_sha2 full auth and one real
``marmotdb serve`` process per module for the end-to-end cases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from marmotdb.mysql.auth import generate_rsa_private_key
from tests.integration.server import MarmotServer, serving


@pytest.fixture(scope="session")
def rsa_key():
    return generate_rsa_private_key()


@pytest.fixture(scope="module")
def marmot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MarmotServer]:
    yield from serving(tmp_path_factory.mktemp("hostile"))
