"""Dedupe's read of the outbox: the same text already accepted for these numbers lately.

Knows: the message table's content_hash column and its (content_hash, recipient, created_at)
index (migration 12), and which states count as sent or about to be.
Must not know: how the hash is made or the window chosen (appliance.policy.dedupe), HTTP.
Runs inside `Store.read`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from appliance.store.models import Message
from appliance.store.states import MessageState

M = MessageState
NOT_SENT = (M.CANCELLED.value, M.FAILED.value, M.EXPIRED.value)
"""States of a message that never reached its recipient and never will: no later copy is its
duplicate. Everything else counts — held (approval) and queued included: a double click sends
the second copy while the first still waits."""
CHUNK = 500  # recipients per IN (...): SQLite's old bound on host parameters is 999


def copies_since(content_hash: int, recipients: Sequence[str], since: datetime,
                 replay_of: tuple[str, str, str] | None = None,
                 ) -> dict[str, tuple[int, datetime]]:
    """recipient -> (id, created_at) of the latest message with this content hash accepted
    for it after `since` and not cancelled, failed or expired. One indexed read per CHUNK
    recipients. `replay_of` (submitter_kind, submitter_id, client_ref): messages stored under
    that key are not copies but the request itself, retried (acceptance answers it with the
    same ids).

    Plain SQL, its text cached per chunk size: asked once per send request, where peewee's
    query building cost ~0.5 ms, several times the indexed read itself."""
    db = _database()
    since_value = Message.created_at.db_value(since)
    created = Message.created_at.python_value
    found: dict[str, tuple[int, datetime]] = {}
    wanted = sorted(set(recipients))
    for i in range(0, len(wanted), CHUNK):
        chunk = wanted[i:i + CHUNK]
        sql = _copies_sql(db.param, db.quote, len(chunk))
        cursor = db.execute_sql(sql, [content_hash, *chunk, since_value, *NOT_SENT])
        for recipient, mid, created_at, *key in cursor.fetchall():
            if replay_of is not None and tuple(key) == replay_of:
                continue
            found[recipient] = (mid, created(created_at))  # by id: the latest wins
    return found


def _database():  # noqa: ANN202 - peewee.Database behind the proxy
    db = Message._meta.database
    return getattr(db, "obj", None) or db


@functools.lru_cache(maxsize=64)
def _copies_sql(param: str, quotes: str, recipients: int) -> str:
    def q(name: str) -> str:
        return name.join(quotes)

    columns = ", ".join(q(c) for c in ("recipient", "id", "created_at", "submitter_kind",
                                       "submitter_id", "client_ref"))
    return (f"SELECT {columns} FROM {q('message')} WHERE {q('content_hash')} = {param} "
            f"AND {q('recipient')} IN ({', '.join([param] * recipients)}) "
            f"AND {q('created_at')} > {param} "
            f"AND {q('state')} NOT IN ({', '.join([param] * len(NOT_SENT))}) "
            f"ORDER BY {q('id')}")


__all__ = ["NOT_SENT", "copies_since"]


def recent_keys(since: datetime, limit: int) -> list[tuple[int, str, datetime]]:
    """(content hash, recipient, created_at) of up to `limit` messages accepted after `since`,
    whatever their state: dedupe seeds its in-memory record of what may have a copy with them
    (a superset is fine: a key found there is then read with `copies_since`)."""
    db = _database()
    q = db.quote
    sql = (f"SELECT {'content_hash'.join(q)}, {'recipient'.join(q)}, {'created_at'.join(q)} "
           f"FROM {'message'.join(q)} WHERE {'content_hash'.join(q)} IS NOT NULL "
           f"AND {'created_at'.join(q)} > {db.param} LIMIT {int(limit)}")
    created = Message.created_at.python_value
    return [(h, r, created(c)) for h, r, c in
            db.execute_sql(sql, [Message.created_at.db_value(since)]).fetchall()]
