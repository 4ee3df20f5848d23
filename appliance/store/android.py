"""What the "SMS Gateway for Android" local API reads and writes: one Android message's
messages, the SIMs in the order `simNumber` counts them, and its webhook endpoints.

Knows: the Message, MessageEvent and Sim tables, and how an Android message is kept: its
recipients' messages carry `client_ref = ID_REF_PREFIX + <Android id>` (numbered by
client_ref_seq in recipient order, as every multi-recipient request is), so the id is written
in the same transaction as the messages and found through the unique index on
(submitter_kind, submitter_id, client_ref, client_ref_seq): no table of its own, as playSMS's
queue codes (store.playsms). The recipients that were left out (blacklisted, a duplicate...)
are rows of `android_refusal` (migration 18) under the key and the Android id, each with its
position in the request's phoneNumbers, so the answer can list every recipient in order.

Its webhooks are rows of the `webhook` table (store.webhooks fans events out to them and the
deliverer sends them) with `format = 'android'`, the registering key in `api_key_id` and the
Android id in `client_ref` (migration 9); their events are ours (sms.received,
message.sent...), the adapter maps the Android names onto them.
Must not know: HTTP, the Android API's shapes (compat.android_api).

Every function is synchronous, meant to run inside `Store.read`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from peewee import fn

from appliance.store import webhooks as store_webhooks
from appliance.store.models import AndroidRefusal, Message, MessageEvent, Sim, Webhook

ID_REF_PREFIX = "android:"


def id_ref(android_id: str) -> str:
    return ID_REF_PREFIX + android_id


def messages_of(*, key_id: int, android_id: str) -> list[dict[str, Any]]:
    """This key's messages of one Android message, in recipient order (none: no such id)."""
    rows = (Message
            .select(Message.id, Message.recipient, Message.state, Message.error,
                    Message.created_at, Message.text)
            .where((Message.submitter_kind == "api_key")
                   & (Message.submitter_id == str(key_id))
                   & (Message.client_ref == id_ref(android_id)))
            .order_by(Message.client_ref_seq))
    return [{"id": r.id, "recipient": r.recipient, "state": r.state, "error": r.error,
             "created_at": r.created_at, "text": r.text} for r in rows]


def save_refusals(*, key_id: int, android_id: str, refused: list[tuple[int, str, str]],
                  now: datetime, replace: bool = False) -> None:
    """Remember the recipients of this key's Android message that were left out: each
    (position in the request's phoneNumbers, number, why). Saving them again is harmless:
    a position already saved keeps its row, or with `replace` takes this number and why."""
    if not refused:
        return
    insert = AndroidRefusal.insert_many(
        [{"api_key_id": key_id, "android_id": android_id, "position": position,
          "recipient": number, "error": error, "created_at": now}
         for position, number, error in refused])
    if replace:
        insert = insert.on_conflict(
            conflict_target=[AndroidRefusal.api_key_id, AndroidRefusal.android_id,
                             AndroidRefusal.position],
            preserve=[AndroidRefusal.recipient, AndroidRefusal.error])
    else:
        insert = insert.on_conflict_ignore()
    insert.execute()


def texted_before(numbers: list[str], text: str, *, key_id: int,
                  android_id: str) -> set[str]:
    """Which of `numbers` were sent `text` by another message than this key's Android message
    (a refusal as a duplicate could have come from it): by the (recipient, id) index."""
    if not numbers:
        return set()
    rows = (Message.select(Message.recipient)
            .where(Message.recipient.in_(numbers) & (Message.text == text)
                   & ~((Message.submitter_kind == "api_key")
                       & (Message.submitter_id == str(key_id))
                       & (Message.client_ref == id_ref(android_id))))
            .distinct())
    return {r.recipient for r in rows}


def refusals_of(*, key_id: int, android_id: str) -> list[dict[str, Any]]:
    """The left-out recipients of this key's Android message, in request order."""
    rows = (AndroidRefusal
            .select(AndroidRefusal.position, AndroidRefusal.recipient, AndroidRefusal.error)
            .where((AndroidRefusal.api_key_id == key_id)
                   & (AndroidRefusal.android_id == android_id))
            .order_by(AndroidRefusal.position))
    return [{"position": r.position, "recipient": r.recipient, "error": r.error} for r in rows]


def android_ids(*, key_id: int, created_from: datetime | None = None,
                created_to: datetime | None = None, ascending: bool = False, limit: int,
                offset: int = 0) -> list[str]:
    """The ids of this key's Android messages, newest first unless `ascending` (by their first
    message), `offset` of them skipped (`created_from` and `created_to` inclusive).

    One row per Android message: its first (client_ref_seq 0; a request's messages share
    their created_at), found in the (submitter, client_ref, client_ref_seq) index, which
    holds every column looked at but created_at, and sorted by id there: no GROUP BY over
    every message of the key, no table row read unless a time bounds the listing."""
    m = Message
    where = [m.submitter_kind == "api_key", m.submitter_id == str(key_id),
             m.client_ref_seq == 0,
             # not startswith: SQL's LIKE ignores case ("ANDROID:x" is a JSON API client_ref)
             fn.SUBSTR(m.client_ref, 1, len(ID_REF_PREFIX)) == ID_REF_PREFIX]
    if created_from is not None:
        where.append(m.created_at >= created_from)
    if created_to is not None:
        where.append(m.created_at <= created_to)
    rows = (m.select(m.client_ref).where(*where)
            .order_by(m.id.asc() if ascending else m.id.desc()).limit(limit).offset(offset))
    return [r.client_ref[len(ID_REF_PREFIX):] for r in rows]


def messages_of_many(*, key_id: int, android_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """`messages_of` for several Android ids of this key in one query: id -> its messages."""
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in android_ids}
    if not android_ids:
        return out
    rows = (Message
            .select(Message.id, Message.recipient, Message.state, Message.error,
                    Message.created_at, Message.text, Message.client_ref)
            .where((Message.submitter_kind == "api_key")
                   & (Message.submitter_id == str(key_id))
                   & Message.client_ref.in_([id_ref(i) for i in android_ids]))
            .order_by(Message.client_ref, Message.client_ref_seq))
    for r in rows:
        out[r.client_ref[len(ID_REF_PREFIX):]].append(
            {"id": r.id, "recipient": r.recipient, "state": r.state, "error": r.error,
             "created_at": r.created_at, "text": r.text})
    return out


def refusals_of_many(*, key_id: int,
                     android_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """`refusals_of` for several Android ids of this key in one query: id -> its refusals."""
    out: dict[str, list[dict[str, Any]]] = {i: [] for i in android_ids}
    if not android_ids:
        return out
    rows = (AndroidRefusal
            .select(AndroidRefusal.android_id, AndroidRefusal.position,
                    AndroidRefusal.recipient, AndroidRefusal.error)
            .where((AndroidRefusal.api_key_id == key_id)
                   & AndroidRefusal.android_id.in_(android_ids))
            .order_by(AndroidRefusal.android_id, AndroidRefusal.position))
    for r in rows:
        out[r.android_id].append({"position": r.position, "recipient": r.recipient,
                                  "error": r.error})
    return out


def events_by_message(message_ids: list[int]) -> dict[int, list[tuple[str, datetime]]]:
    """`events_of` for each of these messages in one query: message id -> its events."""
    out: dict[int, list[tuple[str, datetime]]] = {i: [] for i in message_ids}
    if not message_ids:
        return out
    rows = (MessageEvent.select(MessageEvent.message_id, MessageEvent.new_state,
                                MessageEvent.at)
            .where(MessageEvent.message.in_(message_ids)).order_by(MessageEvent.id))
    for r in rows:
        out[r.message_id].append((r.new_state, r.at))
    return out


def sim_numbers() -> dict[str, int]:
    """Each enabled SIM's `simNumber` (1-based, in ICCID order, as `sim_by_number` counts)."""
    rows = Sim.select(Sim.iccid).where(Sim.enabled).order_by(Sim.iccid)
    return {r.iccid: n for n, r in enumerate(rows, start=1)}


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


ANDROID = "android"


def _hook_view(w: Webhook) -> dict[str, Any]:
    return {"ref": w.client_ref, "url": w.url, "events": w.events.split(",")}


def save_webhook(*, key_id: int, ref: str, url: str, events: list[str],
                 now: datetime) -> dict[str, Any]:
    """This key's endpoint `ref`, created or (the same ref again) replaced with `url` and
    `events`; a new one gets a new signing secret, returned with the view."""
    url = store_webhooks.check_url(url)
    names = store_webhooks.check_events(events)
    w = Webhook.get_or_none((Webhook.api_key_id == key_id) & (Webhook.client_ref == ref))
    if w is None:
        view = store_webhooks.create_endpoint(url, names, now,
                                              description=f"Android API: {ref}")
        Webhook.update(format=ANDROID, api_key_id=key_id, client_ref=ref).where(
            Webhook.id == view["id"]).execute()
        w = Webhook.get_by_id(view["id"])
    else:
        if not w.enabled:  # re-enabled: it must not hear what went by while it was off
            store_webhooks.restart_cursors_if_idle()
        Webhook.update(url=url, events=",".join(names), enabled=True, updated_at=now).where(
            Webhook.id == w.id).execute()
        w = Webhook.get_by_id(w.id)
    return {**_hook_view(w), "secret": w.secret}


def webhooks_of(key_id: int) -> list[dict[str, Any]]:
    """This key's endpoints, oldest first."""
    rows = (Webhook.select().where((Webhook.format == ANDROID) & (Webhook.api_key_id == key_id))
            .order_by(Webhook.id))
    return [_hook_view(w) for w in rows]


def delete_webhook(*, key_id: int, ref: str) -> bool:
    """Delete this key's endpoint `ref` (its pending deliveries with it); False if none."""
    w = Webhook.get_or_none((Webhook.format == ANDROID) & (Webhook.api_key_id == key_id)
                            & (Webhook.client_ref == ref))
    if w is None:
        return False
    store_webhooks.delete_endpoint(w.id)
    return True


__all__ = ["ANDROID", "ID_REF_PREFIX", "android_ids", "delete_webhook", "events_by_message",
           "events_of", "id_ref", "messages_of", "messages_of_many", "refusals_of",
           "refusals_of_many", "save_refusals", "save_webhook", "sim_by_number", "sim_numbers",
           "texted_before", "webhooks_of"]
