"""The audit entry of every accepted send request, as the policy layer's last check.

Knows: what an auditor asks of a send (who, through which door and key, from where, for which
department, what kind, to how many, how many parts, the first few recipients, and a digest of
the text — not the text, which stays with the messages).
Must not know: HTTP, SQL, the other checks.

Registered LAST in `policy.build`, so it records what the other checks left (signature added,
duplicates left out). One entry per request, handed to the writer after the messages
committed, and NOT waited for: the request's answer does not wait for a second transaction
(waiting for it took single-recipient ingestion from ~2,200 to ~600 requests/s here, `python -m
tests.bench ingest`); the entries of requests accepted meanwhile go to the writer together, as
one job riding along with the next transaction (the next requests' messages), or alone after
50 ms (`AuditLog.enqueue`, `Store.write(ride_along=True)`). The appliance drains the log before
it stops its store, so an entry is lost only by a crash in the 50 ms or so between the two
commits. A failure to write it is logged and does not fail the request, whose messages are
already on disk.
"""

from __future__ import annotations

import hashlib

from appliance.audit import Actor, AuditLog
from appliance.policy.layer import Check, Draft
from appliance.policy.origin import Origin

FIRST_RECIPIENTS = 5


def actor_of(origin: Origin) -> Actor:
    """The actor an entry names for a submitter: the user when known, else the API key."""
    if origin.user_id is not None:
        return Actor("user", str(origin.user_id), "", origin.address, origin.door)
    if origin.api_key_id is not None:
        return Actor("api_key", str(origin.api_key_id), "", origin.address, origin.door)
    return Actor("system", "", "", origin.address, origin.door)


def send_detail(draft: Draft, ids: list[int]) -> dict:
    request, origin = draft.request, draft.request.origin
    text = draft.rows[0].text if draft.rows else request.text
    return {
        "door": origin.door, "address": origin.address, "api_key_id": origin.api_key_id,
        "user_id": origin.user_id, "department_id": origin.department_id, "role": origin.role,
        "category": request.category, "recipients": len(ids), "parts": draft.count.parts,
        "first_recipients": [r.recipient for r in draft.rows[:FIRST_RECIPIENTS]],
        "left_out": len(draft.rejected), "first_id": ids[0] if ids else None,
        "text_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        "held": sum(1 for r in draft.rows if r.hold),
    }


class AuditCheck(Check):
    name = "audit"

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    async def accepted(self, draft: Draft, ids: list[int]) -> None:
        if ids:
            self.audit.enqueue(actor_of(draft.request.origin), "message.send",
                               f"message:{ids[0]}", send_detail(draft, ids))
