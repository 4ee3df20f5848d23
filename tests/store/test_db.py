"""Opening the database: URL forms, the durability pragmas, the UTC time field."""

from __future__ import annotations

import importlib.util
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import peewee
import pytest

from appliance.store.db import (
    DatabaseUrlError,
    database_proxy,
    open_database,
    postgresql_params,
    sqlite_path,
)
from appliance.store.models import Sim


def test_pragmas_are_set_on_every_connection(db: peewee.Database):
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_the_file_on_disk_is_in_wal_mode(db: peewee.Database, db_path: Path):
    with db.atomic():
        Sim.create(iccid="89860000000000000001")
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent mode
        assert raw.execute("SELECT iccid FROM sim").fetchall() == [("89860000000000000001",)]
    finally:
        raw.close()


def test_open_creates_the_parent_folder_and_binds_the_models(tmp_path: Path):
    path = tmp_path / "a" / "b" / "c.db"
    db = open_database(f"sqlite:///{path}")
    assert database_proxy.obj is db
    db.connect()
    db.close()
    assert path.exists()


def test_four_slashes_absolute_three_relative():
    assert sqlite_path("sqlite:////var/lib/cardgate/cardgate.db") == Path(
        "/var/lib/cardgate/cardgate.db"
    )
    assert sqlite_path("sqlite:///data/cardgate.db") == Path("data/cardgate.db")


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:///", "mysql://x/y", "cardgate.db"])
def test_unusable_urls_are_refused(url: str):
    with pytest.raises(DatabaseUrlError):
        open_database(url, bind=False)


def test_postgresql_url_parts():
    assert postgresql_params("postgresql://gw:p%40ss@db.lan:5433/cardgate") == {
        "database": "cardgate",
        "user": "gw",
        "password": "p@ss",
        "host": "db.lan",
        "port": 5433,
    }


@pytest.mark.skipif(
    importlib.util.find_spec("psycopg2") is not None or importlib.util.find_spec("psycopg"),
    reason="a PostgreSQL driver is installed",
)
def test_postgresql_without_driver_names_the_package():
    with pytest.raises(DatabaseUrlError, match="psycopg2"):
        open_database("postgresql://gw:pw@localhost/cardgate", bind=False)


def test_times_are_stored_as_utc_and_read_back_aware(db: peewee.Database, db_path: Path):
    shanghai = timezone(timedelta(hours=8))
    seen = datetime(2024, 3, 1, 8, 30, tzinfo=shanghai)
    with db.atomic():
        Sim.create(iccid="1", last_seen_at=seen)
    raw = sqlite3.connect(db_path)
    stored = raw.execute("SELECT last_seen_at FROM sim").fetchone()[0]
    raw.close()
    assert stored.startswith("2024-03-01 00:30:00")  # UTC on disk
    back = Sim.get_by_id("1").last_seen_at
    assert back == seen and back.tzinfo is not None and back.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db: peewee.Database):
    with pytest.raises(ValueError, match="naive"), db.atomic():
        Sim.create(iccid="2", last_seen_at=datetime(2024, 3, 1, 8, 30))


def test_time_comparisons_in_queries_follow_time_order(db: peewee.Database):
    base = datetime(2024, 3, 1, tzinfo=UTC)
    with db.atomic():
        Sim.create(iccid="a", rest_until=base + timedelta(seconds=1))
        Sim.create(iccid="b", rest_until=base + timedelta(microseconds=500))
    due = [s.iccid for s in Sim.select().where(Sim.rest_until <= base + timedelta(seconds=0.9))]
    assert due == ["b"]
