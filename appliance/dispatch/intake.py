"""The one way a message enters the gateway: validate a send request and queue it durably.

Knows: what makes a send request valid (recipients, text, priority, schedule, validity), and
who submitted it. Every front door (HTTP API, Kannel adapter, console, serial console) calls
`submit_request`; the enterprise policy layer (signatures, quotas, approval — ROADMAP step 6)
will wrap this function, so nothing may bypass it.
Must not know: HTTP, modems, SIM choice.

Text rules (an SMS is read on a handset, and every string here is stored in SQL):
- it must encode as UTF-8: a lone surrogate (JSON "\\ud800") is not text, and the database
  would refuse it later — so it is refused here, naming the field;
- no control characters but TAB, LF and CR: NUL and the other C0 codes, DEL and the C1 codes
  (U+0080–U+009F) mean nothing on a handset (GSM-7 has none of them; sent as UCS2 they show as
  boxes), and in a log or a CSV export they are a nuisance or worse;
- at most MAX_PARTS parts. Every character costs at least one septet (GSM-7) or one UTF-16
  unit (UCS2), so a text of more than MAX_TEXT_CHARS code points is too long whatever its
  alphabet, and is refused before the (linear, allocation-heavy) part count runs.

Numbers and times (everything stored here is later read by the scheduler, the sender, expiry
and the API, and one value they cannot handle would stop them all):
- every number is a finite int or float of the right kind (a bool is not a number; NaN and
  Infinity are not numbers of seconds);
- `send_at` is an aware datetime from SEND_AT_EARLIEST (2000-01-01 UTC) to MAX_SCHEDULE_AHEAD
  from now. Converting a time near the calendar's ends to UTC overflows (year 9999 at -14:00),
  and a year before 1000 was once written unpadded and could not be read back, so such times
  are refused here, naming the field;
- a `send_at` already past means "as soon as possible": the message is ready at once, and its
  validity (ttl) runs from its acceptance, not from that past time, so it is not silently
  expired. The time asked for is kept as asked (the API shows it; a replay under the same
  client_ref compares it).

Cost: normalising a recipient takes ~30 µs (phonenumbers), so a batch of more than
THREAD_RECIPIENTS is validated on a worker thread, never on the event loop.

The blacklist (`Dispatcher.recipient_block`, the appliance's `contacts.blacklist.Blacklist`):
a blacklisted recipient is left out with its reason (`Accepted.rejected`) and never stored; the
others of the request go. A request whose recipients are all blacklisted is refused
(AllRecipientsBlocked). Only `SendRequest.ignore_blacklist` (the unsubscribe confirmation)
skips the check. The check is an in-memory look-up, so a number blacklisted while a request is
between its check and its commit is looked at again once committed, and such a message is
cancelled with the reason (the blacklist's own sweep of waiting messages may have run before
that commit). A replay under a client_ref whose recipients were blacklisted in between is
numbered without them, and may then answer IdempotencyConflict.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from appliance.dispatch.balancer import PRIORITY, priority_of
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.pdu import PartCount, count_parts
from appliance.pdu.split import capacity
from appliance.policy.content_id import content_hash
from appliance.policy.layer import Draft
from appliance.policy.origin import Origin
from appliance.store.kannel import KannelFields
from appliance.store.messages import MessageNotFound, NewMessage
from appliance.store.states import InvalidTransition

if TYPE_CHECKING:
    from appliance.dispatch.engine import Dispatcher

MAX_RECIPIENTS = 10_000  # the default of `[dispatch] max_recipients`
MAX_PARTS = 10  # longer than this is a document, not an SMS (and costs ten messages per person)
MAX_CLIENT_REF = 100
MAX_TEXT_CHARS = MAX_PARTS * capacity("gsm7", 6)  # 1,530: 10 parts of 153 septets
THREAD_RECIPIENTS = 200  # larger batches are validated off the event loop
MAX_TTL = 63 * 7 * 86400.0  # seconds a message may wait to be sent: 63 weeks
MAX_SCHEDULE_AHEAD = timedelta(days=366)
SEND_AT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""Earlier is no schedule but a wrong clock or a typo: refused, not silently sent now."""
MAX_UNPRIVILEGED_PRIORITY = PRIORITY["alert"]
"""Above this, a message overtakes alerts: only a privileged submitter (an admin) may ask."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ICCID = re.compile(r"[0-9A-Fa-f]{6,22}")


class InvalidRequest(ValueError):
    """A send request that cannot be accepted; `field` names the part at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotPermitted(InvalidRequest):
    """A valid request this submitter may not make (e.g. a priority that overtakes alerts)."""


class PolicyRefused(InvalidRequest):
    """A valid request that an enterprise rule refuses (policy layer): `code` names the rule
    (forbidden_word, over_quota, recipient_cap...), `field` the part of the request at fault,
    `status` the HTTP status the JSON API answers with. Extra facts for the caller (the word
    found, the balance left) go in `details`."""

    def __init__(self, code: str, field: str, message: str, status: int = 422,
                 **details: object):
        super().__init__(field, message)
        self.code = code
        self.status = status
        self.details = details


class AllRecipientsBlocked(InvalidRequest):
    """Every recipient of a valid request is on the blacklist: nothing to send (HTTP 422)."""

    def __init__(self, rejected: list[tuple[str, str]]):
        number, reason = rejected[0]
        more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
        super().__init__("to", f"every recipient is on the blacklist: {number}: {reason}{more}")
        self.rejected = rejected


class RecipientBlock(Protocol):
    """What intake asks of the blacklist: why a (normalised) number may not be sent to."""

    def blocked_reason(self, number: str) -> str | None:
        """None when `number` may be sent to, else the reason it may not (in memory, fast)."""
        ...

    def blocked_among(self, numbers: Iterable[str]) -> dict[str, str]:
        """The blacklisted of (normalised) `numbers`, with their reasons: a request's
        recipients in one look-up, not a call per recipient."""
        ...


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
    privileged: bool = False  # may ask for a priority above MAX_UNPRIVILEGED_PRIORITY
    extra: dict = field(default_factory=dict)
    ignore_blacklist: bool = False
    """Send even to a blacklisted number: only the unsubscribe confirmation ("you will get no
    more messages") does, as the answer to the recipient's own request."""
    via_sim: str | None = None
    """The ICCID the message must leave through (a reply goes out through the SIM that
    received the message it answers): queued pinned to that SIM; if the SIM stays gone past
    dispatch.pinned_grace_seconds it goes through another (nothing of it has left)."""
    force_ucs2: bool = False  # UCS2 even when GSM-7 would do (Kannel coding=2)
    message_class: int | None = None  # TP-DCS message class 0-3 (0 = flash)
    kannel: KannelFields | None = None  # a Kannel sendsms request's fields, kept with each
    origin: Origin = field(default_factory=Origin)
    """Who submitted it and through which door (the policy layer's key; kept with each)."""
    skip_dedupe: bool = False
    """An urgent alert may go to the same number with the same text again (policy: dedupe)."""


@dataclass(frozen=True)
class Accepted:
    ids: list[int]
    recipients: list[str]
    parts: int
    encoding: str
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """Recipients left out, with why (on the blacklist, or by a policy rule): (normalised
    number, reason)."""
    notes: dict = field(default_factory=dict)
    """What the policy layer tells the submitter besides (e.g. held for approval)."""


@dataclass(frozen=True)
class Validated:
    rows: list[NewMessage]
    count: PartCount
    recipients: list[str]  # the rows' recipients, in order


def _check_string(name: str, value: str) -> None:
    """UTF-8-encodable and free of control characters other than TAB, LF, CR."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(name, f"is not valid Unicode: U+{ord(value[exc.start]):04X} (a lone "
                                   f"surrogate) at position {exc.start}") from None
    bad = _CONTROL.search(value)
    if bad is not None:
        what = "NUL characters" if bad.group() == "\x00" else "control characters"
        raise InvalidRequest(name, f"must not contain {what}: U+{ord(bad.group()):04X} at "
                                   f"position {bad.start()} (only tab, CR and LF are allowed)")


def _check_text(text: object, force_ucs2: bool = False) -> PartCount:
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("text", "must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidRequest("text", f"too long: {len(text)} characters; at most {MAX_PARTS} "
                                     f"parts ({MAX_TEXT_CHARS} GSM-7 characters, fewer in UCS2)")
    _check_string("text", text)
    count = count_parts(text, force_ucs2=True) if force_ucs2 else count_parts(text)
    if count.parts > MAX_PARTS:
        raise InvalidRequest("text", f"too long: {count.parts} parts ({count.encoding}); "
                                     f"at most {MAX_PARTS}")
    return count


def _is_number(value: object) -> bool:
    """A finite int or float (not a bool, whose JSON form is true/false)."""
    # By exact type: what JSON and the config give; also cheaper than isinstance with
    # `int | float`, which builds a union object at every call (every request).
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))  # type: ignore[arg-type]


def _check_send_at(send_at: object, now: datetime) -> datetime | None:
    """`send_at` in UTC, within [SEND_AT_EARLIEST, now + MAX_SCHEDULE_AHEAD]."""
    if send_at is None:
        return None
    if not isinstance(send_at, datetime):
        raise InvalidRequest("send_at", "must be a time (ISO 8601, e.g. 2026-11-24T09:00+08:00)")
    try:
        offset = send_at.utcoffset()
    except (ValueError, TypeError):  # a broken tzinfo
        offset = None
    if offset is None:
        raise InvalidRequest("send_at", "must carry a time zone (e.g. 2026-11-24T09:00+08:00)")
    try:
        send_at = send_at.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59-14:00 is in year 10000 UTC
        raise InvalidRequest("send_at", f"out of range: {send_at.isoformat()} (from "
                                        f"{SEND_AT_EARLIEST.year} to a year ahead)") from None
    if send_at < SEND_AT_EARLIEST:
        raise InvalidRequest("send_at", f"out of range: {send_at.isoformat()} is before "
                                        f"{SEND_AT_EARLIEST.date().isoformat()}")
    if send_at > now + MAX_SCHEDULE_AHEAD:
        raise InvalidRequest("send_at", "is more than a year ahead")
    return send_at


def check_request(request: SendRequest, now: datetime, default_ttl: float,
                  max_recipients: int = MAX_RECIPIENTS) -> Validated:
    """The rows a valid request becomes and its part count; InvalidRequest naming the field
    if not. Cheap checks first, so a huge text is refused before 10,000 numbers are parsed.
    `max_recipients`: `[dispatch] max_recipients`."""
    if not isinstance(request.to, list | tuple) or not request.to:
        raise InvalidRequest("to", "at least one recipient is needed")
    if len(request.to) > max_recipients:
        raise InvalidRequest("to", f"at most {max_recipients} recipients per request")
    count = _check_text(request.text, request.force_ucs2)
    if request.message_class is not None and request.message_class not in (0, 1, 2, 3):
        raise InvalidRequest("message_class", "must be 0, 1, 2 or 3")
    if not isinstance(request.category, str) or request.category not in PRIORITY:
        raise InvalidRequest("category", f"must be one of {', '.join(PRIORITY)}")
    priority = priority_of(request.category) if request.priority is None else request.priority
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
        raise InvalidRequest("priority", "must be a whole number from 0 to 100")
    if request.client_ref is not None:
        if not isinstance(request.client_ref, str) or not 0 < len(request.client_ref) \
                <= MAX_CLIENT_REF:
            raise InvalidRequest("client_ref",
                                 f"must be a string of 1 to {MAX_CLIENT_REF} characters")
        _check_string("client_ref", request.client_ref)
    if request.campaign_id is not None and (not isinstance(request.campaign_id, int)
                                            or isinstance(request.campaign_id, bool)
                                            or request.campaign_id <= 0):
        raise InvalidRequest("campaign_id", "must be a positive whole number")
    if request.via_sim is not None and (not isinstance(request.via_sim, str)
                                        or not _ICCID.fullmatch(request.via_sim)):
        raise InvalidRequest("via_sim", "must be a SIM's ICCID (6 to 22 hex digits)")
    send_at = _check_send_at(request.send_at, now)
    ttl = default_ttl if request.ttl is None else request.ttl
    if not _is_number(ttl) or not 0 < ttl <= MAX_TTL:
        raise InvalidRequest("ttl", f"must be a finite number of seconds > 0 (at most "
                                    f"{MAX_TTL:.0f}: 63 weeks)")
    expires_at = max(send_at or now, now) + timedelta(seconds=ttl)
    recipients: list[str] = []
    for i, raw in enumerate(request.to):
        if not isinstance(raw, str):
            raise InvalidRequest(_recipient_field(request.to, i),
                                 "must be a phone number as a string")
        try:
            recipients.append(normalize_number(raw))
        except InvalidNumber as exc:
            raise InvalidRequest(_recipient_field(request.to, i), str(exc)) from None
    # Last: the checks above are about what was asked; this one about who asks.
    if request.priority is not None and priority > MAX_UNPRIVILEGED_PRIORITY \
            and not request.privileged:
        raise NotPermitted("priority", f"{priority} would overtake alerts (at most "
                                       f"{MAX_UNPRIVILEGED_PRIORITY} without the admin scope)")
    origin = request.origin
    identity = content_hash(request.text)  # once per request (dedupe looks it up)
    template = NewMessage(
        recipient=recipients[0], text=request.text, priority=priority,
        category=request.category, campaign_id=request.campaign_id,
        submitter_kind=request.submitter_kind, submitter_id=request.submitter_id,
        client_ref=request.client_ref, send_at=send_at, expires_at=expires_at, ttl=float(ttl),
        parts_count=count.parts, via_sim=request.via_sim, force_ucs2=request.force_ucs2,
        message_class=request.message_class, kannel=request.kannel, door=origin.door,
        address=origin.address, api_key_id=origin.api_key_id, user_id=origin.user_id,
        department_id=origin.department_id, content_hash=identity)
    rows = [template] if len(recipients) == 1 else template.to_each(recipients)
    return Validated(rows, count, recipients)


def _recipient_field(to: list[str], i: int) -> str:
    """The field an error about the i-th recipient names."""
    return f"to[{i}]" if len(to) > 1 else "to"


def validate(request: SendRequest, now: datetime, default_ttl: float) -> list[NewMessage]:
    """The NewMessage rows a valid request becomes; InvalidRequest naming the field if not."""
    return check_request(request, now, default_ttl).rows


async def submit_request(dispatcher: Dispatcher, request: SendRequest) -> Accepted:
    """Validate, apply the policy layer, store durably, queue. Returns only once every message
    is on disk. `dispatcher.policy` (a PolicyLayer, or None in bare tests) may rewrite the
    request, leave recipients out or refuse it (PolicyRefused)."""
    now, default_ttl = dispatcher.now(), dispatcher.config.default_ttl
    bound = dispatcher.config.max_recipients
    policy = getattr(dispatcher, "policy", None)
    if policy is not None:
        request = policy.prepare(request)
    if len(request.to or ()) > THREAD_RECIPIENTS:
        valid = await asyncio.to_thread(check_request, request, now, default_ttl, bound)
    else:
        valid = check_request(request, now, default_ttl, bound)
    block = None if request.ignore_blacklist else dispatcher.recipient_block
    rows, rejected = valid.rows, []
    if block is not None:
        rows, rejected = _without_blocked(valid.rows, valid.recipients, block)
        if not rows:
            raise AllRecipientsBlocked(rejected)
    draft = Draft(request=request, rows=rows, count=valid.count, now=now, rejected=rejected)
    try:
        if policy is not None:
            await policy.admit(draft)
            if not draft.rows:
                raise _nobody_left(draft.rejected)
        rows = draft.rows
        ids = await dispatcher.submit(rows)
    except BaseException:
        if policy is not None:
            policy.abandoned(draft)
        raise
    if policy is not None:
        await policy.accepted(draft, ids)
    recipients = [r.recipient for r in rows]
    if block is not None:
        await _cancel_blocked_meanwhile(dispatcher, block, ids, recipients)
    return Accepted(ids=ids, recipients=recipients,
                    parts=valid.count.parts, encoding=valid.count.encoding,
                    rejected=draft.rejected, notes=draft.notes)


def _nobody_left(rejected: list[tuple[str, str]]) -> PolicyRefused:
    """Every recipient was left out by a rule (each with its reason): nothing to send."""
    number, reason = rejected[0]
    more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
    return PolicyRefused("no_recipient_left", "to",
                         f"every recipient was left out: {number}: {reason}{more}",
                         rejected=rejected)


def _without_blocked(rows: list[NewMessage], recipients: list[str], block: RecipientBlock,
                     ) -> tuple[list[NewMessage], list[tuple[str, str]]]:
    blocked = block.blocked_among(recipients)
    if not blocked:
        return rows, []
    kept: list[NewMessage] = []
    rejected: list[tuple[str, str]] = []
    for row in rows:
        reason = blocked.get(row.recipient)
        if reason is None:
            kept.append(row)
        else:
            rejected.append((row.recipient, f"blacklisted: {reason}" if reason
                             else "blacklisted"))
    return kept, rejected


async def _cancel_blocked_meanwhile(dispatcher: Dispatcher, block: RecipientBlock,
                                    ids: list[int], recipients: list[str]) -> None:
    """Cancel what was accepted for a number blacklisted while the request was being stored
    (see the module docstring); one that a SIM has begun sending is left to finish."""
    blocked = block.blocked_among(recipients)
    if not blocked:
        return
    for mid, recipient in zip(ids, recipients, strict=True):
        reason = blocked.get(recipient)
        if reason is None:
            continue
        try:
            await dispatcher.cancel(mid, f"blacklisted: {reason}" if reason else "blacklisted")
        except (InvalidTransition, MessageNotFound):
            pass  # already cancelled by the blacklist's own sweep, or on its way
