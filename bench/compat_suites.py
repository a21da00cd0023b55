"""Real applications' and drivers' own test suites, on marmotdb and on MariaDB side by side.

Theory of operation: each suite is a pinned source distribution from PyPI (name, version and
the sha256 of its sdist, checked after download; the tarball is cached under --cache-dir and
unpacked fresh for every run). The file URL comes from the index's simple page (PEP 503), the
way pip finds it. For every target, one after the other so each has the machine to itself:

1. start the server on a free 127.0.0.1 port: MariaDB through `mariadb_server.MariaDBServer`
   (a private `mariadbd`), marmotdb as a single ``python -m marmotdb serve`` node with a fresh
   data directory (the checkout first on PYTHONPATH);
2. create the databases the suite expects, write its connection settings (a dburi, an option
   file, a Django settings module) and run it in a subprocess with the project's venv
   interpreter (the drivers installed there are the versions pinned in pyproject.toml);
3. read every test's outcome (pytest's JUnit XML; Django's ``-v 2`` lines), and stop the
   server.

Then, per suite: tests run, passed on MariaDB, passed on marmotdb, passed on both, and
passed-on-both / passed-on-MariaDB in percent — the figure issue 15 asks to be at least 98%.
A test that MariaDB skips or fails does not count against marmotdb; one that passes on MariaDB
and is skipped, fails or errors on marmotdb does. The tests that fail only on marmotdb are
grouped by their first error line (MySQL error code and message with literals blanked) so the
largest categories show first. Everything is written to bench/results/compat-<time>.json.

    python bench/compat_suites.py                          # every suite, both servers
    python bench/compat_suites.py --suites sqlalchemy,mysqlclient
    python bench/compat_suites.py --only marmotdb --suites sqlalchemy -k ComponentReflection

A measurement, not part of the test suite: SQLAlchemy's suites alone run for many minutes
(docs/compatibility.md has the figures and the exact command).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from marmotdb.runtime.tls import generate_certificate
from marmotdb.torture.mariadb_server import MariaDBServer, die_with_parent, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "marmotdb-compat-suites"
SIMPLE_INDEX_URL = os.environ.get("MARMOTDB_SIMPLE_INDEX", "https://pypi.org/simple")
DOWNLOAD_TIMEOUT_S = 300.0
MARMOT_USER = "root"
MARMOT_PASSWORD = "compat-root-pw"
READY_TIMEOUT_S = 60.0
READY_POLL_INTERVAL_S = 0.2
STOP_TIMEOUT_S = 20.0
SUITE_TIMEOUT_S = 3 * 3600.0
PER_TEST_TIMEOUT_S = 120
TOP_CATEGORIES = 25
CATEGORY_EXAMPLES = 3


class CompatError(RuntimeError):
    """A suite could not be fetched or a server could not be started."""


# --- pinned sources ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Sdist:
    """One pinned source distribution on PyPI."""

    project: str
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.project.lower()}-{self.version}.tar.gz"

    @property
    def top_dir(self) -> str:
        """The directory the sdist unpacks to (spelt as the project, e.g. SQLObject-3.9.1, or
        in lower case, as setuptools now writes it)."""
        return f"{self.project}-{self.version}"


SQLALCHEMY = Sdist("SQLAlchemy", "2.1.9",
                   "d700a8b2edfb26282a470333d6bc4a454c4acda4d201a3bea7b72fa76c217d28")
MYSQLCLIENT = Sdist("mysqlclient", "2.3.2",
                    "d8921cc2e8aa0e7f7c1c0b69b17e3a6f370dae235c7e7716938959dac84de4eb")
DJANGO = Sdist("Django", "5.2.19",
               "ad03d8abc51dbff95ebf34b27123cf0c26a3b62db7ba0cd520783686362533d1")
ALEMBIC = Sdist("alembic", "1.20.1",
                "83490def1f723413db5096591f7609ac52544805be93849170088ed04f5a2e0b")
TORTOISE = Sdist("tortoise_orm", "1.1.9",
                 "0399e1aa9518620f8b9c455598ac06ab890332c03e335cfca4b73b48d4e6abaa")
AIOMYSQL = Sdist("aiomysql", "0.3.2",
                 "72d15ef5cfc34c03468eb41e1b90adb9fd9347b0b589114bd23ead569a02ac1a")
SQLOBJECT = Sdist("SQLObject", "3.9.1",
                  "45064184decf7f42d386704e5f47a70dee517d3e449b610506e174025f84d921")


def sdist_url(sdist: Sdist) -> str:
    """The file's URL from the index's simple page for the project (PEP 503)."""
    page_url = f"{SIMPLE_INDEX_URL}/{sdist.project.lower()}/"
    with urllib.request.urlopen(page_url, timeout=DOWNLOAD_TIMEOUT_S) as page:
        html = page.read().decode()
    for href in re.findall(r'href="([^"]+)"', html):
        if href.split("#", 1)[0].rsplit("/", 1)[-1].lower() == sdist.filename:
            return urllib.request.urljoin(page_url, href.split("#", 1)[0])
    raise CompatError(f"{sdist.filename} is not on {page_url}")


def fetch(sdist: Sdist, cache_dir: Path) -> Path:
    """The verified tarball in the cache, downloaded once."""
    path = cache_dir / sdist.filename
    if not path.exists() or _sha256(path) != sdist.sha256:
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with urllib.request.urlopen(sdist_url(sdist), timeout=DOWNLOAD_TIMEOUT_S) as response, \
                open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        if _sha256(partial) != sdist.sha256:
            partial.unlink()
            raise CompatError(f"{sdist.filename}: sha256 differs from the pinned one")
        partial.rename(path)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack(tarball: Path, into: Path) -> None:
    with tarfile.open(tarball) as archive:
        archive.extractall(into, filter="data")


# --- servers ----------------------------------------------------------------------------------

@dataclass
class Target:
    """A running server the suites log in to."""

    name: str
    host: str
    port: int
    user: str
    password: str

    def sql(self, *statements: str) -> None:
        conn = pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, autocommit=True, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()


@contextmanager
def mariadb_target(tls: bool = False) -> Iterator[Target]:
    """``tls``: offer TLS as marmotdb does (a self-signed certificate made the way marmotdb
    makes its own); MariaDB 10.11 has none unless given one."""
    with tempfile.TemporaryDirectory(prefix="mariadb-tls-") as tls_dir:
        extra: tuple[str, ...] = ()
        if tls:
            cert, key = Path(tls_dir) / "server.pem", Path(tls_dir) / "server.key"
            generate_certificate(cert, key)
            extra = (f"--ssl-cert={cert}", f"--ssl-key={key}")
        with MariaDBServer(extra_args=extra) as server:
            yield Target("mariadb", server.host, server.port, server.user, server.password)


@contextmanager
def marmot_target(env_overrides: dict[str, str]) -> Iterator[Target]:
    base_dir = Path(tempfile.mkdtemp(prefix="marmot-compat-"))
    host, port = "127.0.0.1", free_port()
    env = {**os.environ, **env_overrides, "MARMOTDB_ROOT_PASSWORD": MARMOT_PASSWORD}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    args = [sys.executable, "-m", "marmotdb", "serve", "--data-dir", str(base_dir / "data"),
            "--mysql-host", host, "--mysql-port", str(port)]
    with open(base_dir / "stdout.log", "wb") as out, open(base_dir / "stderr.log", "wb") as err:
        process = subprocess.Popen(args, cwd=base_dir, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err,
                                   preexec_fn=die_with_parent)  # noqa: PLW1509
    target = Target("marmotdb", host, port, MARMOT_USER, MARMOT_PASSWORD)
    try:
        _wait_login(target, process, base_dir / "stderr.log")
        yield target
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(base_dir, ignore_errors=True)


def _wait_login(target: Target, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CompatError(f"marmotdb exited with {process.returncode}:\n"
                              f"{log.read_text(errors='replace')[-4000:]}")
        try:
            target.sql("SELECT 1")
            return
        except pymysql.err.OperationalError:
            time.sleep(READY_POLL_INTERVAL_S)
    raise CompatError(f"marmotdb not ready after {READY_TIMEOUT_S} s")


# --- outcomes ---------------------------------------------------------------------------------

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"


@dataclass
class Outcome:
    status: str
    message: str = ""


# SQLAlchemy names its per-backend test classes after the dialect, driver and server version
# (``..._mysql+pymysql_8_0_36``, ``..._mariadb+pymysql_10_11_14``): the same test on either
# server must get the same id.
_BACKEND_SUFFIX = re.compile(r"_(?:mysql|mariadb)\+\w+?_[0-9_]+(?=$|::|\.|\[)")


_JUNIT_STATUS = {"failure": FAILED, "error": ERROR, "skipped": SKIPPED}


def junit_outcomes(xml_path: Path) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    if not xml_path.exists():
        return outcomes
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        test_id = _BACKEND_SUFFIX.sub("", f"{case.get('classname')}::{case.get('name')}")
        outcome = Outcome(PASSED)
        for child in case:
            status = _JUNIT_STATUS.get(child.tag)
            if status is not None:
                text = child.get("message") or child.text or ""
                outcome = Outcome(status, text)
                break
        if test_id in outcomes and outcomes[test_id].status != PASSED:
            continue  # a teardown error reported as a second case keeps the first failure
        outcomes[test_id] = outcome
    return outcomes


_DJANGO_LINE = re.compile(r"^(test\w*) \(([\w.]+)\)(?:\n.*?)? \.\.\. (.*)$", re.M)
_DJANGO_STATUS = {"ok": PASSED, "FAIL": FAILED, "ERROR": ERROR, "expected failure": PASSED,
                  "unexpected success": FAILED}
_DJANGO_BLOCK = re.compile(r"^(ERROR|FAIL): (test\w*) \(([\w.]+)\)[^\n]*\n(?:[^\n-][^\n]*\n)?"
                           r"-+\n(.*?)(?=^=+$|"
                           r"^-{20,}\nRan )", re.M | re.S)


def django_outcomes(output: str) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for name, where, verdict in _DJANGO_LINE.findall(output):
        verdict = verdict.strip()
        status = SKIPPED if verdict.startswith("skipped") else _DJANGO_STATUS.get(verdict)
        if status is not None:
            outcomes[f"{where}::{name}"] = Outcome(status)
    for verdict, name, where, trace in _DJANGO_BLOCK.findall(output):
        # A test whose subtests failed has its verdict only in these blocks.
        key = f"{where}::{name}"
        lines = [line for line in trace.strip().splitlines() if line.strip()]
        outcome = outcomes.setdefault(key, Outcome(FAILED if verdict == "FAIL" else ERROR))
        if outcome.status == PASSED:
            outcome.status = FAILED if verdict == "FAIL" else ERROR
        outcome.message = outcome.message or (lines[-1] if lines else "")
    return outcomes


# --- suites -----------------------------------------------------------------------------------

@dataclass
class Suite:
    """How to run one suite against one target; returns every test's outcome."""

    name: str
    sdist: Sdist
    run: Callable[[Path, Target, Path, list[str]], dict[str, Outcome]]
    description: str = ""
    mariadb_tls: bool = False  # the suite logs in with TLS (marmotdb always offers it)


def _pytest(args: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               f"--timeout={PER_TEST_TIMEOUT_S}", *args]
    _run_logged(command, cwd, log, env)


def _run_logged(command: list[str], cwd: Path, log: Path,
                env: dict[str, str] | None = None) -> None:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTHONPATH", None)  # the suite under test, not the marmotdb checkout
    with open(log, "w") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        subprocess.run(command, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=out,
                       stderr=subprocess.STDOUT, timeout=SUITE_TIMEOUT_S, check=False)


def run_sqlalchemy(src: Path, target: Target, work: Path, extra: list[str]) -> dict[str, Outcome]:
    """SQLAlchemy's dialect compliance suite (sqlalchemy.testing.suite, what every third-party
    dialect runs) and its MySQL dialect tests, with the sdist's own requirements class (which
    knows what MySQL and MariaDB each support) and its pure-Python lib/."""
    target.sql("DROP DATABASE IF EXISTS test", "DROP DATABASE IF EXISTS test_schema",
               "CREATE DATABASE test CHARACTER SET utf8mb4",
               "CREATE DATABASE test_schema CHARACTER SET utf8mb4")
    dburi = (f"mysql+pymysql://{target.user}:{target.password}@{target.host}:{target.port}"
             f"/test?charset=utf8mb4")
    xml = work / "junit.xml"
    # --maxfail: the sdist's setup.cfg stops after 250 failures; every test is counted here.
    _pytest(["test/dialect/test_suite.py", "test/dialect/mysql", "--dburi", dburi,
             "--maxfail=1000000",
             f"--junitxml={xml}", *extra], src, work / "pytest.log",
            {"DISABLE_SQLALCHEMY_CEXT_RUNTIME": "1"})
    return junit_outcomes(xml)


MYSQLCLIENT_CNF = """[MySQLdb-tests]
host = {host}
port = {port}
user = {user}
password = {password}
database = test
"""


def run_mysqlclient(src: Path, target: Target, work: Path, extra: list[str]
                    ) -> dict[str, Outcome]:
    """mysqlclient's (MySQLdb) tests: the DB-API 2.0 compliance suite, capabilities (every
    column type round trip), cursors, connections, errors; the installed mysqlclient (the
    version pinned in pyproject.toml) is what runs."""
    target.sql("DROP DATABASE IF EXISTS test", "CREATE DATABASE test CHARACTER SET utf8mb4")
    (src / "tests" / "default.cnf").write_text(MYSQLCLIENT_CNF.format(**vars(target)))
    xml = work / "junit.xml"
    # test_sqlalchemy.py is SQLAlchemy's job above; src/ would shadow the installed MySQLdb.
    _pytest(["tests", "--ignore=tests/test_sqlalchemy.py", f"--junitxml={xml}", "--rootdir",
             str(src / "tests"), *extra], src, work / "pytest.log")
    return junit_outcomes(xml)


# The apps of Django's own suite that exercise a database backend (the rest test forms, URLs,
# templates ...); each run creates test_default and test_other and migrates them.
DJANGO_APPS = ("backends", "basic", "queries", "model_fields", "schema", "migrations",
               "transactions", "aggregation", "expressions", "lookup", "update", "delete",
               "ordering", "get_or_create", "bulk_create", "select_related", "custom_lookups",
               "db_functions", "annotations", "inspectdb", "introspection", "indexes",
               "constraints", "many_to_one", "many_to_many", "one_to_one", "fixtures",
               "select_for_update", "raw_query", "null_queries", "datetimes", "dates",
               # more of the ORM, relations, contrib apps and the test framework on the database
               "model_forms", "composite_pk", "prefetch_related", "expressions_case",
               "timezones", "generic_relations", "model_formsets", "multiple_database",
               "expressions_window", "contenttypes_tests", "aggregation_regress",
               "serializers", "validation", "filtered_relation", "fixtures_regress",
               "foreign_object", "model_inheritance", "m2m_through", "queryset_pickle",
               "defer", "custom_managers", "model_inheritance_regress", "proxy_models",
               "m2m_through_regress", "generic_relations_regress", "pagination", "signals",
               "select_related_onetoone", "model_regress", "model_formsets_regress",
               "delete_regress", "transaction_hooks", "update_only_fields",
               "known_related_objects", "defer_regress", "field_defaults", "custom_pk",
               "many_to_one_null", "m2m_signals", "custom_columns", "inline_formsets",
               "force_insert_update", "m2m_recursive", "extra_regress", "or_lookups",
               "order_with_respect_to", "m2m_regress", "select_related_regress",
               "get_earliest_or_latest", "xor_lookups", "nested_foreign_keys",
               "distinct_on_fields", "datatypes", "from_db_value", "reserved_names",
               "string_lookup", "get_object_or_404", "unmanaged_models", "reverse_lookup",
               "proxy_model_inheritance", "max_lengths", "m2m_and_m2o", "null_fk",
               "m2o_recursive", "save_delete_hooks", "null_fk_ordering",
               "mutually_referential", "m2m_multiple", "m2m_intermediary", "empty",
               "db_typecasts", "custom_methods", "auth_tests", "admin_views",
               "admin_changelist", "admin_filters", "admin_inlines", "admin_utils",
               "admin_widgets", "admin_ordering", "modeladmin", "generic_inline_admin",
               "generic_views", "sessions_tests", "cache", "migrate_signals",
               "migration_test_data_persistence", "model_options", "model_indexes",
               "model_package", "fixtures_model_package", "test_utils", "sites_framework",
               "sites_tests", "flatpages_tests", "redirects_tests", "sitemaps_tests",
               "syndication_tests", "async", "invalid_models_tests", "managers_regress",
               "field_subclassing", "absolute_url_overrides", "swappable_models",
               "test_client_regress", "user_commands", "servers", "admin_docs",
               "admin_custom_urls", "admin_registration", "test_runner", "handlers",
               "db_utils", "dbshell", "check_framework", "file_uploads", "test_client", "str",
               "properties", "model_utils", "empty_models")

DJANGO_SETTINGS = """# Written by bench/compat_suites.py for one run of Django's own tests.
_LOGIN = {{"ENGINE": "django.db.backends.mysql", "HOST": "{host}", "PORT": "{port}",
          "USER": "{user}", "PASSWORD": "{password}",
          "OPTIONS": {{"charset": "utf8mb4"}}, "TEST": {{"CHARSET": "utf8mb4"}}}}
DATABASES = {{
    "default": {{**_LOGIN, "NAME": "django_default"}},
    "other": {{**_LOGIN, "NAME": "django_other"}},
}}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False
"""


def run_django(src: Path, target: Target, work: Path, extra: list[str]) -> dict[str, Outcome]:
    """Django's own test suite for the apps that exercise the database backend, through the
    MySQL backend (mysqlclient), with the installed Django (the same version as the sdist)."""
    tests = src / "tests"
    target.sql("DROP DATABASE IF EXISTS test_django_default",
               "DROP DATABASE IF EXISTS test_django_other")
    (tests / "compat_settings.py").write_text(DJANGO_SETTINGS.format(**vars(target)))
    apps = [a for a in extra if not a.startswith("-")] or list(DJANGO_APPS)
    flags = [a for a in extra if a.startswith("-")]
    log = work / "django.log"
    _run_logged([sys.executable, "runtests.py", "--settings=compat_settings", "--parallel=1",
                 "--noinput", "-v", "2", *flags, *apps], tests, log)
    return django_outcomes(log.read_text(errors="replace"))


def run_alembic(src: Path, target: Target, work: Path, extra: list[str]) -> dict[str, Outcome]:
    """Alembic's own tests (ALTER TABLE operations, autogenerate's reflection, batch
    migrations, version table) through SQLAlchemy's pytest plugin with the sdist's requirements
    class, the sdist's alembic/ and the installed SQLAlchemy (the version pinned in
    pyproject.toml)."""
    target.sql("DROP DATABASE IF EXISTS test", "DROP DATABASE IF EXISTS test_schema",
               "CREATE DATABASE test CHARACTER SET utf8mb4",
               "CREATE DATABASE test_schema CHARACTER SET utf8mb4")
    dburi = (f"mysql+pymysql://{target.user}:{target.password}@{target.host}:{target.port}"
             f"/test?charset=utf8mb4")
    xml = work / "junit.xml"
    # --maxfail: the sdist's pyproject.toml stops after 100 failures; every test is counted.
    _pytest(["tests", "--dburi", dburi, "--maxfail=1000000", f"--junitxml={xml}", *extra],
            src, work / "pytest.log")
    return junit_outcomes(xml)


# Tortoise's tests take their fixtures (db, db_module, db_isolated, db_simple, db_truncate) from
# a conftest.py at the root of its repository that the sdist does not ship; this one provides
# them through the context the sdist's own tortoise.contrib.test documents, each over the
# database of TORTOISE_TEST_DB ("{}" becomes a fresh name per context, created and dropped).
TORTOISE_CONFTEST = '''# Written by bench/compat_suites.py for one run of Tortoise ORM's own tests.
import os

import pytest_asyncio

import tortoise.context
from tortoise.context import _current_context, tortoise_test_context


def _context():
    return tortoise_test_context(["tests.testmodels"], os.environ["TORTOISE_TEST_DB"],
                                 app_label="models", connection_label="models")


@pytest_asyncio.fixture(scope="module")
async def db_module():
    """The test models' schema, once per test module."""
    async with _context() as ctx:
        earlier, tortoise.context._global_context = tortoise.context._global_context, ctx
        try:
            yield ctx
        finally:
            tortoise.context._global_context = earlier


@pytest_asyncio.fixture
async def db_simple(db_module):
    """The module's schema as the test's context; what a test writes stays."""
    token = _current_context.set(db_module)
    try:
        yield db_module
    finally:
        _current_context.reset(token)


@pytest_asyncio.fixture
async def db(db_simple):
    """The module's schema; what the test writes is rolled back after it."""
    class Discard(Exception):
        pass

    transaction = db_simple.db()._in_transaction()
    await transaction.__aenter__()
    try:
        yield db_simple
    finally:
        await transaction.__aexit__(Discard, Discard(), None)


@pytest_asyncio.fixture
async def db_truncate(db_simple):
    """The module's schema; every table emptied after the test."""
    yield db_simple
    for model in db_simple.apps.get_models_iterable():
        await model._meta.db.execute_script(f"DELETE FROM `{model._meta.db_table}`")


@pytest_asyncio.fixture
async def db_isolated():
    """A database of its own for the test."""
    async with _context() as ctx:
        yield ctx
'''


def run_tortoise(src: Path, target: Target, work: Path, extra: list[str]) -> dict[str, Outcome]:
    """Tortoise ORM's own tests (models, queries, aggregation, transactions, schema generation,
    bulk operations, functions, migrations) through its MySQL backend (asyncmy), the database
    named by its TORTOISE_TEST_DB setting; the sdist's tortoise/ is what runs."""
    (src / "conftest.py").write_text(TORTOISE_CONFTEST)
    db_url = (f"mysql://{target.user}:{target.password}@{target.host}:{target.port}"
              "/test_{}?charset=utf8mb4")
    xml = work / "junit.xml"
    # Left out: benchmarks (pytest-codspeed), web frameworks' integrations, PostgreSQL's.
    ignored = [f"--ignore=tests/{path}" for path in TORTOISE_IGNORED]
    _pytest(["tests", *ignored, f"--junitxml={xml}", "--rootdir", str(src), *extra], src,
            work / "pytest.log", {"TORTOISE_TEST_DB": db_url})
    return junit_outcomes(xml)


TORTOISE_IGNORED = ("benchmarks", "contrib/test_blacksheep.py", "contrib/test_fastapi.py",
                    "contrib/postgres", "backends/test_postgres.py",
                    "backends/test_connection_params.py")


# aiomysql.sa is written for SQLAlchemy 1.3 (the sdist's requirements-dev.txt pins it; under
# 2.x it fails before sending anything): installed on the side, first on the suite's path only.
AIOMYSQL_SQLALCHEMY = "SQLAlchemy==1.3.24"


def side_packages(requirement: str) -> Path:
    """A directory holding `requirement` alone (pip --target, once, in the cache)."""
    where = DEFAULT_CACHE_DIR / ("site-" + requirement.replace("==", "-").lower())
    if not where.exists():
        partial = where.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--target", str(partial), requirement], check=True,
                       timeout=DOWNLOAD_TIMEOUT_S, env={**os.environ,
                                                        "DISABLE_SQLALCHEMY_CEXT": "1"})
        partial.rename(where)
    return where


def run_aiomysql(src: Path, target: Target, work: Path, extra: list[str]) -> dict[str, Outcome]:
    """aiomysql's own tests (connections, cursors, pool, executemany, LOAD DATA LOCAL, the
    SQLAlchemy-core layer ``aiomysql.sa``) under asyncio and uvloop. Its conftest logs in as
    root (password from MYSQL_ROOT_PASSWORD) over TCP with TLS and creates test_pymysql and
    test_pymysql2 itself; --mysql-address names the server (the label keeps test ids alike)."""
    sqlalchemy = side_packages(AIOMYSQL_SQLALCHEMY)
    if target.user != "root":  # MariaDB's root has no password and logs in on the socket
        account = "'root'@'127.0.0.1'"
        target.sql(f"CREATE USER IF NOT EXISTS {account}",
                   f"ALTER USER {account} IDENTIFIED BY '{target.password}'",
                   f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION")
    target.sql("SET GLOBAL local_infile = 1")  # as its CI does for MySQL (8.0's default: OFF)
    xml = work / "junit.xml"
    _pytest(["tests", f"--mysql-address=server={target.host}:{target.port}",
             "-o", f"pythonpath={sqlalchemy}", f"--junitxml={xml}", *extra], src,
            work / "pytest.log",
            {"MYSQL_ROOT_PASSWORD": target.password})
    return junit_outcomes(xml)


def run_sqlobject(src: Path, target: Target, work: Path, extra: list[str]) -> dict[str, Outcome]:
    """SQLObject's tests (sqlobject/**/tests) through its MySQL connection with the PyMySQL
    driver, given with the suite's own ``-D URI`` option as its tox.ini does; the installed
    SQLObject is the same version (its conftest requires the distribution)."""
    target.sql("DROP DATABASE IF EXISTS sqlobject_test", "CREATE DATABASE sqlobject_test")
    uri = (f"mysql://{target.user}:{target.password}@{target.host}:{target.port}"
           f"/sqlobject_test?driver=pymysql&charset=utf8")
    xml = work / "junit.xml"
    _pytest(["-D", uri, f"--junitxml={xml}", *extra], src / "sqlobject", work / "pytest.log")
    return junit_outcomes(xml)


SUITES = {
    "sqlalchemy": Suite("sqlalchemy", SQLALCHEMY, run_sqlalchemy,
                        "test/dialect/test_suite.py + test/dialect/mysql, mysql+pymysql"),
    "mysqlclient": Suite("mysqlclient", MYSQLCLIENT, run_mysqlclient, "tests/ (MySQLdb)"),
    "django": Suite("django", DJANGO, run_django,
                    "tests/runtests.py, mysql backend, " + str(len(DJANGO_APPS)) + " apps"),
    "alembic": Suite("alembic", ALEMBIC, run_alembic, "tests/, mysql+pymysql"),
    "tortoise": Suite("tortoise", TORTOISE, run_tortoise, "tests/, mysql backend (asyncmy)"),
    "aiomysql": Suite("aiomysql", AIOMYSQL, run_aiomysql, "tests/ (asyncio and uvloop), TLS",
                      mariadb_tls=True),
    "sqlobject": Suite("sqlobject", SQLOBJECT, run_sqlobject,
                       "sqlobject/ tests, -D mysql://...?driver=pymysql"),
}


# --- comparison -------------------------------------------------------------------------------

@dataclass
class Comparison:
    suite: str
    run: int
    passed_mariadb: int
    passed_marmot: int
    passed_both: int
    only_mariadb: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.passed_both / self.passed_mariadb if self.passed_mariadb else 0.0


def compare(suite: str, mariadb: dict[str, Outcome], marmot: dict[str, Outcome]) -> Comparison:
    ran = {t for side in (mariadb, marmot) for t, o in side.items() if o.status != SKIPPED}
    on_mariadb = {t for t, o in mariadb.items() if o.status == PASSED}
    on_marmot = {t for t, o in marmot.items() if o.status == PASSED}
    return Comparison(suite, len(ran), len(on_mariadb), len(on_marmot),
                      len(on_mariadb & on_marmot), sorted(on_mariadb - on_marmot))


_LITERALS = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\b0x[0-9a-f]+\b|\b\d+(?:\.\d+)?\b", re.I)
_MYSQL_ERROR = re.compile(r"\((\d{4}), ['\"](.*?)['\"]\)")


def category(message: str) -> str:
    """A failure's group: the MySQL error code and its message with literals blanked, or the
    first line of the assertion."""
    found = _MYSQL_ERROR.search(message)
    if found:
        return f"{found.group(1)} " + _LITERALS.sub("?", found.group(2))[:120]
    first = next((line.strip() for line in message.splitlines() if line.strip()), "(no message)")
    return _LITERALS.sub("?", first)[:140]


def categories(comparison: Comparison, marmot: dict[str, Outcome]) -> list[tuple[str, int,
                                                                                  list[str]]]:
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for test in comparison.only_mariadb:
        outcome = marmot.get(test, Outcome("missing", "not reported on marmotdb"))
        key = f"[{outcome.status}] {category(outcome.message)}"
        counts[key] += 1
        examples.setdefault(key, [])
        if len(examples[key]) < CATEGORY_EXAMPLES:
            examples[key].append(test)
    return [(key, n, examples[key]) for key, n in counts.most_common()]


def like_for_like(comparison: Comparison, mariadb: dict[str, Outcome],
                  marmot: dict[str, Outcome]) -> Comparison:
    """The comparison without the tests the suite runs on MariaDB only (skipped or not even
    generated for a MySQL 8 server: sequences, RETURNING, MariaDB's own types)."""
    dropped = {t for t in comparison.only_mariadb
               if t not in marmot or marmot[t].status == SKIPPED}
    kept_mariadb = {t: o for t, o in mariadb.items() if t not in dropped}
    kept_marmot = {t: o for t, o in marmot.items() if t not in dropped}
    return compare(comparison.suite, kept_mariadb, kept_marmot)


def table(comparisons: list[Comparison]) -> str:
    header = ("| suite | tests run | passed on MariaDB | passed on marmotdb | passed on both | "
              "both / MariaDB |\n|---|---:|---:|---:|---:|---:|")
    rows = [f"| {c.suite} | {c.run} | {c.passed_mariadb} | {c.passed_marmot} | "
            f"{c.passed_both} | {c.percent:.1f}% |" for c in comparisons]
    total = Comparison("**all**", sum(c.run for c in comparisons),
                       sum(c.passed_mariadb for c in comparisons),
                       sum(c.passed_marmot for c in comparisons),
                       sum(c.passed_both for c in comparisons))
    rows.append(f"| {total.suite} | {total.run} | {total.passed_mariadb} | "
                f"{total.passed_marmot} | {total.passed_both} | {total.percent:.1f}% |")
    return "\n".join([header, *rows])


# --- main -------------------------------------------------------------------------------------

def run_suite_on(suite: Suite, tarball: Path, target: Target, work_root: Path,
                 extra: list[str]) -> dict[str, Outcome]:
    work = work_root / f"{suite.name}-{target.name}"
    src_parent = work / "src"
    src_parent.mkdir(parents=True)
    unpack(tarball, src_parent)
    started = time.monotonic()
    src = next(p for p in src_parent.iterdir()
               if p.name.lower() == suite.sdist.top_dir.lower())
    outcomes = suite.run(src, target, work, extra)
    counts = Counter(o.status for o in outcomes.values())
    print(f"  {suite.name} on {target.name}: {dict(counts)} in "
          f"{time.monotonic() - started:.0f} s (log: {work})", flush=True)
    return outcomes


def kept_outcomes(suite: Suite, work: Path) -> dict[str, Outcome]:
    """The outcomes an earlier run left in its work directory (JUnit XML or Django's log)."""
    log = work / "django.log"
    if log.exists():
        return django_outcomes(log.read_text(errors="replace"))
    return junit_outcomes(work / "junit.xml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=",".join(SUITES),
                        help=f"comma-separated, from {', '.join(SUITES)}")
    parser.add_argument("--only", choices=("mariadb", "marmotdb"),
                        help="run on one server (no comparison)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where suites are unpacked and their logs kept (default: a new "
                             "temp dir, kept for reading the logs)")
    parser.add_argument("--marmot-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--reuse-mariadb", type=Path, metavar="RESULTS_JSON",
                        help="take MariaDB's outcomes from an earlier bench/results/compat-*.json "
                             "instead of running MariaDB again")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: read the outcomes kept in --work-dir by an earlier "
                             "run (with --reuse-mariadb for MariaDB's) and report them again")
    parser.add_argument("extra", nargs=argparse.REMAINDER,
                        help="after --: passed to every suite's runner (pytest -k ..., Django "
                             "app labels)")
    args = parser.parse_args(argv)
    suites = [SUITES[name] for name in args.suites.split(",") if name]
    extra = [a for a in args.extra if a != "--"]
    tarballs = {s.name: fetch(s.sdist, args.cache_dir) for s in suites}
    work_root = args.work_dir or Path(tempfile.mkdtemp(prefix="compat-suites-"))
    work_root.mkdir(parents=True, exist_ok=True)
    marmot_env = dict(item.split("=", 1) for item in args.marmot_env)
    targets = {"mariadb": lambda suite: mariadb_target(suite.mariadb_tls),
               "marmotdb": lambda suite: marmot_target(marmot_env)}
    results: dict[str, dict[str, dict[str, Outcome]]] = {s.name: {} for s in suites}
    if args.reuse_mariadb:
        earlier = json.loads(args.reuse_mariadb.read_text())["suites"]
        for suite in suites:
            results[suite.name]["mariadb"] = {
                t: Outcome(status) for t, status in
                earlier[suite.name]["outcomes"]["mariadb"].items()}
    if args.report_only:
        for suite in suites:
            for target_name in targets:
                work = work_root / f"{suite.name}-{target_name}"
                if work.exists() and target_name not in results[suite.name]:
                    results[suite.name][target_name] = kept_outcomes(suite, work)
        return report(suites, results, work_root)
    for target_name, start in targets.items():
        if args.only and args.only != target_name or \
                target_name == "mariadb" and args.reuse_mariadb:
            continue
        for suite in suites:
            # A fresh server per suite: one suite's leftovers must not decide another's.
            with start(suite) as target:
                results[suite.name][target_name] = run_suite_on(
                    suite, tarballs[suite.name], target, work_root, extra)
    return report(suites, results, work_root)


def report(suites: list[Suite], results: dict[str, dict[str, dict[str, Outcome]]],
           work_root: Path) -> int:
    comparisons = [compare(s.name, results[s.name].get("mariadb", {}),
                           results[s.name].get("marmotdb", {})) for s in suites]
    print("\n" + table(comparisons))
    narrowed = [like_for_like(c, results[s.name].get("mariadb", {}),
                              results[s.name].get("marmotdb", {}))
                for s, c in zip(suites, comparisons)]
    print("\nLike for like (without the tests the suite runs on MariaDB only):\n"
          + table(narrowed))
    document: dict[str, object] = {"suites": {}, "work_dir": str(work_root)}
    for suite, comparison in zip(suites, comparisons):
        marmot = results[suite.name].get("marmotdb", {})
        groups = categories(comparison, marmot)
        print(f"\n{suite.name}: {len(comparison.only_mariadb)} pass on MariaDB only; "
              f"largest categories:")
        for key, n, examples in groups[:TOP_CATEGORIES]:
            print(f"  {n:5d}  {key}\n         e.g. {', '.join(examples)}")
        document["suites"][suite.name] = {  # type: ignore[index]
            "sdist": f"{suite.sdist.project}=={suite.sdist.version}",
            "description": suite.description,
            "run": comparison.run, "passed_mariadb": comparison.passed_mariadb,
            "passed_marmotdb": comparison.passed_marmot, "passed_both": comparison.passed_both,
            "percent": round(comparison.percent, 2),
            "percent_like_for_like": round(
                like_for_like(comparison, results[suite.name].get("mariadb", {}),
                              marmot).percent, 2),
            "categories": [{"category": k, "tests": n, "examples": e} for k, n, e in groups],
            "outcomes": {side: {t: o.status for t, o in outcomes.items()}
                         for side, outcomes in results[suite.name].items()},
        }
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    out = RESULTS_DIR / f"compat-{stamp}.json"
    out.write_text(json.dumps(document, indent=1, sort_keys=True))
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
