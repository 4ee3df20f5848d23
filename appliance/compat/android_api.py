"""The "SMS Gateway for Android" local API (`POST /messages`, `GET|DELETE /messages/{id}`) as
pure functions: a request body in, a send request out; our messages in, its answer out.

Knows: the JSON shapes its official clients send and parse (PyPI `android-sms-gateway` 4.x,
`domain.Message.asdict` and `domain.MessageState.from_dict`): camelCase fields, the state names
`Pending`, `Processed`, `Sent`, `Delivered`, `Failed`, `Cancelling`, `Cancelled` (the client
raises on any other), errors as `{"message": ...}`.
Must not know: HTTP frameworks, API keys, the store, SIMs. The adapter (`api/android.py`) feeds
it the parsed body and our stored rows.

The mapping (where the Android app has no answer of ours to copy):
- one Android message with N `phoneNumbers` is N of our messages, kept under one client_ref
  (`store.android`); its `id` is the caller's (kept, and idempotent per key: the same id
  again answers the same message) or one we make (21 URL-safe characters, like the app's).
- `simNumber` (1-based) is the n-th of our SIMs in ICCID order (the adapter resolves it):
  the message is pinned to that SIM as a reply is (intake's `via_sim`).
- `priority` (-128..127): 100 and above (the app's "bypass" threshold) is our `alert`
  category, below 0 `marketing`, the rest `notice`: a LAN device cannot overtake one-time
  codes through this door.
- `withDeliveryReport` is accepted and ignored: every message asks for a status report.
- `isEncrypted: true` is refused: we hold no passphrase to decrypt with.
- `dataMessage` and `mmsMessage` are refused: a data SMS or an MMS is not a text we can send.
- a recipient intake or the policy layer left out (blacklisted, a duplicate...) is listed at
  its place in `phoneNumbers` as Failed with the reason in `error`, as the app lists a
  recipient it could not send to (the adapter keeps them: `store.android`), and the message
  is Cancelled all the same once its accepted recipients all are; a request whose
  every recipient is left out is refused (400 or the policy's status), as before.
- `GET /health` is the app's health in the IETF health-check draft's shape (`health_answer`),
  from the facts of our `/api/v1/health`: checks gateway:started, modems:ready and
  gateway:problems; 503 when it fails, as the app answers.
- our states: queued → Pending, sending → Processed, sent and ambiguous → Sent (an ambiguous
  message may well have left; a client resends a Failed one), delivered → Delivered, failed
  and expired → Failed, cancelled → Cancelled.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.wire_values import OutOfRange, utc_time, whole_number

STATE_OF = {"queued": "Pending", "sending": "Processed", "sent": "Sent", "ambiguous": "Sent",
            "delivered": "Delivered", "failed": "Failed", "expired": "Failed",
            "cancelled": "Cancelled"}
# Progress order of an Android message's states: a message is where its least advanced
# recipient is, while any is still on its way.
_ON_THE_WAY = ("Pending", "Processed", "Cancelling")
_DONE_ORDER = ("Sent", "Delivered")

MAX_ID = 64  # our client_ref holds 100 characters; the app's ids are 21
_ID = re.compile(rf"[A-Za-z0-9_.~-]{{1,{MAX_ID}}}")
KNOWN_FIELDS = {"id", "phoneNumbers", "textMessage", "message", "dataMessage", "mmsMessage",
                "simNumber", "withDeliveryReport", "isEncrypted", "priority", "ttl",
                "validUntil", "deviceId"}


class AndroidError(Exception):
    """A request the API refuses: `status` and a `{"message": ...}` body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(message: str) -> dict[str, str]:
    return {"message": message}


@dataclass(frozen=True)
class AndroidSend:
    id: str
    phone_numbers: list[str]
    text: str
    sim_number: int | None
    category: str
    ttl: float | None


def new_id() -> str:
    """An id as the app makes them: 21 URL-safe characters."""
    return secrets.token_urlsafe(16)[:21]


def _category(priority: Any) -> str:
    if priority is None:
        return "notice"
    if isinstance(priority, bool) or not isinstance(priority, int) \
            or not -128 <= priority <= 127:
        raise AndroidError(400, "priority: must be a whole number from -128 to 127")
    if priority >= 100:
        return "alert"
    return "marketing" if priority < 0 else "notice"


MAX_SIM_NUMBER = 1000  # far beyond any box's SIMs; bounds the store's OFFSET


def _ttl(body: Mapping[str, Any], now: datetime) -> float | None:
    ttl, until = body.get("ttl"), body.get("validUntil")
    if ttl is not None and until is not None:
        raise AndroidError(400, "ttl and validUntil are mutually exclusive")
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise AndroidError(400, "ttl: must be a whole number of seconds above 0")
        return float(ttl)
    if until is None:
        return None
    if not isinstance(until, str) or len(until) > 64:
        raise AndroidError(400, "validUntil: must be an ISO 8601 time")
    try:
        value = datetime.fromisoformat(until.replace("Z", "+00:00"))
    except ValueError:
        raise AndroidError(400, f"validUntil: not an ISO 8601 time: {until!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = (value - now).total_seconds()
    if seconds <= 0:
        raise AndroidError(400, "validUntil: already past")
    return seconds


def _id_of(body: Mapping[str, Any]) -> str:
    """The caller-chosen `id` of a message or webhook, or a new one when it gave none."""
    given = body.get("id")
    if given is None or given == "":
        return new_id()
    if not isinstance(given, str) or not _ID.fullmatch(given):
        raise AndroidError(400, f"id: must be 1 to {MAX_ID} characters of A-Z a-z 0-9 _ . ~ -")
    return given


def read_send(body: Any, now: datetime) -> AndroidSend:
    """A send request's fields, checked for shape (intake checks the rest: numbers, text,
    ranges); AndroidError 400 naming the field."""
    if not isinstance(body, dict):
        raise AndroidError(400, "the request body must be a JSON object")
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise AndroidError(400, f"unknown field {unknown[0]!r}")
    if body.get("isEncrypted") not in (None, False):
        raise AndroidError(400, "isEncrypted: encrypted messages are not supported here "
                                "(send the text in clear over the LAN, with isEncrypted false)")
    if body.get("dataMessage") is not None or body.get("mmsMessage") is not None:
        raise AndroidError(400, "only text messages (textMessage) can be sent here")
    numbers = body.get("phoneNumbers")
    if not isinstance(numbers, list) or not numbers \
            or not all(isinstance(n, str) and n for n in numbers):
        raise AndroidError(400, "phoneNumbers: must be a non-empty list of phone numbers")
    text_message = body.get("textMessage")
    if text_message is not None:
        if not isinstance(text_message, dict) or not isinstance(text_message.get("text"), str):
            raise AndroidError(400, "textMessage.text: must be a string")
        text = text_message["text"]
    elif isinstance(body.get("message"), str):
        text = body["message"]  # the API before textMessage
    else:
        raise AndroidError(400, "textMessage.text: a text to send is needed")
    message_id = _id_of(body)
    sim_number = body.get("simNumber")
    if sim_number is not None and (isinstance(sim_number, bool)
                                   or not isinstance(sim_number, int)
                                   or not 1 <= sim_number <= MAX_SIM_NUMBER):
        raise AndroidError(400, f"simNumber: must be a SIM slot number from 1 to "
                                f"{MAX_SIM_NUMBER}")
    report = body.get("withDeliveryReport")
    if report is not None and not isinstance(report, bool):
        raise AndroidError(400, "withDeliveryReport: must be true or false")
    return AndroidSend(id=message_id, phone_numbers=list(numbers), text=text,
                       sim_number=sim_number, category=_category(body.get("priority")),
                       ttl=_ttl(body, now))


@dataclass(frozen=True)
class AndroidWebhook:
    id: str
    url: str
    event: str


WEBHOOK_FIELDS = {"id", "url", "event", "deviceId"}


def read_webhook(body: Any, events: Iterable[str]) -> AndroidWebhook:
    """A webhook registration (`domain.Webhook.asdict`: id null or a string, url, event);
    `events` the Android event names served. AndroidError 400 naming the field."""
    if not isinstance(body, dict):
        raise AndroidError(400, "the request body must be a JSON object")
    unknown = sorted(set(body) - WEBHOOK_FIELDS)
    if unknown:
        raise AndroidError(400, f"unknown field {unknown[0]!r}")
    served = list(events)
    event = body.get("event")
    if event not in served:
        raise AndroidError(400, f"event: {event!r} is not served here (served: "
                                f"{', '.join(served)})")
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise AndroidError(400, "url: an http:// or https:// URL is needed")
    hook_id = _id_of(body)
    return AndroidWebhook(id=hook_id, url=url, event=event)


def overall_state(states: Iterable[str]) -> str:
    """The Android message's state from its recipients' (Android) states, by the app's rule
    (`MessageWithRecipients.state`): Pending or Processed while any recipient is; else Failed
    when every one failed, Delivered when every one was delivered, else Sent. Ours besides:
    Cancelling is on the way too, and Cancelled recipients count only when all are."""
    states = list(states)
    on_the_way = [s for s in states if s in _ON_THE_WAY]
    if on_the_way:
        return min(on_the_way, key=_ON_THE_WAY.index)
    done = [s for s in states if s != "Cancelled"]
    if not done:
        return "Cancelled"
    if all(s == "Failed" for s in done):
        return "Failed"
    if all(s == "Delivered" for s in done):
        return "Delivered"
    return "Sent"


def refused_in_order(numbers: list[str], accepted: list[str],
                     rejected: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """Which positions of a request's (normalised) `numbers` were left out, as (position,
    number, why): `accepted` the numbers stored, in request order, `rejected` each (number,
    why) left out, in any order. The same number twice is matched first to what was stored
    (a duplicate of an earlier recipient is the later one)."""
    stored = list(accepted)
    left = list(rejected)
    out = []
    for position, number in enumerate(numbers):
        if number in stored:
            stored.remove(number)
            continue
        why = next((i for i, (n, _) in enumerate(left) if n == number), None)
        if why is not None:
            out.append((position, number, left.pop(why)[1]))
    return out


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_state(android_id: str, rows: list[Mapping[str, Any]],
                  events: list[tuple[str, datetime]],
                  refused: list[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The answer to a send or a GET: `rows` our messages in recipient order (recipient,
    state, error, created_at), `events` each (our state, time) any of them reached,
    `refused` the recipients left out (position in the request, recipient, error): each is
    listed at its position as Failed with its reason, the stored ones fill the rest in order."""
    stored = []
    for row in rows:
        item: dict[str, Any] = {"phoneNumber": row["recipient"],
                                "state": STATE_OF.get(row["state"], "Pending")}
        if item["state"] in ("Failed", "Cancelled") and row.get("error"):
            item["error"] = row["error"]
        stored.append(item)
    at = {r["position"]: {"phoneNumber": r["recipient"], "state": "Failed",
                          "error": r["error"]} for r in refused}
    recipients = []
    queue = iter(stored)
    for position in range(len(stored) + len(at)):
        item = at.get(position) or next(queue, None)
        if item is not None:
            recipients.append(item)
    recipients.extend(queue)  # positions beyond (never so when stored together)
    times: dict[str, datetime] = {}
    if rows:
        times["Pending"] = min(row["created_at"] for row in rows)
    for state, when in events:
        name = STATE_OF.get(state)
        if name is not None and (name not in times or when < times[name]):
            times[name] = when
    # Refused recipients are Failed each, but a message whose accepted recipients were all
    # cancelled is Cancelled (a DELETE answered 204 for it): the app's rule.
    if stored and all(item["state"] == "Cancelled" for item in stored):
        state = "Cancelled"
    else:
        state = overall_state(r["state"] for r in recipients)
    return {"id": android_id, "state": state, "recipients": recipients,
            "states": {name: _iso(when) for name, when in sorted(times.items(),
                                                                  key=lambda kv: kv[1])},
            "isHashed": False, "isEncrypted": False,
            "createdAt": _iso(times["Pending"]) if rows else None}


_SEVERITY = ("pass", "warn", "fail")


def _release_id(version: str) -> int:
    """The app's `releaseId` is a whole number per release: ours from the version, as
    major * 10000 + minor * 100 + patch ("0.1.0" is 100)."""
    numbers = [int(p) for p in re.findall(r"\d+", version)[:3]] + [0, 0, 0]
    return numbers[0] * 10000 + numbers[1] * 100 + numbers[2]


def health_answer(facts: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """The app's `GET /health` (IETF health-check draft: status pass / warn / fail, version,
    releaseId, checks) from the appliance's health facts (`api.modems.health_facts`:
    status, problems, version, modems {total, ready}), and its HTTP status: 200 unless the
    overall status is fail, then 503. The overall status is the worst check's, as the app
    computes it."""
    started = facts["status"] != "starting"
    ready, total = facts["modems"]["ready"], facts["modems"]["total"]
    problems = list(facts["problems"])
    checks = {
        "gateway:started": {"description": "The gateway has started and is serving",
                            "observedUnit": "Yes/No", "observedValue": int(started),
                            "status": "pass" if started else "fail"},
        "modems:ready": {"description": f"Modems ready to send (of {total})",
                         "observedUnit": "modems", "observedValue": ready,
                         "status": "pass" if ready else "fail"},
        "gateway:problems": {"description": "Problems the dispatcher reports"
                             + (": " + "; ".join(problems) if problems else ""),
                             "observedUnit": "problems", "observedValue": len(problems),
                             "status": "warn" if problems else "pass"},
    }
    status = max((c["status"] for c in checks.values()), key=_SEVERITY.index)
    return ({"status": status, "version": facts["version"],
             "releaseId": _release_id(facts["version"]), "checks": checks},
            503 if status == "fail" else 200)


DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_OFFSET = 1_000_000
MESSAGE_STATES = ("Pending", "Processed", "Sent", "Delivered", "Failed", "Cancelling",
                  "Cancelled")
INBOX_TYPES = ("SMS", "DATA_SMS", "MMS", "MMS_DOWNLOADED")


@dataclass(frozen=True)
class AndroidListing:
    """A listing's query (`get_messages`: from, to, state, deviceId, limit, offset, sort;
    `list_inbox_messages`: type, from, to, deviceId, includeAttachments, limit, offset).
    `start` and `end` (from and to) are both inclusive, on either listing."""

    limit: int
    offset: int
    start: datetime | None
    end: datetime | None
    ascending: bool
    state: str | None = None
    other_device: bool = False  # a deviceId that is not ours: nothing to list
    kind: str = "SMS"


def _one(args: Mapping[str, list[str]], name: str) -> str | None:
    values = args.get(name) or []
    if len(values) > 1:
        raise AndroidError(400, f"{name}: given more than once")
    return values[0] if values else None


def _whole(args: Mapping[str, list[str]], name: str, low: int, high: int,
           default: int) -> int:
    raw = _one(args, name)
    if raw is None:
        return default
    try:
        return whole_number(raw, low, high)
    except ValueError:  # OutOfRange too: one answer for both
        raise AndroidError(400, f"{name}: must be a whole number from {low} to {high}") from None


def _time(args: Mapping[str, list[str]], name: str) -> datetime | None:
    raw = _one(args, name)
    if raw is None:
        return None
    try:  # a '+' typed into a URL arrives as a space
        return utc_time(raw.strip().replace(" ", "+"))
    except OutOfRange:  # the store converts to UTC: 9999-12-31T23:59-01:00 has no UTC time
        raise AndroidError(400, f"{name}: out of range in UTC: {raw[:64]!r}") from None
    except ValueError:
        raise AndroidError(400, f"{name}: not an RFC 3339 time: {raw[:64]!r}") from None


def _listing(args: Mapping[str, list[str]], known: set[str], device_id: str,
             **extra: Any) -> AndroidListing:
    unknown = sorted(set(args) - known)
    if unknown:
        raise AndroidError(400, f"unknown parameter {unknown[0]!r}")
    start, end = _time(args, "from"), _time(args, "to")
    if start is not None and end is not None and end < start:
        raise AndroidError(400, "to: must not be before from")
    device = _one(args, "deviceId")
    return AndroidListing(limit=_whole(args, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
                          offset=_whole(args, "offset", 0, MAX_OFFSET, 0),
                          start=start, end=end,
                          other_device=device not in (None, "", device_id), **extra)


def read_messages_query(args: Mapping[str, list[str]], device_id: str) -> AndroidListing:
    """`GET /messages`'s query, as `get_messages()` sends it; newest first unless
    `sort=created_at`."""
    state = _one(args, "state")
    if state is not None and state not in MESSAGE_STATES:
        raise AndroidError(400, f"state: must be one of {', '.join(MESSAGE_STATES)}")
    sort = _one(args, "sort")
    if sort not in (None, "created_at", "-created_at"):
        raise AndroidError(400, "sort: must be created_at or -created_at")
    return _listing(args, {"from", "to", "state", "deviceId", "limit", "offset", "sort"},
                    device_id, state=state, ascending=sort == "created_at")


def read_inbox_query(args: Mapping[str, list[str]], device_id: str) -> AndroidListing:
    """`GET /inbox`'s query, as `list_inbox_messages()` sends it; newest first. Our inbox
    holds text SMS only: another `type` lists nothing."""
    kind = _one(args, "type") or "SMS"
    if kind not in INBOX_TYPES:
        raise AndroidError(400, f"type: must be one of {', '.join(INBOX_TYPES)}")
    if _one(args, "includeAttachments") not in (None, "true", "false", "True", "False"):
        raise AndroidError(400, "includeAttachments: must be true or false")
    return _listing(args, {"type", "from", "to", "deviceId", "includeAttachments", "limit",
                           "offset"}, device_id, kind=kind, ascending=False)


def inbox_item(row: Mapping[str, Any], sim_number: int | None) -> dict[str, Any]:
    """One of our inbox messages as the app lists it (`domain.IncomingMessage`): `sim_number`
    the receiving SIM's place in the order `simNumber` counts them (None: no longer here)."""
    return {"id": str(row["id"]), "type": "SMS", "sender": row["sender"],
            "contentPreview": row["text"], "createdAt": _iso(row["received_at"]),
            "simNumber": sim_number}
