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
    assert migrate(db, MIGRATIONS) == 1
    with db.atomic():
        Message.create(recipient="+8613800138000", text="before the upgrade")
    db.close()

    db = open_database(f"sqlite:///{path}")
    assert migrate(db, [*MIGRATIONS, add_note_column]) == 2
    rows = db.execute_sql("SELECT text, note FROM message").fetchall()
    assert rows == [("before the upgrade", "")]
    assert schema_version(db) == 2


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
    with pytest.raises(SchemaTooNew, match="schema version 2.*only up to version 1"):
        migrate(db, MIGRATIONS)
    # ...and touched nothing.
    assert schema_version(db) == 2
