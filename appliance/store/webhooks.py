"""Webhook endpoints and the durable queue of deliveries to them.

Knows: the `webhook` and `webhook_delivery` tables, which event names exist, what a valid
endpoint is (URL, events, secret), how an event fans out to the endpoints subscribed to it,
the payload of each event (read from the rows the event tells of, after their commit), the two
catch-up cursors in `setting`, and the queries the delivery worker needs.
Must not know: HTTP, signing, retry policy, clocks (times are passed in), the event loop.

Every function runs inside the store's writer (`await store.write(...)`) or a read
(`await store.read(...)`), like every store function.

Event names: `sms.received`, and `message.<state>` for the outbound states worth telling a LAN
device about (sent, delivered, failed, expired, ambiguous, cancelled): the intermediate states
(queued, sending, held) churn and tell a receiver nothing it can act on. `*` subscribes to
every event, including ones added later. `webhook.test` goes only to the endpoint it tests.

Rows for the SMS Gateway for Android API (issue 9) fit here as they are: its webhook is an
endpoint with one event.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import peewee

from appliance.store.db import UtcDateTimeField
from appliance.store.models import Message, MessageEvent, Setting, Webhook, WebhookDelivery

SMS_RECEIVED = "sms.received"
TEST_EVENT = "webhook.test"
STATE_EVENTS: dict[str, str] = {
    "sent": "message.sent",
    "delivered": "message.delivered",
    "failed": "message.failed",
    "expired": "message.expired",
    "ambiguous": "message.ambiguous",
    "cancelled": "message.cancelled",
}
APPROVAL_DECIDED = "approval.decided"  # a held send request approved or rejected
EVENTS: tuple[str, ...] = (SMS_RECEIVED, *STATE_EVENTS.values(), APPROVAL_DECIDED)
ALL_EVENTS = "*"

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVERY_STATES = (PENDING, DELIVERED, FAILED)

MAX_URL = 2048
MAX_SECRET = 255
MAX_DESCRIPTION = 1000
SECRET_BYTES = 32
FAN_OUT_CHUNK = 2000
MESSAGE_EVENT_CURSOR = "webhooks.cursor.message_event"
INBOX_CURSOR = "webhooks.cursor.inbox_message"  # message_event rows read per writer job


class WebhookInvalid(ValueError):
    """Bad endpoint data; `field` names the field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class WebhookNotFound(LookupError):
    pass


# -- validation ------------------------------------------------------------------------------

def _check_unicode(field: str, value: str) -> None:
    """Storable as UTF-8: a lone surrogate (JSON "\ud800") would fail the INSERT, a 500."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WebhookInvalid(field, f"is not valid Unicode at position {exc.start}") from None


def check_url(url: Any, field: str = "url") -> str:
    """An absolute http:// or https:// URL with a host; returned as given (trimmed)."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookInvalid(field, "must be an http:// or https:// URL")
    url = url.strip()
    if len(url) > MAX_URL:
        raise WebhookInvalid(field, f"longer than {MAX_URL} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise WebhookInvalid(field, "must not contain spaces or control characters")
    _check_unicode(field, url)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise WebhookInvalid(field, f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise WebhookInvalid(field, f"only http:// and https:// URLs can receive webhooks, "
                                    f"got {parts.scheme + ':' if parts.scheme else 'no scheme'}")
    if not parts.hostname:
        raise WebhookInvalid(field, "has no host")
    if port == 0:
        raise WebhookInvalid(field, "port 0 cannot be connected to")
    return url


def check_events(events: Any) -> list[str]:
    """A non-empty list of known event names (or `*`); duplicates dropped, order kept."""
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, list) or not events:
        raise WebhookInvalid("events", f'must be a non-empty list of event names '
                                       f'({", ".join(EVENTS)}) or ["*"]')
    out: list[str] = []
    for name in events:
        if not isinstance(name, str) or (name not in EVENTS and name != ALL_EVENTS):
            raise WebhookInvalid("events", f"unknown event {name!r} "
                                           f'(known: {", ".join(EVENTS)}, or "*")')
        if name not in out:
            out.append(name)
    return [ALL_EVENTS] if ALL_EVENTS in out else out


def check_secret(secret: Any) -> str:
    if not isinstance(secret, str):
        raise WebhookInvalid("secret", "must be a string")
    if len(secret) > MAX_SECRET:
        raise WebhookInvalid("secret", f"longer than {MAX_SECRET} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in secret):
        raise WebhookInvalid("secret", "must not contain control characters")
    _check_unicode("secret", secret)
    return secret


def check_description(text: Any) -> str:
    if not isinstance(text, str):
        raise WebhookInvalid("description", "must be a string")
    if len(text) > MAX_DESCRIPTION:
        raise WebhookInvalid("description", f"longer than {MAX_DESCRIPTION} characters")
    _check_unicode("description", text)
    return text


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


# -- endpoints -------------------------------------------------------------------------------

def _endpoint_view(w: Webhook, *, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": w.id, "url": w.url, "events": w.events.split(","), "enabled": bool(w.enabled),
        "description": w.description, "created_at": w.created_at, "updated_at": w.updated_at,
        "signed": bool(w.secret),
    }
    if with_secret:
        out["secret"] = w.secret
    return out


def create_endpoint(url: Any, events: Any, now: datetime, *, secret: Any = None,
                    description: Any = "", enabled: Any = True) -> dict[str, Any]:
    """A new endpoint; its view includes the secret (generated when not given): the only time
    it is shown."""
    url = check_url(url)
    names = check_events(events)
    secret = new_secret() if secret is None else check_secret(secret)
    if not isinstance(enabled, bool):
        raise WebhookInvalid("enabled", "must be true or false")
    if enabled:
        restart_cursors_if_idle()
    w = Webhook.create(url=url, events=",".join(names), secret=secret, enabled=enabled,
                       description=check_description(description), created_at=now,
                       updated_at=now)
    return _endpoint_view(w, with_secret=True)


def _visible(query: peewee.ModelSelect, owner: int | None) -> peewee.ModelSelect:
    """`query` cut to the endpoints the API key `owner` may see: those it registered
    (`api_key_id`: the Android API's, which hear only that key's messages); None: every one
    (an admin key). Endpoints made through /api/v1/webhooks (admin only) have no key and hear
    every message: their deliveries tell of other keys' traffic, so only an admin sees them."""
    return query if owner is None else query.where(Webhook.api_key_id == owner)


def list_endpoints(owner: int | None = None) -> list[dict[str, Any]]:
    """The endpoints `owner` may see (`_visible`), oldest first."""
    return [_endpoint_view(w) for w in _visible(Webhook.select(), owner).order_by(Webhook.id)]


def _get(webhook_id: int, owner: int | None = None) -> Webhook:
    """The endpoint, if it exists and `owner` may see it (`_visible`): the same
    WebhookNotFound either way (one query), so ids tell nothing of other keys' endpoints."""
    w = _visible(Webhook.select().where(Webhook.id == webhook_id), owner).first()
    if w is None:
        raise WebhookNotFound(f"no webhook with id {webhook_id}")
    return w


def get_endpoint(webhook_id: int, *, recent: int = 20, owner: int | None = None
                 ) -> dict[str, Any]:
    """The endpoint, its `recent` latest deliveries and its delivery counts by state, if
    `owner` may see it (`_visible`; None: an admin)."""
    view = _endpoint_view(_get(webhook_id, owner))
    rows = (WebhookDelivery.select().where(WebhookDelivery.webhook == webhook_id)
            .order_by(WebhookDelivery.id.desc()).limit(recent))
    view["deliveries"] = [_delivery_view(d) for d in rows]
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    query = (WebhookDelivery.select(WebhookDelivery.state, peewee.fn.COUNT(WebhookDelivery.id))
             .where(WebhookDelivery.webhook == webhook_id).group_by(WebhookDelivery.state))
    for state, count in query.tuples():
        counts[state] = count
    view["counts"] = counts
    return view


def _delivery_view(d: WebhookDelivery) -> dict[str, Any]:
    return {"id": d.id, "event": d.event, "state": d.state, "attempts": d.attempts,
            "last_status": d.last_status, "last_error": d.last_error or None,
            "created_at": d.created_at, "delivered_at": d.delivered_at,
            "next_attempt_at": d.next_attempt_at if d.state == PENDING else None,
            "payload": json.loads(d.payload)}


UPDATABLE = ("url", "events", "secret", "description", "enabled")


def update_endpoint(webhook_id: int, changes: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Change some of url, events, secret, description, enabled. Pending deliveries go to the
    new URL, signed with the new secret. The view shows the secret only if it was changed."""
    w = _get(webhook_id)
    for name in changes:
        if name not in UPDATABLE:
            raise WebhookInvalid(name, f"unknown field (can change: {', '.join(UPDATABLE)})")
    if "url" in changes:
        w.url = check_url(changes["url"])
    if "events" in changes:
        w.events = ",".join(check_events(changes["events"]))
    if "secret" in changes:
        w.secret = new_secret() if changes["secret"] is None else check_secret(changes["secret"])
    if "description" in changes:
        w.description = check_description(changes["description"])
    if "enabled" in changes:
        if not isinstance(changes["enabled"], bool):
            raise WebhookInvalid("enabled", "must be true or false")
        if changes["enabled"] and not w.enabled:
            restart_cursors_if_idle()
        w.enabled = changes["enabled"]
    w.updated_at = now
    w.save()
    return _endpoint_view(w, with_secret="secret" in changes)


def delete_endpoint(webhook_id: int) -> None:
    """The endpoint and every delivery to it, pending ones included."""
    _get(webhook_id)
    WebhookDelivery.delete().where(WebhookDelivery.webhook == webhook_id).execute()
    Webhook.delete().where(Webhook.id == webhook_id).execute()


# -- turning events into deliveries -----------------------------------------------------------

def any_enabled() -> bool:
    """Whether some endpoint is enabled: without one, the deliverer writes no rows and moves
    no cursor (events cost nothing), and the next endpoint enabled restarts the cursors."""
    db = Webhook._meta.database  # plain SQL: asked for each batch of hub events
    return db.execute_sql('SELECT 1 FROM "webhook" WHERE "enabled" LIMIT 1').fetchone() \
        is not None


def restart_cursors_if_idle() -> None:
    """Called in the transaction that enables an endpoint: when none was enabled, the cursors
    stood still while events went by; they move to the newest rows now, so the new endpoint
    hears what happens from now on, not the history since the last endpoint went."""
    if any_enabled():
        return
    db = Webhook._meta.database
    last = db.execute_sql('SELECT MAX("id") FROM "message_event"').fetchone()[0] or 0
    _set_cursor(MESSAGE_EVENT_CURSOR, last)
    if db.table_exists("inbox_message"):
        last = db.execute_sql('SELECT MAX("id") FROM "inbox_message"').fetchone()[0] or 0
        _set_cursor(INBOX_CURSOR, last)


def _subscribers() -> list[tuple[int, frozenset[str], int | None]]:
    """(id, events, owning API key or None) of each enabled endpoint."""
    return [(wid, frozenset(events.split(",")), key) for wid, events, key in
            Webhook.select(Webhook.id, Webhook.events, Webhook.api_key_id)
            .where(Webhook.enabled == True)  # noqa: E712
            .order_by(Webhook.id).tuples()]


def _anyone_hears_messages() -> bool:
    """Whether an enabled endpoint subscribes to some message.* event (or to all)."""
    wanted = {ALL_EVENTS, *STATE_EVENTS.values()}
    return any(events & wanted for _, events, _ in _subscribers())


def _fan_out(items: list[tuple[str, dict[str, Any]]], now: datetime,
             owners: list[str | None] | None = None) -> int:
    """Insert one pending row per (subscribed enabled endpoint, event). An endpoint an API
    key registered (the Android API's, migration 9) hears only the message events of that
    key's own messages (`owners`: each item's submitting key id, None when not a key)."""
    subscribers = _subscribers()
    rows = []
    for i, (event, payload) in enumerate(items):
        text = None
        owner = owners[i] if owners is not None else None
        for wid, events, key in subscribers:
            if key is not None and owners is not None and owner != str(key):
                continue
            if event in events or ALL_EVENTS in events:
                text = text or json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                rows.append({"webhook": wid, "event": event, "payload": text, "state": PENDING,
                             "attempts": 0, "next_attempt_at": now, "created_at": now})
    for start in range(0, len(rows), 200):  # SQLite caps the parameters of one statement
        WebhookDelivery.insert_many(rows[start:start + 200]).execute()
    return len(rows)


def _cursor(key: str, table: str) -> int:
    """The last id of `table` already turned into deliveries. The first time (no row yet: the
    deliverer's first start, when no endpoint can exist), the table's last id: history is
    not replayed."""
    row = Setting.get_or_none(Setting.key == key)
    if row is not None and row.value.isdigit():
        return int(row.value)
    db = Webhook._meta.database
    last = db.execute_sql(f'SELECT MAX("id") FROM "{table}"').fetchone()[0] or 0
    _set_cursor(key, last)
    return last


def _set_cursor(key: str, value: int) -> None:
    if Setting.update(value=str(value)).where(Setting.key == key).execute() == 0:
        Setting.create(key=key, value=str(value))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def record_message_events(now: datetime, limit: int = FAN_OUT_CHUNK) -> tuple[int, bool]:
    """Turn the `message_event` rows after the cursor whose new state has an event name into
    deliveries, and advance the cursor, in this one transaction. Returns (rows written,
    whether more events are waiting beyond `limit`).

    The hub's MessageStateChanged only says "look now": the rows are the durable source, so
    an event the hub dropped or a crash before this job committed costs nothing."""
    if not _anyone_hears_messages():  # the usual box: endpoints for sms.received alone
        db = Webhook._meta.database
        last = db.execute_sql('SELECT MAX("id") FROM "message_event"').fetchone()[0] or 0
        _set_cursor(MESSAGE_EVENT_CURSOR, last)
        return 0, False
    cursor = _cursor(MESSAGE_EVENT_CURSOR, "message_event")
    events = list(MessageEvent.select(MessageEvent.id, MessageEvent.message, MessageEvent.at,
                                      MessageEvent.new_state, MessageEvent.sim,
                                      MessageEvent.detail)
                  .where(MessageEvent.id > cursor).order_by(MessageEvent.id).limit(limit))
    if not events:
        return 0, False
    wanted = [e for e in events if e.new_state in STATE_EVENTS]
    messages: dict[int, Message] = {}
    ids = sorted({e.message_id for e in wanted})
    for start in range(0, len(ids), 500):
        query = (Message.select(Message.id, Message.recipient, Message.sim, Message.error,
                                Message.client_ref, Message.parts_count,
                                Message.submitter_kind, Message.submitter_id)
                 .where(Message.id.in_(ids[start:start + 500])))
        messages.update((m.id, m) for m in query)
    items = []
    owners: list[str | None] = []
    for e in wanted:
        m = messages.get(e.message_id)
        if m is None:  # deleted since (retention): nothing left to tell
            continue
        owners.append(m.submitter_id if m.submitter_kind == "api_key" else None)
        items.append((STATE_EVENTS[e.new_state], {
            "id": m.id, "recipient": m.recipient, "state": e.new_state,
            "sim": e.sim or m.sim, "error": (e.detail or m.error or None)
            if e.new_state not in ("sent", "delivered") else None,
            "client_ref": m.client_ref, "parts": m.parts_count, "time": _iso(e.at)}))
    written = _fan_out(items, now, owners)
    _set_cursor(MESSAGE_EVENT_CURSOR, events[-1].id)
    return written, len(events) == limit


INBOX_COLUMNS_USED = frozenset({"id", "sender", "number", "text", "sim", "modem", "received_at",
                                "partial", "parts_received", "parts_total"})


def inbox_available() -> bool:
    """Whether the inbox's `inbox_message` table exists with the columns read here (the
    interface of issue 8's plan). Without it, SmsReceived payloads come from the events
    alone and there is no inbox catch-up: a mismatch must not fail every fan-out."""
    db = Webhook._meta.database
    if not db.table_exists("inbox_message"):
        return False
    return INBOX_COLUMNS_USED <= {c.name for c in db.get_columns("inbox_message")}


_INBOX_COLUMNS = ('"id", "sender", "number", "text", "sim", "modem", "received_at", "partial"')
_TIME = UtcDateTimeField()


def _inbox_payload(row: tuple) -> dict[str, Any]:
    inbox_id, sender, number, text, sim, modem, received_at, partial = row
    received_at = _TIME.python_value(received_at)
    return {"id": inbox_id, "sender": sender, "number": number, "text": text, "sim": sim,
            "modem": modem, "received_at": _iso(received_at), "partial": bool(partial)}


def _inbox_rows(ids: list[int]) -> dict[int, dict[str, Any]]:
    db = Webhook._meta.database
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join([db.param] * len(chunk))
        cursor = db.execute_sql(f'SELECT {_INBOX_COLUMNS} FROM "inbox_message" '
                                f'WHERE "id" IN ({marks})', chunk)
        for row in cursor.fetchall():
            out[row[0]] = _inbox_payload(row)
    return out


def record_sms(received: list[dict[str, Any]], now: datetime, *,
               inbox_table: bool) -> int:
    """Deliveries for SmsReceived events (`received`: the events' fields: inbox_id, sender,
    text, sim, partial, at). With the inbox table, the payload is read from its committed
    row (number, modem, arrival time); without it, from the event. Advances the inbox cursor
    to the highest id seen (with the table)."""
    if not received:
        return 0
    rows = _inbox_rows([r["inbox_id"] for r in received]) if inbox_table else {}
    items = []
    for r in received:
        payload = rows.get(r["inbox_id"]) or {
            "id": r["inbox_id"], "sender": r["sender"], "number": r["sender"],
            "text": r["text"], "sim": r["sim"], "modem": "", "received_at": _iso(r["at"]),
            "partial": bool(r["partial"])}
        items.append((SMS_RECEIVED, payload))
    written = _fan_out(items, now)
    top = max(r["inbox_id"] for r in received)
    if inbox_table and top > _cursor(INBOX_CURSOR, "inbox_message"):
        _set_cursor(INBOX_CURSOR, top)
    return written


def record_approvals(decided: list[dict[str, Any]], now: datetime) -> int:
    """Deliveries for ApprovalDecided events (their `as_dict()`: approval_id, state,
    decided_by, reason, message_ids, at)."""
    items = [(APPROVAL_DECIDED, {k: v for k, v in d.items() if k != "event"}) for d in decided]
    return _fan_out(items, now)


def catch_up_sms(now: datetime, limit: int = FAN_OUT_CHUNK) -> tuple[list[int], bool]:
    """At start: inbox messages after the cursor (stored, but their deliveries never written:
    a crash between the inbox's commit and ours), complete or partial, turned into deliveries.
    Returns (their ids, whether more remain)."""
    cursor = _cursor(INBOX_CURSOR, "inbox_message")
    db = Webhook._meta.database
    rows = db.execute_sql(
        f'SELECT {_INBOX_COLUMNS} FROM "inbox_message" WHERE "id" > {db.param} '
        f'AND ("partial" OR "parts_received" >= "parts_total") ORDER BY "id" LIMIT {db.param}',
        (cursor, limit)).fetchall()
    if not rows:
        return [], False
    _fan_out([(SMS_RECEIVED, _inbox_payload(row)) for row in rows], now)
    _set_cursor(INBOX_CURSOR, rows[-1][0])
    return [row[0] for row in rows], len(rows) == limit


def enqueue_url(url: str, event: str, payload: dict[str, Any] | None, secret: str,
                now: datetime) -> int:
    """A bare-URL delivery (no endpoint row): the rules engine's "POST to a webhook". With
    `payload` None it is a GET of the URL (a Kannel dlr-url), stored with an empty payload."""
    url = check_url(url)
    if not isinstance(event, str) or not event or len(event) > 64:
        raise WebhookInvalid("event", "must be a name of 1 to 64 characters")
    return WebhookDelivery.insert(
        webhook=None, url=url, secret=check_secret(secret), event=event,
        payload="" if payload is None else json.dumps(payload, ensure_ascii=False,
                                                      separators=(",", ":")),
        state=PENDING, attempts=0, next_attempt_at=now, created_at=now).execute()


def enqueue_test(webhook_id: int, now: datetime) -> int:
    """A `webhook.test` delivery to this endpoint alone (whatever it subscribes to)."""
    w = _get(webhook_id)
    payload = {"webhook": w.id, "message": "a test delivery from cardgate", "time": _iso(now)}
    return WebhookDelivery.insert(
        webhook=w.id, event=TEST_EVENT, state=PENDING, attempts=0, next_attempt_at=now,
        created_at=now, payload=json.dumps(payload, separators=(",", ":"))).execute()


# -- the worker's queries ---------------------------------------------------------------------

@dataclass(frozen=True)
class Due:
    """A pending delivery, with where it goes and the key it is signed with."""

    id: int
    target: str  # "w<id>" for an endpoint, the URL for a bare-URL row: the concurrency key
    url: str
    secret: str
    event: str
    payload: str  # JSON text
    attempts: int
    created_at: datetime
    format: str = "cardgate"  # an endpoint's (migration 9); a bare-URL row's is ours
    endpoint_ref: str = ""  # an android endpoint's id as that API names it


def _pending_where(skip_webhooks: list[int], skip_urls: list[str]) -> list[Any]:
    d, w = WebhookDelivery, Webhook
    where = [d.state == PENDING, (d.webhook.is_null()) | (w.enabled == True)]  # noqa: E712
    if skip_webhooks:
        where.append(d.webhook.is_null() | d.webhook.not_in(skip_webhooks))
    if skip_urls:
        where.append(d.webhook.is_null(False) | d.url.not_in(skip_urls))
    return where


def due_deliveries(now: datetime, limit: int, *, skip_ids: list[int], skip_webhooks: list[int],
                   skip_urls: list[str]) -> list[Due]:
    """Pending rows due by `now`, oldest due first, leaving out the rows in flight and the
    targets that are blocked or full, and endpoints that are disabled."""
    d, w = WebhookDelivery, Webhook
    where = _pending_where(skip_webhooks, skip_urls)
    where.append(d.next_attempt_at <= now)
    if skip_ids:
        where.append(d.id.not_in(skip_ids))
    query = (d.select(d.id, d.webhook, d.url, d.secret, d.event, d.payload, d.attempts,
                      d.created_at, w.url.alias("w_url"), w.secret.alias("w_secret"),
                      w.format.alias("w_format"), w.client_ref.alias("w_ref"))
             .join(w, peewee.JOIN.LEFT_OUTER, on=(d.webhook == w.id))
             .where(*where).order_by(d.next_attempt_at, d.id).limit(limit))
    out = []
    for row in query.dicts():
        wid = row["webhook"]
        out.append(Due(
            id=row["id"], target=f"w{wid}" if wid is not None else row["url"],
            url=row["w_url"] if wid is not None else row["url"],
            secret=row["w_secret"] if wid is not None else row["secret"],
            event=row["event"], payload=row["payload"], attempts=row["attempts"],
            created_at=row["created_at"], format=row["w_format"] or "cardgate",
            endpoint_ref=row["w_ref"] or ""))
    return out


def next_due_at(*, skip_ids: list[int], skip_webhooks: list[int],
                skip_urls: list[str]) -> datetime | None:
    """When the earliest pending row (outside the rows in flight and the skipped targets)
    falls due; None if none."""
    d, w = WebhookDelivery, Webhook
    where = _pending_where(skip_webhooks, skip_urls)
    if skip_ids:
        where.append(d.id.not_in(skip_ids))
    query = (d.select(peewee.fn.MIN(d.next_attempt_at))
             .join(w, peewee.JOIN.LEFT_OUTER, on=(d.webhook == w.id))
             .where(*where))
    return _TIME.python_value(query.scalar())


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to, for `apply_outcomes`. `state` is pending (retry at `at`),
    delivered or failed (at `at`)."""

    id: int
    state: str
    attempts: int
    at: datetime
    status: int | None = None
    error: str = ""


def apply_outcomes(outcomes: list[Outcome]) -> None:
    """Record a batch of attempts: one UPDATE per outcome, in the caller's one transaction.
    A row deleted meanwhile (its endpoint deleted) is simply not there to update."""
    d = WebhookDelivery
    for o in outcomes:
        fields: dict[Any, Any] = {d.state: o.state, d.attempts: o.attempts,
                                  d.next_attempt_at: o.at, d.last_status: o.status,
                                  d.last_error: o.error[:1000]}
        if o.state == DELIVERED:
            fields[d.delivered_at] = o.at
        d.update(fields).where((d.id == o.id) & (d.state == PENDING)).execute()


def bring_forward(now: datetime, *, webhooks: list[int], urls: list[str]) -> int:
    """Make every pending row of these targets due now (a target that answered again: its
    backlog need not sit out the backoff of its earlier failures)."""
    d = WebhookDelivery
    count = 0
    if webhooks:
        count += d.update(next_attempt_at=now).where(
            (d.state == PENDING) & d.webhook.in_(webhooks) & (d.next_attempt_at > now)).execute()
    if urls:
        count += d.update(next_attempt_at=now).where(
            (d.state == PENDING) & d.webhook.is_null() & d.url.in_(urls)
            & (d.next_attempt_at > now)).execute()
    return count


def prune(before: datetime, limit: int = 5000) -> int:
    """Delete up to `limit` delivered or failed rows that became final before `before`
    (an index range on (state, next_attempt_at)); returns how many."""
    d = WebhookDelivery
    old = (d.select(d.id).where(d.state.in_([DELIVERED, FAILED]) & (d.next_attempt_at < before))
           .limit(limit))
    return d.delete().where(d.id.in_(old)).execute()


def delivery(delivery_id: int) -> dict[str, Any]:
    d = WebhookDelivery.get_or_none(WebhookDelivery.id == delivery_id)
    if d is None:
        raise WebhookNotFound(f"no delivery with id {delivery_id}")
    return _delivery_view(d) | {"webhook": d.webhook_id, "url": d.url}


def counts() -> dict[str, int]:
    """Deliveries by state, over every endpoint and bare URL."""
    out = dict.fromkeys(DELIVERY_STATES, 0)
    d = WebhookDelivery
    for state, count in d.select(d.state, peewee.fn.COUNT(d.id)).group_by(d.state).tuples():
        out[state] = count
    return out


__all__ = [
    "ALL_EVENTS", "APPROVAL_DECIDED", "DELIVERED", "EVENTS", "FAILED", "PENDING", "SMS_RECEIVED",
    "STATE_EVENTS",
    "TEST_EVENT", "Due", "Outcome", "WebhookInvalid", "WebhookNotFound", "apply_outcomes",
    "bring_forward", "catch_up_sms", "record_approvals", "check_events", "check_url", "counts",
    "create_endpoint",
    "delete_endpoint", "delivery", "due_deliveries", "enqueue_test", "enqueue_url",
    "get_endpoint", "inbox_available", "list_endpoints", "next_due_at", "prune",
    "record_message_events", "record_sms", "update_endpoint",
]
