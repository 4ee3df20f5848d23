"""The audit log in the database: append-only rows, each chained to the one before by SHA-256.

Knows: the `audit_entry` table (migration 10), the canonical encoding of an entry, the chain
(hash = sha256(prev_hash + "\\n" + canonical entry)), appending inside the caller's
transaction, walking the chain to find the first broken entry, and paged reads.
Must not know: who writes entries or why (appliance.audit and the doors), HTTP, formats of
export (appliance.audit.export).

Why a chain: the triggers of migration 10 stop an UPDATE or DELETE through SQL, but not
someone who edits the file (or drops a trigger first). Any edit, insertion or removal inside
the log changes a hash that a later entry depends on, so `verify_chain` names the first entry
that no longer fits. (Cutting entries off the end is not detectable from the log alone: keep
the last hash elsewhere, e.g. in an exported copy, to detect that.)

`append_entry` reads the last entry and inserts the next in the CALLER's transaction: on the
appliance that is the single writer thread, so two appends never race; a command-line tool
writing beside it waits on SQLite's write lock (the seq primary key refuses a fork in any
case); on PostgreSQL a transaction-level advisory lock serialises appenders of a fleet.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import peewee

from appliance.store.models import AuditEntry

GENESIS = "0" * 64
"""The prev_hash of the first entry."""

AUDIT_LOCK_KEY = 0x63676175_64697400  # "cgaudit": PostgreSQL advisory lock of the appenders
COLUMNS = ("seq", "at", "actor_kind", "actor_id", "actor_name", "address", "door", "action",
           "target", "detail", "prev_hash", "hash")
LIMITS = {"actor_kind": 16, "actor_id": 64, "actor_name": 128, "address": 64, "door": 16,
          "action": 64, "target": 255}


# Made once: json.dumps with any option builds a JSONEncoder per call, which cost as much as
# the encoding of an entry's fields (the writer thread hashes one entry per send request).
_DETAIL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                                default=str)
_FIELDS_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def canonical_detail(detail: dict[str, Any] | None) -> str:
    """The stored form of an entry's detail: JSON, keys sorted, no spaces, UTF-8 kept."""
    return _DETAIL_JSON.encode(detail or {})


def _time_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """The hash of an entry (its columns but `hash`) chained to `prev_hash`."""
    return _chained([entry["seq"], _time_text(entry["at"]), entry["actor_kind"],
                     entry["actor_id"], entry["actor_name"], entry["address"], entry["door"],
                     entry["action"], entry["target"], entry["detail"], prev_hash])


def _chained(fields: list[Any]) -> str:
    """entry_hash of an entry's hashed fields, in order, the last being prev_hash."""
    body = _FIELDS_JSON.encode(fields)
    return hashlib.sha256(fields[-1].encode() + b"\n" + body.encode()).hexdigest()


def _database() -> peewee.Database:
    db = AuditEntry._meta.database
    return getattr(db, "obj", None) or db


_INSERT_COLUMNS = ("seq", "at", "actor_kind", "actor_id", "actor_name", "address", "door",
                   "action", "target", "detail", "prev_hash", "hash")
_TEXT_LIMITS = tuple(LIMITS.items())
assert tuple(LIMITS) == _INSERT_COLUMNS[2:9]  # append_entries builds rows in this order
_stored_time = AuditEntry.at.db_value


def append_entry(*, at: datetime, action: str, actor_kind: str, actor_id: str = "",
                 actor_name: str = "", address: str = "", door: str = "", target: str = "",
                 detail: dict[str, Any] | None = None) -> int:
    """Append one entry in the caller's transaction; its seq. Texts are cut to their columns'
    sizes before hashing, so what is stored is what was hashed."""
    return append_entries([dict(at=at, action=action, actor_kind=actor_kind, actor_id=actor_id,
                                actor_name=actor_name, address=address, door=door,
                                target=target, detail=detail)])[0]


def append_entries(entries: list[dict[str, Any]]) -> list[int]:
    """Append entries (each append_entry's keyword arguments) in order, in the caller's
    transaction; their seqs.

    Plain SQL, not peewee's query builder: building the two statements cost ~0.8 ms per entry
    on this machine, ten times the statements themselves, and a send request pays one entry.
    The last entry is read once for all of them (each next one chains to the one computed
    before it) and they are inserted with one executemany: the send requests' entries come
    in groups (AuditLog.enqueue), and the read per entry cost more than the insert."""
    if not entries:
        return []
    db = _database()
    if isinstance(db, peewee.PostgresqlDatabase):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK_KEY,))
    last = db.execute_sql(
        'SELECT "seq", "hash" FROM "audit_entry" ORDER BY "seq" DESC LIMIT 1').fetchone()
    seq, prev_hash = (last[0], last[1]) if last else (0, GENESIS)
    rows: list[list[Any]] = []
    seqs: list[int] = []
    for given in entries:
        seq += 1
        # The hashed fields in entry_hash's order, which is _INSERT_COLUMNS' but the time's
        # form (the hash takes ISO 8601 with its offset, the column the stored text form):
        # built as one list, not as an entry dict read back field by field (the writer
        # thread appends one entry per send request).
        at = given["at"]
        fields = [seq, _time_text(at)]
        fields += [str(given.get(name) or "")[:limit] for name, limit in _TEXT_LIMITS]
        fields += (canonical_detail(given.get("detail")), prev_hash)
        values = fields.copy()
        values[1] = _stored_time(at)
        prev_hash = _chained(fields)
        values.append(prev_hash)
        rows.append(values)
        seqs.append(seq)
    cursor = db.cursor()
    cursor.executemany(_insert_sql(db.param), rows)
    return seqs


@functools.lru_cache(maxsize=4)
def _insert_sql(param: str) -> str:
    columns = ", ".join(f'"{c}"' for c in _INSERT_COLUMNS)
    marks = ", ".join([param] * len(_INSERT_COLUMNS))
    return f'INSERT INTO "audit_entry" ({columns}) VALUES ({marks})'


def _row(row: AuditEntry) -> dict[str, Any]:
    return {name: getattr(row, name) for name in COLUMNS}


@dataclass(frozen=True)
class ChainCheck:
    """What `verify_chain` found: `ok`, how many entries it walked, the first bad entry's seq
    and why (None when ok), and the last good hash (to keep elsewhere)."""

    ok: bool
    entries: int
    bad_seq: int | None = None
    reason: str = ""
    last_hash: str = GENESIS


def verify_chain(batch: int = 1000) -> ChainCheck:
    """Walk the whole log in seq order, in batches (not all in memory); stop at the first
    entry that breaks the chain."""
    expected, prev, walked = 1, GENESIS, 0
    while True:
        rows = list(AuditEntry.select().where(AuditEntry.seq >= expected)
                    .order_by(AuditEntry.seq).limit(batch))
        if not rows:
            return ChainCheck(True, walked, last_hash=prev)
        for row in rows:
            entry = _row(row)
            if row.seq != expected:
                return ChainCheck(False, walked, row.seq,
                                  f"entries {expected}..{row.seq - 1} are missing before it",
                                  prev)
            if row.prev_hash != prev:
                return ChainCheck(False, walked, row.seq,
                                  "its prev_hash is not the hash of the entry before it", prev)
            try:
                recomputed = entry_hash(prev, entry)
            except (TypeError, ValueError, AttributeError) as exc:
                return ChainCheck(False, walked, row.seq, f"it cannot be read: {exc}", prev)
            if recomputed != row.hash:
                return ChainCheck(False, walked, row.seq,
                                  "its contents do not match its hash (it was edited)", prev)
            prev, expected, walked = row.hash, expected + 1, walked + 1


def _filtered(action: str | None, actor: str | None, since_time: datetime | None):
    query = AuditEntry.select()
    if action:
        # "user" matches user.create, user.change...; "user.create" itself exactly.
        query = query.where((AuditEntry.action == action)
                            | AuditEntry.action.startswith(f"{action}."))
    if actor:
        query = query.where((AuditEntry.actor_name == actor) | (AuditEntry.actor_id == actor))
    if since_time is not None:
        query = query.where(AuditEntry.at >= since_time)
    return query


def list_entries(*, action: str | None = None, actor: str | None = None,
                 since_time: datetime | None = None, since: int | None = None,
                 before: int | None = None, limit: int = 50,
                 ascending: bool = False) -> list[dict[str, Any]]:
    """A page of entries as dicts (with `id` = seq, for the API's paging helpers)."""
    query = _filtered(action, actor, since_time)
    if since is not None:
        query = query.where(AuditEntry.seq > since)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    query = query.order_by(AuditEntry.seq if ascending else AuditEntry.seq.desc()).limit(limit)
    return [{**_row(r), "id": r.seq} for r in query]


def entries_after(seq: int, *, since_time: datetime | None = None,
                  limit: int = 1000) -> list[dict[str, Any]]:
    """Up to `limit` entries after `seq`, oldest first (one batch of an export)."""
    query = _filtered(None, None, since_time).where(AuditEntry.seq > seq)
    return [_row(r) for r in query.order_by(AuditEntry.seq).limit(limit)]


def iter_entries(*, since_time: datetime | None = None, batch: int = 1000
                 ) -> Iterator[dict[str, Any]]:
    """Every entry (from `since_time`), oldest first, read in batches."""
    seq = 0
    while True:
        rows = entries_after(seq, since_time=since_time, limit=batch)
        if not rows:
            return
        yield from rows
        seq = rows[-1]["seq"]
