"""What the "SMS Gateway for Android" local API reads: one Android message's messages, and
the SIMs in the order `simNumber` counts them.

Knows: the Message, MessageEvent and Sim tables, and how an Android message is kept: its
recipients' messages carry `client_ref = ID_REF_PREFIX + <Android id>` (numbered by
client_ref_seq in recipient order, as every multi-recipient request is), so the id is written
in the same transaction as the messages and found through the unique index on
(submitter_kind, submitter_id, client_ref, client_ref_seq): no table of its own, as playSMS's
queue codes (store.playsms).
Must not know: HTTP, the Android API's shapes (compat.android_api).

Every function is synchronous, meant to run inside `Store.read`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appliance.store.models import Message, MessageEvent, Sim

ID_REF_PREFIX = "android:"


def id_ref(android_id: str) -> str:
    return ID_REF_PREFIX + android_id


def messages_of(*, key_id: int, android_id: str) -> list[dict[str, Any]]:
    """This key's messages of one Android message, in recipient order (none: no such id)."""
    rows = (Message
            .select(Message.id, Message.recipient, Message.state, Message.error,
                    Message.created_at)
            .where((Message.submitter_kind == "api_key")
                   & (Message.submitter_id == str(key_id))
                   & (Message.client_ref == id_ref(android_id)))
            .order_by(Message.client_ref_seq))
    return [{"id": r.id, "recipient": r.recipient, "state": r.state, "error": r.error,
             "created_at": r.created_at} for r in rows]


def events_of(message_ids: list[int]) -> list[tuple[str, datetime]]:
    """Each (state reached, when) of these messages, oldest first."""
    if not message_ids:
        return []
    rows = (MessageEvent.select(MessageEvent.new_state, MessageEvent.at)
            .where(MessageEvent.message.in_(message_ids)).order_by(MessageEvent.id))
    return [(r.new_state, r.at) for r in rows]


def sim_by_number(sim_number: int) -> str | None:
    """The ICCID of the `sim_number`-th (1-based) enabled SIM in ICCID order, None beyond."""
    row = (Sim.select(Sim.iccid).where(Sim.enabled).order_by(Sim.iccid)
           .offset(sim_number - 1).limit(1).first())
    return row.iccid if row is not None else None


__all__ = ["ID_REF_PREFIX", "events_of", "id_ref", "messages_of", "sim_by_number"]
