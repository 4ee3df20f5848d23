"""Dedupe's read of the outbox: the same text already accepted for these numbers lately.

Knows: the message table's content_hash column and its (content_hash, recipient, created_at)
index (migration 12), and which states count as sent or about to be.
Must not know: how the hash is made or the window chosen (appliance.policy.dedupe), HTTP.
Runs inside `Store.read`.
"""

from __future__ import annotations

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
    for it after `since` and not cancelled, failed or expired. One indexed read per
    CHUNK recipients. `replay_of` (submitter_kind, submitter_id, client_ref): messages stored
    under that key are not copies but the request itself, retried (acceptance answers it with
    the same ids)."""
    found: dict[str, tuple[int, datetime]] = {}
    wanted = sorted(set(recipients))
    for i in range(0, len(wanted), CHUNK):
        query = (Message
                 .select(Message.recipient, Message.id, Message.created_at,
                         Message.submitter_kind, Message.submitter_id, Message.client_ref)
                 .where((Message.content_hash == content_hash)
                        & Message.recipient.in_(wanted[i:i + CHUNK])
                        & (Message.created_at > since)
                        & Message.state.not_in(NOT_SENT))
                 .order_by(Message.id)
                 .tuples())
        for recipient, mid, created_at, *key in query:
            if replay_of is not None and tuple(key) == replay_of:
                continue
            found[recipient] = (mid, created_at)  # by id: the latest wins
    return found


__all__ = ["NOT_SENT", "copies_since"]
