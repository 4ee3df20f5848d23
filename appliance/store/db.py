"""Opening the database named by `database.url`, and the proxy every model is bound through.

Knows: the two URL forms (SQLite file, PostgreSQL server), the SQLite pragmas that make
acceptance durable (WAL, synchronous=FULL), and how to fail when a driver is missing.
Must not know: the models, the schema, or who writes when (that is `writer.Store`'s job).

URL forms, as in cardgate.toml:
- `sqlite:////var/lib/cardgate/cardgate.db` - four slashes: an absolute path;
- `sqlite:///data/cardgate.db` - three slashes: relative to the working directory;
- `postgresql://user:pass@host:5432/dbname` (or `postgres://`) - needs psycopg2 (or psycopg 3).
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import peewee

# Models declare `database = database_proxy`; `open_database()` points it at the real database,
# so the same model classes serve SQLite on a Pi and PostgreSQL for a fleet.
database_proxy = peewee.DatabaseProxy()

BUSY_TIMEOUT_MS = 10_000
"""How long a connection waits for another's lock (a CLI tool writing while the appliance runs)
before SQLITE_BUSY; the appliance itself has one writer thread, so waits are rare and short."""

SQLITE_PRAGMAS: tuple[tuple[str, object], ...] = (
    # WAL: readers never block the writer, and a commit is one append + fsync of the log.
    ("journal_mode", "wal"),
    # FULL: the WAL is fsynced at every commit, so "accepted" survives a power cut. NORMAL
    # would only guarantee consistency, and could lose the last accepted messages.
    ("synchronous", "full"),
    ("foreign_keys", 1),
    ("busy_timeout", BUSY_TIMEOUT_MS),
)


class DatabaseUrlError(ValueError):
    """A database URL that cannot be opened; the message says what is wrong with it."""


def open_database(url: str, *, bind: bool = True) -> peewee.Database:
    """Open (lazily: connections are per thread, made on first use) the database at `url`.

    With `bind` (the default) the models' `database_proxy` is pointed at it, so model queries
    go there; pass `bind=False` to get a second handle on a file without rebinding the models.
    """
    if url.startswith("sqlite:///"):
        db: peewee.Database = _open_sqlite(url)
    elif url.startswith(("postgresql://", "postgres://")):
        db = _open_postgresql(url)
    else:
        raise DatabaseUrlError(
            f'database url must start with sqlite:/// or postgresql://, got "{url}"'
        )
    if bind:
        database_proxy.initialize(db)
    return db


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:///` URL names (four slashes: absolute; three: relative)."""
    path = url[len("sqlite:///"):]
    if not path or path == ":memory:" or path.startswith("file:"):
        # An in-memory database is private to one connection, and connections are per thread
        # here (one writer, several readers): each thread would see its own empty database.
        raise DatabaseUrlError(f'database url must name a file, got "{url}"')
    return Path(unquote(path))


def _open_sqlite(url: str) -> peewee.SqliteDatabase:
    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    return peewee.SqliteDatabase(
        str(path),
        pragmas=list(SQLITE_PRAGMAS),
        timeout=BUSY_TIMEOUT_MS / 1000,
        # The default driver check_same_thread=True would be fine (peewee connections are per
        # thread), but a connection closed at stop() from another thread must not raise.
        check_same_thread=False,
    )


def postgresql_params(url: str) -> dict[str, object]:
    """Connection keywords for psycopg from a postgresql:// URL (user, password, host, port)."""
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise DatabaseUrlError(f'database url must name a database after the host, got "{url}"')
    params: dict[str, object] = {"database": name}
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    if parts.hostname:
        params["host"] = parts.hostname
    if parts.port:
        params["port"] = parts.port
    return params


def _open_postgresql(url: str) -> peewee.PostgresqlDatabase:
    params = postgresql_params(url)
    # Fail at open with the package to install, not at the first query with peewee's terse
    # "psycopg2 postgres driver not found." after the appliance has half started.
    if not (_installed("psycopg2") or _installed("psycopg")):
        raise DatabaseUrlError(
            "database url is postgresql:// but the psycopg2 package is not installed "
            "(pip install psycopg2-binary, or apt install python3-psycopg2)"
        )
    name = params.pop("database")
    return peewee.PostgresqlDatabase(name, **params)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class UtcDateTimeField(peewee.DateTimeField):
    """A point in time, stored as naive UTC text/TIMESTAMP and read back as an aware UTC datetime.

    Every value written must be time-zone aware: a naive datetime is refused rather than guessed
    at, because the box's local time (Asia/Shanghai) and UTC differ by eight hours.
    """

    _FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # fixed width, so text comparison in SQLite is time order

    def db_value(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):  # already in storage form (e.g. from a raw query)
            return value
        if value.tzinfo is None:
            raise ValueError(f"{self.name}: a naive datetime ({value}) cannot be stored as UTC")
        # isoformat, not strftime(_FORMAT): the same text, but glibc's %Y does not pad a year
        # before 1000 ("1-01-01 ..."), which fromisoformat then cannot read back.
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def python_value(self, value: object) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{self.name}: stored time {value!r} cannot be read") from None
        if not isinstance(value, datetime):
            raise ValueError(f"{self.name}: stored value {value!r} is not a time")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, aware, in UTC (the only form the store accepts)."""
    return datetime.now(UTC)


__all__ = [
    "DatabaseUrlError",
    "SQLITE_PRAGMAS",
    "UtcDateTimeField",
    "database_proxy",
    "open_database",
    "postgresql_params",
    "sqlite_path",
    "utcnow",
]
