"""Backup and restore of the database and the settings, as one file.

Knows: the archive's layout (a tar.gz holding `manifest.json`, `cardgate.db` and, when there
is one, `cardgate.toml`), how to copy a live SQLite database consistently (the sqlite3 online
backup API: a WAL database copied byte by byte may miss committed pages still in its -wal
file, or catch a checkpoint half done), and what makes an archive unusable (a member whose
sha256 differs from the manifest, a missing or extra member, a schema newer than this
cardgate's, a database that fails `PRAGMA integrity_check`).
Must not know: what the tables hold: the database is copied whole, and a restore brings an
older schema up to date with the ordinary migrations.

PostgreSQL is not backed up here: a fleet's database has its own tools (pg_dump), and the
message says so.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance import __version__

FORMAT = "cardgate-backup"
FORMAT_VERSION = 1
DB_MEMBER = "cardgate.db"
CONFIG_MEMBER = "cardgate.toml"
MANIFEST = "manifest.json"
MAX_MEMBER = 8 * 1024**3  # a member larger than this is not ours (and would fill the disk)


class BackupError(RuntimeError):
    """A backup that cannot be made or an archive that cannot be restored; says why."""


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:///")


def _sqlite_file(url: str) -> Path:
    from appliance.store.db import DatabaseUrlError, sqlite_path

    if not _is_sqlite(url):
        raise BackupError("PostgreSQL databases are not backed up by this command: use "
                          "pg_dump (and keep the config file beside its dump)")
    try:
        return sqlite_path(url)
    except DatabaseUrlError as exc:
        raise BackupError(str(exc)) from None


def backup_dir_for(url: str) -> Path | None:
    """Where backups made from the console go: `backups/` beside the SQLite database."""
    if not _is_sqlite(url):
        return None
    return _sqlite_file(url).resolve().parent / "backups"


def default_backup_path(folder: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return folder / f"cardgate-backup-{stamp}.tar.gz"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _schema_version_of(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "schema_version" not in tables:
            return 0
        return int(con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)


def create_backup(url: str, config_path: Path | None, output: Path) -> dict[str, Any]:
    """Write the archive to `output` (made 0600: it holds messages and key hashes); returns
    its manifest. Safe while the appliance runs: readers and the writer go on meanwhile."""
    source = _sqlite_file(url)
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".backup-") as tmp:
        copy = Path(tmp) / DB_MEMBER
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10)
            try:
                dst = sqlite3.connect(copy)
                try:
                    src.backup(dst)  # one consistent snapshot, whatever commits meanwhile
                finally:
                    dst.close()
            finally:
                src.close()
        except sqlite3.Error as exc:
            raise BackupError(f"cannot copy {source}: {exc}") from None
        members: dict[str, bytes] = {DB_MEMBER: copy.read_bytes()}
        if config_path is not None and config_path.is_file():
            members[CONFIG_MEMBER] = config_path.read_bytes()
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "cardgate_version": __version__,
            "schema_version": _schema_version_of(copy),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "members": {name: {"sha256": _sha256(data), "size": len(data)}
                        for name, data in members.items()},
        }
        partial = Path(tmp) / "archive.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name, data in [(MANIFEST, json.dumps(manifest, indent=1).encode()),
                               *members.items()]:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
                tar.addfile(info, io.BytesIO(data))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, output)  # a half-written archive never carries the final name
    return manifest


def read_backup(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and members of an archive, every check passed; BackupError otherwise."""
    from appliance.store.migrations import MIGRATIONS

    try:
        tar = tarfile.open(path, mode="r:gz")
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path}: not a cardgate backup (not a readable tar.gz: {exc})") from None
    members: dict[str, bytes] = {}
    try:
        with tar:
            for info in tar:
                if not info.isfile() or "/" in info.name or info.name in members:
                    raise BackupError(f"{path}: unexpected member {info.name!r}")
                if info.size > MAX_MEMBER:
                    raise BackupError(f"{path}: member {info.name!r} is too large")
                handle = tar.extractfile(info)
                assert handle is not None
                members[info.name] = handle.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"{path}: damaged archive ({exc})") from None
    if MANIFEST not in members:
        raise BackupError(f"{path}: not a cardgate backup (no {MANIFEST})")
    try:
        manifest = json.loads(members.pop(MANIFEST))
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{path}: {MANIFEST} is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not a cardgate backup ({MANIFEST} names another format)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path}: backup format {manifest.get('format_version')!r} is not "
                          f"known to this cardgate (it reads format {FORMAT_VERSION})")
    listed = manifest.get("members")
    if not isinstance(listed, dict) or DB_MEMBER not in listed:
        raise BackupError(f"{path}: {MANIFEST} lists no {DB_MEMBER}")
    for name in sorted(set(listed) | set(members)):
        if name not in members:
            raise BackupError(f"{path}: {name} is listed in the manifest but missing")
        if name not in listed:
            raise BackupError(f"{path}: {name} is in the archive but not in the manifest")
        entry = listed[name]
        if not isinstance(entry, dict) or entry.get("sha256") != _sha256(members[name]):
            raise BackupError(f"{path}: {name} does not match its sha256 in the manifest: the "
                              "file is corrupt or was altered")
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or schema < 0:
        raise BackupError(f"{path}: {MANIFEST} has no valid schema_version")
    if schema > len(MIGRATIONS):
        raise BackupError(f"{path}: made by a newer cardgate (database schema {schema}; this "
                          f"cardgate knows up to {len(MIGRATIONS)}): upgrade cardgate first")
    return manifest, members


def restore_backup(path: Path, url: str | None, config_path: Path | None, *,
                   force: bool = False) -> dict[str, Any]:
    """Restore the archive: the database to `url` (None: the archived config's database),
    the config file to `config_path` when none is there yet. Returns what was done.

    An existing database is replaced only with `force` (it is kept beside, renamed); an
    existing config file that differs is never replaced: the archived one is written beside it
    as `<name>.from-backup`, to be compared by hand (it may name another database or port).
    """
    from appliance.config import ConfigError, config_from_dict

    manifest, members = read_backup(path)
    done: dict[str, Any] = {"manifest": manifest}
    config_bytes = members.get(CONFIG_MEMBER)
    if url is None:
        if config_bytes is None:
            raise BackupError(f"{path}: holds no config file: name the target config (--config)")
        import tomllib

        try:
            url = config_from_dict(tomllib.loads(config_bytes.decode())).database.url
        except (ConfigError, ValueError) as exc:
            raise BackupError(f"{path}: its config file is not usable: {exc}") from None
    target = _sqlite_file(url)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=_existing_parent(target)) as tmp:
        staged = Path(tmp) / DB_MEMBER
        staged.write_bytes(members[DB_MEMBER])
        _check_database_file(path, staged)
        if target.exists():
            if not force:
                raise BackupError(f"a database already exists at {target}: restore into a fresh "
                                  "data folder, or give --force (the appliance stopped) to "
                                  "replace it (the old one is kept beside it)")
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            for suffix in ("", "-wal", "-shm"):
                old = Path(f"{target}{suffix}")
                if old.exists():
                    old.rename(f"{target}.before-restore-{stamp}{suffix}")
            done["replaced"] = f"{target}.before-restore-{stamp}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
    done["database"] = str(target)
    _bring_schema_up_to_date(url)
    if config_bytes is not None and config_path is not None:
        if not config_path.exists():
            config_path.parent.mkdir(parents=True, exist_ok=True)
            config_path.write_bytes(config_bytes)
            done["config"] = str(config_path)
        elif config_path.read_bytes() != config_bytes:
            beside = config_path.with_name(config_path.name + ".from-backup")
            beside.write_bytes(config_bytes)
            done["config_beside"] = str(beside)
    return done


def _existing_parent(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.parent


def _check_database_file(archive: Path, db_file: Path) -> None:
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as con:
            verdict = con.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupError(f"{archive}: its database is not a usable SQLite file: {exc}") from None
    if verdict != "ok":
        raise BackupError(f"{archive}: its database fails the integrity check: {verdict}")


def _bring_schema_up_to_date(url: str) -> None:
    from appliance.store.service import DatabaseUnavailable, check_database

    try:
        check_database(url)
    except DatabaseUnavailable as exc:
        raise BackupError(f"restored, but the database cannot be opened: {exc}") from None


__all__ = ["BackupError", "backup_dir_for", "create_backup", "default_backup_path",
           "read_backup", "restore_backup"]
