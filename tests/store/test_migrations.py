"""Schema migrations: fresh files, upgrades that keep data, refusal of newer files."""

from __future__ import annotations

from pathlib import Path

import peewee
import pytest
from playhouse.migrate import SqliteMigrator
from playhouse.migrate import migrate as run_operations

from appliance.store.db import open_database
from appliance.store.migrations import MIGRATIONS, SchemaTooNew, migrate, schema_version
from appliance.store.models import ALL_MODELS, Message


def add_note_column(db: peewee.Database) -> None:
    """A migration 2 as a future cardgate might write it."""
    run_operations(SqliteMigrator(db).add_column("message", "note", peewee.TextField(default="")))


def test_fresh_database_reaches_the_newest_version(tmp_path: Path):
    db = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    assert schema_version(db) == 0
    assert migrate(db) == len(MIGRATIONS)
    assert schema_version(db) == len(MIGRATIONS)
    assert migrate(db) == len(MIGRATIONS)  # running again is harmless
    tables = set(db.get_tables())
    assert {m._meta.table_name for m in ALL_MODELS} <= tables


def test_models_agree_with_the_migrated_schema(db: peewee.Database):
    """A field added to a model without a migration fails here."""
    for model in ALL_MODELS:
        columns = {c.name for c in db.get_columns(model._meta.table_name)}
        fields = {f.column_name for f in model._meta.sorted_fields}
        assert columns == fields, model.__name__


def test_claiming_indexes_exist(db: peewee.Database):
    indexes = {tuple(i.columns) for i in db.get_indexes("message")}
    assert ("state", "priority", "id") in indexes
    assert ("sim", "state") in indexes


def test_upgrade_keeps_old_rows(tmp_path: Path):
    path = tmp_path / "old.db"
    db = open_database(f"sqlite:///{path}")
    assert migrate(db, MIGRATIONS) == len(MIGRATIONS)
    with db.atomic():
        Message.create(recipient="+8613800138000", text="before the upgrade")
    db.close()

    db = open_database(f"sqlite:///{path}")
    newer = len(MIGRATIONS) + 1
    assert migrate(db, [*MIGRATIONS, add_note_column]) == newer
    rows = db.execute_sql("SELECT text, note FROM message").fetchall()
    assert rows == [("before the upgrade", "")]
    assert schema_version(db) == newer


def test_a_failing_migration_leaves_the_old_version(tmp_path: Path):
    db = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(db)

    def broken(db: peewee.Database) -> None:
        db.execute_sql("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        migrate(db, [*MIGRATIONS, broken])
    assert schema_version(db) == len(MIGRATIONS)
    assert "half_done" not in db.get_tables()  # rolled back with the version bump


def test_newer_file_is_refused_with_a_clear_message(tmp_path: Path):
    path = tmp_path / "newer.db"
    db = open_database(f"sqlite:///{path}")
    migrate(db, [*MIGRATIONS, add_note_column])
    db.close()

    db = open_database(f"sqlite:///{path}")
    newer = len(MIGRATIONS) + 1
    with pytest.raises(SchemaTooNew,
                       match=f"schema version {newer}.*only up to version {newer - 1}"):
        migrate(db, MIGRATIONS)
    # ...and touched nothing.
    assert schema_version(db) == newer


def test_upgrade_to_version_2_keeps_inbound_rows_and_fills_their_hash(tmp_path: Path):
    import hashlib

    path = tmp_path / "v1.db"
    db = open_database(f"sqlite:///{path}")
    assert migrate(db, MIGRATIONS[:1]) == 1
    db.execute_sql(
        "INSERT INTO inbound_message (sim, sender, text, received_at, concat_ref, concat_count,"
        " concat_index, smsc, pdu, stored_at) VALUES"
        " ('8986A', '+8613900000001', 'hi', '2024-05-01 08:00:00', NULL, 1, 1, NULL,"
        " '0791AB', '2024-05-01 08:00:01'),"
        " ('8986A', '+8613900000002', 'old', '2024-05-01 08:00:00', NULL, 1, 1, NULL,"
        " '', '2024-05-01 08:00:01')")
    db.close()

    db = open_database(f"sqlite:///{path}")
    assert migrate(db) == len(MIGRATIONS) >= 2
    rows = db.execute_sql(
        "SELECT text, pdu, pdu_hash FROM inbound_message ORDER BY id").fetchall()
    assert rows == [("hi", "0791AB", hashlib.sha256(b"0791AB").hexdigest()),
                    ("old", "", hashlib.sha256(b"").hexdigest())]
    indexes = {tuple(i.columns) for i in db.get_indexes("inbound_message")}
    assert ("sim", "pdu_hash") in indexes
