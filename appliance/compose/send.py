"""A console send from start to end: gather the recipients from every source the page offers,
check them, merge the text, and submit through intake (the one way into the gateway).

Knows: the order recipients are gathered in (typed, range, groups, imported rows: the first
time a number appears wins its name and fields), that a typed number belonging to a contact
takes that contact's name and fields for mail merge, that a send to more than one recipient is
a campaign, and that a merged text means one intake request per distinct text (all under the
one campaign).
Must not know: HTTP, SQL (store.compose, store.consent, store.campaigns through the store's
reader and writer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance.compose.merge import Merged, merge
from appliance.compose.recipients import (
    Candidate,
    Checked,
    Recipient,
    check_candidates,
    normalised,
    number_range,
    split_typed,
)
from appliance.dispatch.intake import InvalidRequest, SendRequest, submit_request
from appliance.policy.consent import MARKETING
from appliance.policy.origin import Origin
from appliance.store import compose as compose_store
from appliance.store import consent as consent_store
from appliance.store.campaigns import create_campaign

THREAD_CANDIDATES = 200
"""More candidates than this are checked on a worker thread (phonenumbers: ~30 µs each)."""


@dataclass
class Sources:
    """What the page gave as recipients."""

    typed: str = ""
    group_ids: list[int] = field(default_factory=list)
    range_start: str = ""
    range_count: int | None = None
    imported: list[Candidate] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.typed.strip() or self.group_ids or self.range_start.strip()
                    or self.imported)


async def gather(store, sources: Sources) -> list[Candidate]:  # noqa: ANN001 - writer.Store
    """Every candidate, in page order (RangeError for a bad range)."""
    out = [Candidate(raw, "typed") for raw in split_typed(sources.typed)]
    if sources.range_start.strip() or sources.range_count:
        out += [Candidate(n, "range") for n in number_range(sources.range_start,
                                                             sources.range_count or 0)]
    if sources.group_ids:
        members = await store.read(lambda: compose_store.group_members(sources.group_ids))
        out += [Candidate(m["number"], "group", m["name"], m["fields"]) for m in members]
    out += sources.imported
    return out


async def check(store, candidates: list[Candidate], *, region: str,  # noqa: ANN001
                blocked=None, category: str = "notice",  # noqa: ANN001
                consent_required: bool = False) -> Checked:
    """The candidates checked (see recipients.check_candidates); a typed or ranged number that
    is a contact's takes the contact's name and fields."""
    consent = None
    if category == MARKETING:
        numbers = normalised(candidates, region)
        consent = await store.read(lambda: consent_store.of_numbers(numbers))

    def run() -> Checked:
        return check_candidates(candidates, region=region, blocked=blocked, consent=consent,
                                consent_required=consent_required)

    checked = await asyncio.to_thread(run) if len(candidates) > THREAD_CANDIDATES else run()
    bare = [r.number for r in checked.recipients if not r.name and not r.fields]
    if bare:
        known = await store.read(lambda: compose_store.contacts_of_numbers(bare))
        if known:
            checked.recipients = [
                Recipient(r.number, known[r.number]["name"], known[r.number]["fields"],
                          r.source) if r.number in known and not r.name and not r.fields
                else r for r in checked.recipients]
    return checked


@dataclass
class Submitted:
    campaign_id: int | None = None
    ids: list[int] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    refused: list[tuple[str, InvalidRequest]] = field(default_factory=list)
    """A merged text refused after others went (its text, the refusal): rare, a field value
    carrying a forbidden word."""
    parts: int = 0
    encoding: str = ""


@dataclass(frozen=True)
class Submitter:
    origin: Origin
    name: str  # the user's name (the campaign's created_by)
    privileged: bool = False


async def submit(dispatcher, store, merged: Merged, *, category: str,  # noqa: ANN001
                 priority: int | None, send_at: datetime | None, who: Submitter,
                 campaign_name: str, client_ref: str | None = None) -> Submitted:
    """Submit every merged text through intake. A refusal of the first request is raised
    (nothing was stored); a refusal of a later one is recorded in `refused`."""
    result = Submitted()
    total = sum(len(rs) for rs in merged.texts.values())
    if total == 0:
        raise InvalidRequest("to", "no recipient left to send to")
    origin = who.origin
    if total > 1:
        result.campaign_id = await store.write(lambda: create_campaign(
            campaign_name, created_by=who.name, user_id=origin.user_id,
            department_id=origin.department_id, priority=priority or 0))
    for i, (text, recipients) in enumerate(merged.texts.items()):
        request = SendRequest(
            to=[r.number for r in recipients], text=text, category=category,
            priority=priority, send_at=send_at, campaign_id=result.campaign_id,
            submitter_kind="user", submitter_id=str(origin.user_id or who.name),
            privileged=who.privileged, origin=origin,
            client_ref=None if client_ref is None else f"{client_ref}#{i}"[:100])
        try:
            accepted = await submit_request(dispatcher, request)
        except InvalidRequest as exc:
            if not result.ids:
                raise
            result.refused.append((text, exc))
            continue
        result.ids += accepted.ids
        result.rejected += accepted.rejected
        result.parts = max(result.parts, accepted.parts)
        result.encoding = result.encoding or accepted.encoding
        for key, note in accepted.notes.items():
            result.notes.setdefault(key, note)
    return result


__all__ = ["Sources", "Submitted", "Submitter", "check", "gather", "merge", "submit"]
