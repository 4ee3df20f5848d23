"""The one way a message enters the gateway: validate a send request and queue it durably.

Knows: what makes a send request valid (recipients, text, priority, schedule, validity), and
who submitted it. Every front door (HTTP API, Kannel adapter, console, serial console) calls
`submit_request`; the enterprise policy layer (signatures, quotas, approval — ROADMAP step 6)
will wrap this function, so nothing may bypass it.
Must not know: HTTP, modems, SIM choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from appliance.dispatch.balancer import PRIORITY, priority_of
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.pdu import count_parts
from appliance.store.messages import NewMessage

if TYPE_CHECKING:
    from appliance.dispatch.engine import Dispatcher

MAX_RECIPIENTS = 10_000
MAX_PARTS = 10  # longer than this is a document, not an SMS (and costs ten messages per person)
MAX_CLIENT_REF = 100


class InvalidRequest(ValueError):
    """A send request that cannot be accepted; `field` names the part at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class SendRequest:
    to: list[str]
    text: str
    category: str = "notice"
    priority: int | None = None
    send_at: datetime | None = None
    ttl: float | None = None
    client_ref: str | None = None
    campaign_id: int | None = None
    submitter_kind: str = "system"
    submitter_id: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    ids: list[int]
    recipients: list[str]
    parts: int
    encoding: str


def validate(request: SendRequest, now: datetime, default_ttl: float) -> list[NewMessage]:
    """The NewMessage rows a valid request becomes; InvalidRequest naming the field if not."""
    if not request.to:
        raise InvalidRequest("to", "at least one recipient is needed")
    if len(request.to) > MAX_RECIPIENTS:
        raise InvalidRequest("to", f"at most {MAX_RECIPIENTS} recipients per request")
    recipients: list[str] = []
    for i, raw in enumerate(request.to):
        if not isinstance(raw, str):
            raise InvalidRequest(f"to[{i}]", "must be a phone number as a string")
        try:
            recipients.append(normalize_number(raw))
        except InvalidNumber as exc:
            raise InvalidRequest(f"to[{i}]" if len(request.to) > 1 else "to", str(exc)) from None
    if not isinstance(request.text, str) or not request.text.strip():
        raise InvalidRequest("text", "must be a non-empty string")
    if "\x00" in request.text:
        raise InvalidRequest("text", "must not contain NUL characters")
    count = count_parts(request.text)
    if count.parts > MAX_PARTS:
        raise InvalidRequest("text", f"too long: {count.parts} parts ({count.encoding}); "
                                     f"at most {MAX_PARTS}")
    if request.category not in PRIORITY:
        raise InvalidRequest("category", f"must be one of {', '.join(PRIORITY)}")
    priority = priority_of(request.category) if request.priority is None else request.priority
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
        raise InvalidRequest("priority", "must be a whole number from 0 to 100")
    send_at = request.send_at
    if send_at is not None:
        if send_at.tzinfo is None:
            raise InvalidRequest("send_at", "must carry a time zone (e.g. 2026-11-24T09:00+08:00)")
        send_at = send_at.astimezone(UTC)
        if send_at > now + timedelta(days=366):
            raise InvalidRequest("send_at", "is more than a year ahead")
    ttl = default_ttl if request.ttl is None else request.ttl
    if not isinstance(ttl, int | float) or ttl <= 0 or ttl > 7 * 86400 * 9:
        raise InvalidRequest("ttl", "must be a number of seconds > 0 (at most 63 weeks)")
    expires_at = (send_at or now) + timedelta(seconds=ttl)
    if request.client_ref is not None and (
            not isinstance(request.client_ref, str) or not 0 < len(request.client_ref)
            <= MAX_CLIENT_REF):
        raise InvalidRequest("client_ref", f"must be a string of 1 to {MAX_CLIENT_REF} characters")
    return [NewMessage(recipient=r, text=request.text, priority=priority,
                       category=request.category, campaign_id=request.campaign_id,
                       submitter_kind=request.submitter_kind, submitter_id=request.submitter_id,
                       client_ref=request.client_ref, send_at=send_at, expires_at=expires_at,
                       parts_count=count.parts)
            for r in recipients]


async def submit_request(dispatcher: Dispatcher, request: SendRequest) -> Accepted:
    """Validate, store durably, queue. Returns only once every message is on disk."""
    rows = validate(request, dispatcher.now(), dispatcher.config.default_ttl)
    ids = await dispatcher.submit(rows)
    count = count_parts(request.text)
    return Accepted(ids=ids, recipients=[r.recipient for r in rows], parts=count.parts,
                    encoding=count.encoding)
