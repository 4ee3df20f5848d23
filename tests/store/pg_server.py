"""A throwaway PostgreSQL server for the test session, and a fresh database per test.

Import the fixtures into a test module (`from tests.store.pg_server import pg_db, pg_url`).

The server: Debian's `postgresql` package (`/usr/lib/postgresql/<ver>/bin/initdb`, `pg_ctl`;
tests/install-system-deps.sh installs it when run as root), or `initdb`/`pg_ctl` on PATH. A new
cluster is made in a temporary folder, listens on 127.0.0.1 at a free port (and on a unix
socket in that folder), runs with fsync off (a test cluster need not survive a power cut), and
is stopped and deleted at the end of the session. initdb refuses to run as root, so as root the
cluster belongs to an unprivileged user (`postgres` if the package made it, else `nobody`).

Set CARDGATE_TEST_POSTGRESQL_URL=postgresql://user:pw@host:port/db to use a server of your own
instead (each test then gets a database made with CREATE DATABASE on it).

When neither is available, or the psycopg2 driver is missing, the tests are skipped with the
reason, never faked.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.ports import free_port as _free_port

ENV_URL = "CARDGATE_TEST_POSTGRESQL_URL"
SUPERUSER = "cardgate"
_TIMEOUT = 60  # seconds for initdb / pg_ctl; they take about a second here


def _driver() -> Any:
    try:
        import psycopg2
    except ImportError:
        return None
    return psycopg2


def find_binaries() -> tuple[Path, Path] | None:
    """(initdb, pg_ctl) of the newest PostgreSQL installed, or None."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parent.parent.name
        pg_ctl = Path(initdb).with_name("pg_ctl")
        if pg_ctl.exists() and version.split(".")[0].isdigit():
            found.append((int(version.split(".")[0]), Path(initdb), pg_ctl))
    if found:
        _, initdb, pg_ctl = max(found)
        return initdb, pg_ctl
    initdb_path, pg_ctl_path = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb_path and pg_ctl_path:
        return Path(initdb_path), Path(pg_ctl_path)
    return None




def _run_as(user: pwd.struct_passwd | None, args: list[str], **kw: Any) -> str:
    """Run a server binary (as `user` when we are root); its output, or RuntimeError with it."""
    if user is not None:
        kw.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=_TIMEOUT,
        stdin=subprocess.DEVNULL, cwd="/", env={**os.environ, "LC_ALL": "C", "TZ": "UTC"}, **kw,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed ({proc.returncode}): "
                           f"{proc.stdout.strip()} {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class PostgresServer:
    """A running server; `admin_url` names its maintenance database `postgres`."""

    admin_url: str
    _stop: list[Any] = field(default_factory=list)
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def admin(self, sql: str) -> None:
        """Run one statement on the maintenance database, outside a transaction."""
        psycopg2 = _driver()
        conn = psycopg2.connect(self.admin_url)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def create_database(self) -> str:
        """A new empty database (from template0, copied on disk: fast); its URL."""
        name = f"cardgate_test_{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\''
                   " STRATEGY FILE_COPY")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        # FORCE: peewee keeps a connection per thread, and a test's threads may have left some.
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _unprivileged_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and there is neither a postgres nor a nobody user "
                       "to own the test cluster (initdb refuses to run as root)")


@contextlib.contextmanager
def temporary_cluster() -> Iterator[PostgresServer]:
    """Make, start, yield, stop and delete a cluster (pytest.skip if impossible)."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb "
                    "and no initdb/pg_ctl on PATH): apt-get install postgresql, or set "
                    f"{ENV_URL}")
    initdb, pg_ctl = binaries
    user = _unprivileged_user()
    # Not under pytest's tmp_path: that is private to root (0700), and the server runs as
    # another user. mkdtemp's folder is 0700 too, and then handed to that user.
    base = Path(tempfile.mkdtemp(prefix="cardgate-pg-"))
    data = base / "data"
    try:
        if user is not None:
            os.chown(base, user.pw_uid, user.pw_gid)
        _run_as(user, [initdb, "-D", data, "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                       "--locale=C", "--no-sync", "--no-instructions"])
        for attempt in range(3):
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
                       " -c shared_buffers=16MB")
            try:
                _run_as(user, [pg_ctl, "-D", data, "-l", base / "server.log", "-w", "-t", "30",
                               "-o", options, "start"])
                break
            except RuntimeError as exc:
                if attempt == 2:  # the port was taken in between, or something real
                    log = base / "server.log"
                    raise RuntimeError(log.read_text() if log.exists() else "no server log") \
                        from exc
        try:
            yield PostgresServer(f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres")
        finally:
            _run_as(user, [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if _driver() is None:
        pytest.skip("psycopg2 is not installed (pip install psycopg2-binary): PostgreSQL "
                    "tests need it")
    if os.environ.get(ENV_URL):
        yield PostgresServer(os.environ[ENV_URL])
        return
    with temporary_cluster() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture(scope="session")
def pg_shared_url(pg_server: PostgresServer) -> Iterator[str]:
    """One database for the session, migrated once (CREATE DATABASE costs ~0.25 s a test)."""
    from appliance.store.db import open_database
    from appliance.store.migrations import migrate

    url = pg_server.create_database()
    db = open_database(url, bind=False)
    try:
        migrate(db)
    finally:
        db.close()
    yield url
    pg_server.drop_database(url)


@pytest.fixture
def pg_db(pg_shared_url: str) -> Iterator[Any]:
    """A migrated database with empty tables (ids from 1), opened through `open_database`
    (models bound). Tests that change the schema itself take `pg_url` instead."""
    from appliance.store.db import open_database

    db = open_database(pg_shared_url)
    # Connections an earlier test's threads left (peewee keeps one per thread) would hold up
    # TRUNCATE if one were still in a transaction: end them first.
    db.execute_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    tables = [t for t in db.get_tables() if t != "schema_version"]
    db.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY")
    yield db
    db.close()


__all__ = ["PostgresServer", "find_binaries", "pg_db", "pg_server", "pg_shared_url", "pg_url",
           "temporary_cluster"]
