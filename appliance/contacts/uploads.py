"""Uploaded tables kept on the box between the steps of an import (upload → mapping →
preview → confirm), so the browser carries only a token, never the table.

Knows: one file per upload in a private directory (mode 0700), named by a random token; the
owner (a session) it belongs to, kept as a hash; that uploads expire and an owner keeps a few
at most.
Must not know: what the table holds, HTTP, the event loop (the methods do file I/O: callers
run them with `asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.contacts.tabular import Table

TTL = 3600.0  # an import not confirmed within the hour is dropped
PER_OWNER = 3  # uploads an owner keeps; the oldest goes first
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,64}")


@dataclass
class Upload:
    token: str
    filename: str
    table: Table
    roles: list[str] = field(default_factory=list)
    created: float = 0.0


def _owner_key(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()


class UploadStash:
    def __init__(self, directory: Path | None = None, *, ttl: float = TTL,
                 clock: Callable[[], float] = time.time):
        self.directory = Path(directory or tempfile.mkdtemp(prefix="cardgate-import-"))
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.ttl = ttl
        self.clock = clock

    def _paths(self, token: str) -> tuple[Path, Path] | None:
        """(its meta file, its table file): the owner, name, time and mapping are read on
        every step and every sweep, the table only when it is used."""
        if not _TOKEN.fullmatch(token or ""):
            return None
        return self.directory / f"{token}.meta", self.directory / f"{token}.table"

    def put(self, owner: str, filename: str, table: Table,
            roles: list[str] | None = None) -> str:
        """Keep `table` for `owner` (with its columns' `roles` when the caller knows them
        already: see set_roles); the token that finds it again."""
        self.sweep()
        token = secrets.token_urlsafe(24)
        meta, data = self._paths(token)  # type: ignore[misc]
        _write_json(data, {"columns": table.columns, "rows": table.rows,
                           "row_numbers": table.row_numbers, "kind": table.kind,
                           "encoding": table.encoding, "delimiter": table.delimiter})
        record = {"owner": _owner_key(owner), "filename": filename, "created": self.clock(),
                  "roles": list(roles or [])}
        _write_json(meta, record)
        mine = sorted(((r["created"], t) for t, r in self._metas()
                       if r["owner"] == record["owner"]), reverse=True)
        for _, old in mine[PER_OWNER:]:
            self._remove(old)
        return token

    def _meta(self, token: str) -> dict | None:
        paths = self._paths(token)
        return _read_json(paths[0]) if paths else None

    def _metas(self) -> list[tuple[str, dict]]:
        out = []
        for path in self.directory.glob("*.meta"):
            record = _read_json(path)
            if record is not None:
                out.append((path.stem, record))
        return out

    def _mine(self, owner: str, token: str) -> dict | None:
        record = self._meta(token)
        if record is None or not hmac.compare_digest(record["owner"], _owner_key(owner)):
            return None
        if self.clock() - record["created"] > self.ttl:
            self._remove(token)
            return None
        return record

    def get(self, owner: str, token: str) -> Upload | None:
        """The upload, when `token` is one of `owner`'s and has not expired."""
        record = self._mine(owner, token)
        data = _read_json(self._paths(token)[1]) if record else None  # type: ignore[index]
        if record is None or data is None:
            return None
        table = Table(columns=data["columns"], rows=data["rows"], kind=data["kind"],
                      encoding=data["encoding"], delimiter=data["delimiter"],
                      row_numbers=data["row_numbers"])
        return Upload(token, record["filename"], table, record["roles"], record["created"])

    def set_roles(self, owner: str, token: str, roles: list[str]) -> bool:
        """Keep what each column of the table is (one word per column, the caller's
        vocabulary: contacts.importing.ROLES for the address book's import, "number"/"name"/
        "field" for compose's recipients); False when the upload is not `owner`'s or gone."""
        record = self._mine(owner, token)
        if record is None:
            return False
        record["roles"] = list(roles)
        _write_json(self._paths(token)[0], record)  # type: ignore[index]
        return True

    def drop(self, owner: str, token: str) -> None:
        if self._mine(owner, token) is not None:
            self._remove(token)

    def _remove(self, token: str) -> None:
        for path in self._paths(token) or ():
            path.unlink(missing_ok=True)

    def sweep(self) -> int:
        """Remove expired uploads (and leftovers of an interrupted write); how many."""
        now, gone = self.clock(), 0
        for path in list(self.directory.iterdir()):
            try:
                if path.suffix == ".meta":
                    record = _read_json(path)
                    stale = record is None or now - record["created"] > self.ttl
                else:  # a table without its meta, a .tmp: a write cut short
                    stale = not path.with_suffix(".meta").exists() and \
                        now - path.stat().st_mtime > 60
                if stale:
                    self._remove(path.stem)
                    path.unlink(missing_ok=True)
                    gone += 1
            except OSError:
                continue
        return gone

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(value, out, ensure_ascii=False, separators=(",", ":"))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


__all__ = ["PER_OWNER", "TTL", "Upload", "UploadStash"]
