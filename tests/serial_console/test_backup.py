"""Backup and restore: one checked archive; a restore into a fresh data folder gives the same
contacts, history and settings; a damaged, altered or newer archive is refused by name."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.backup import BackupError, create_backup, read_backup, restore_backup
from appliance.cli import main
from appliance.store.acceptance import NewMessage, accept_messages
from appliance.store.apikeys import create_api_key, list_api_keys
from appliance.store.contacts import create_contact, list_contacts
from appliance.store.messages import list_messages
from appliance.store.migrations import MIGRATIONS
from appliance.store.service import run_in_database
from tests.serial_console.conftest import write_config

NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def filled(tmp: Path) -> Path:
    """A data folder with a config and a database holding a contact, a message, a key."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = write_config(tmp, with_modems=False)

    def write() -> None:
        create_contact("张三", ["+8613800138000"], note="机房值班")
        accept_messages([NewMessage(recipient="+8613800138000", text="备份测试")], now=NOW)
        create_api_key("plc-1", ["send"])

    run_in_database(f"sqlite:///{tmp / 'cardgate.db'}", write)
    return config


def contents(db: Path) -> tuple:
    return run_in_database(f"sqlite:///{db}", lambda: (
        [(c["name"], c["numbers"], c["note"]) for c in list_contacts()[0]],
        [(m["recipient"], m["text"], m["state"]) for m in list_messages(owner=None, limit=10)],
        [k["name"] for k in list_api_keys()]))


def test_round_trip_into_a_fresh_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = filled(tmp_path / "old")
    archive = tmp_path / "b.tar.gz"
    assert main(["backup", "--config", str(config), "--output", str(archive)]) == 0
    assert archive.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "new"
    fresh.mkdir()
    new_config = write_config(fresh, with_modems=False)
    assert main(["restore", str(archive), "--config", str(new_config)]) == 0
    assert contents(fresh / "cardgate.db") == contents(tmp_path / "old" / "cardgate.db")
    assert contents(fresh / "cardgate.db")[0] == [("张三", ["+8613800138000"], "机房值班")]
    # The new folder's config names its own database: the archived one is put beside it.
    out = capsys.readouterr().out
    assert "differs from the archived config" in out
    assert (fresh / "cardgate.toml.from-backup").read_bytes() == config.read_bytes()


def test_restore_writes_the_config_when_there_is_none(tmp_path: Path) -> None:
    config = filled(tmp_path / "old")
    archive = tmp_path / "b.tar.gz"
    create_backup(f"sqlite:///{tmp_path / 'old' / 'cardgate.db'}", config, archive)
    (tmp_path / "old" / "cardgate.db").rename(tmp_path / "moved.db")  # the box lost its disk
    target = tmp_path / "etc" / "cardgate.toml"
    done = restore_backup(archive, None, target)
    assert target.read_bytes() == config.read_bytes()
    assert done["database"] == str(tmp_path / "old" / "cardgate.db")
    assert contents(tmp_path / "old" / "cardgate.db") == contents(tmp_path / "moved.db")


def _rewrite(archive: Path, out: Path, change) -> None:  # noqa: ANN001
    """Copy `archive` to `out`, passing each member's bytes through change(name, data)."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for info in src:
            data = change(info.name, src.extractfile(info).read())
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def _tamper_db(name: str, data: bytes) -> bytes:
    return data.replace("备份测试".encode(), "篡改内容".encode()) if name == "cardgate.db" else data


def _newer_schema(name: str, data: bytes) -> bytes:
    if name != "manifest.json":
        return data
    manifest = json.loads(data)
    manifest["schema_version"] = len(MIGRATIONS) + 1
    return json.dumps(manifest).encode()


REFUSED = [
    ("altered database", _tamper_db, "cardgate.db does not match its sha256"),
    ("newer schema", _newer_schema, "made by a newer cardgate"),
]


@pytest.mark.parametrize(("case", "change", "named"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_bad_archive_is_refused_naming_the_problem(tmp_path: Path, case: str, change,  # noqa: ANN001
                                                     named: str,
                                                     capsys: pytest.CaptureFixture) -> None:
    config = filled(tmp_path / "old")
    archive = tmp_path / "b.tar.gz"
    create_backup(f"sqlite:///{tmp_path / 'old' / 'cardgate.db'}", config, archive)
    bad = tmp_path / "bad.tar.gz"
    _rewrite(archive, bad, change)
    fresh = tmp_path / "new"
    fresh.mkdir()
    new_config = write_config(fresh, with_modems=False)
    assert main(["restore", str(bad), "--config", str(new_config)]) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1
    assert not (fresh / "cardgate.db").exists()


@pytest.mark.parametrize(("content", "named"), [
    (b"not an archive at all", "not a cardgate backup"),
    (b"", "not a cardgate backup"),
])
def test_a_file_that_is_no_archive_is_refused(tmp_path: Path, content: bytes,
                                              named: str) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_bytes(content)
    with pytest.raises(BackupError, match=named):
        read_backup(path)


def test_a_member_missing_from_the_archive_is_refused(tmp_path: Path) -> None:
    config = filled(tmp_path / "old")
    archive = tmp_path / "b.tar.gz"
    create_backup(f"sqlite:///{tmp_path / 'old' / 'cardgate.db'}", config, archive)
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "r:gz") as src, tarfile.open(bad, "w:gz") as dst:
        for info in src:
            if info.name != "cardgate.toml":
                dst.addfile(info, src.extractfile(info))
    with pytest.raises(BackupError, match="cardgate.toml is listed in the manifest but missing"):
        read_backup(bad)


def test_an_existing_database_is_replaced_only_with_force(tmp_path: Path) -> None:
    config = filled(tmp_path / "old")
    db = tmp_path / "old" / "cardgate.db"
    archive = tmp_path / "b.tar.gz"
    create_backup(f"sqlite:///{db}", config, archive)
    run_in_database(f"sqlite:///{db}", lambda: create_contact("李四", ["+8613900139000"]))
    with pytest.raises(BackupError, match="a database already exists"):
        restore_backup(archive, f"sqlite:///{db}", config)
    done = restore_backup(archive, f"sqlite:///{db}", config, force=True)
    assert [c[0] for c in contents(db)[0]] == ["张三"]
    kept = Path(done["replaced"])
    assert sorted(c[0] for c in contents(kept)[0]) == ["张三", "李四"]


def test_postgresql_is_not_backed_up_here(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="use pg_dump"):
        create_backup("postgresql://cardgate@localhost/cardgate", None, tmp_path / "x.tar.gz")
