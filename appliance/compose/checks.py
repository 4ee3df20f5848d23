"""What the compose page shows before anything is sent: the text as the gateway will send it
(signature 【…】 and unsubscribe hint included) with its characters, encoding and parts, and a
dry run of the policy checks (forbidden words, signature, consent, dedupe, quota, approval).

Knows: which checks of the policy layer may be run without side effects, and how.
- `prepare` of every check is a pure rewrite or refusal ("cheap: runs on the event loop"):
  the counter runs the layer's own `prepare`, so the text counted is byte for byte the text
  intake stores, and `pdu.count_parts` is the split the sender uses;
- `admit` of consent, dedupe and quota only reads (dedupe marks the rows "in flight" and quota
  counts the draft's parts until the draft is gone: both are released at once by
  `abandoned`, which the layer's contract makes their undo); approval's `admit` writes an
  approval row, so it is NOT run: its rule is read and applied here instead; the others
  (hold note, audit) say nothing before a send.
Must not know: HTTP, SQL (reads go through the store's readers as the checks do).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field, replace
from datetime import datetime

from appliance.dispatch.intake import (
    THREAD_RECIPIENTS,
    InvalidRequest,
    PolicyRefused,
    SendRequest,
    check_request,
)
from appliance.pdu import count_parts
from appliance.policy.layer import Draft, PolicyLayer

DRY_ADMIT = ("consent", "dedupe", "quota")
"""The checks whose `admit` only reads (see the module docstring)."""
PROBE_NUMBER = "+8613800138000"
"""A stand-in recipient for counting a text before its recipients are known (the checks that
rewrite the text do not look at the recipients)."""


@dataclass(frozen=True)
class Counted:
    text: str  # as sent
    chars: int
    encoding: str  # gsm7 / ucs2
    parts: int
    per_part: int
    remaining: int
    added: bool  # the layer added or changed something (signature, unsubscribe hint)
    refusal: PolicyRefused | None = None


def count_as_sent(policy: PolicyLayer | None, request: SendRequest) -> Counted:
    """The text of `request` as the gateway will send it, and its split. A refusal by a rule
    (a forbidden word) is returned with the text as written counted."""
    if not request.to:
        request = replace(request, to=[PROBE_NUMBER])
    refusal = None
    sent = request
    if policy is not None and isinstance(request.text, str) and request.text.strip():
        try:
            sent = policy.prepare(request)
        except PolicyRefused as exc:
            refusal = exc
    text = sent.text if isinstance(sent.text, str) else ""
    count = count_parts(text, force_ucs2=sent.force_ucs2)
    return Counted(text=text, chars=len(text), encoding=count.encoding, parts=count.parts,
                   per_part=count.per_part, remaining=count.remaining,
                   added=text != request.text, refusal=refusal)


@dataclass(frozen=True)
class Finding:
    check: str  # the rule's name (forbidden_words, signature, dedupe...) or "request"
    ok: bool
    message: str
    field: str = "text"
    code: str = ""
    details: dict = dataclasses.field(default_factory=dict)
    """A refusal's facts (PolicyRefused.details: the word found, the parts left...)."""


@dataclass
class DryRun:
    findings: list[Finding] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    """Recipients a rule would leave out, with why (duplicate, no consent, over quota)."""
    needs_approval: bool = False
    counted: Counted | None = None

    @property
    def refused(self) -> bool:
        return any(not f.ok for f in self.findings)


async def dry_run(policy: PolicyLayer | None, request: SendRequest, now: datetime,
                  default_ttl: float, max_recipients: int, store=None) -> DryRun:  # noqa: ANN001
    """What the policy layer would do to `request`, without storing or reserving anything
    (see the module docstring). `store`: the appliance's Store, for the approval rule."""
    result = DryRun()
    counted = count_as_sent(policy, request)
    result.counted = counted
    if counted.refusal is not None:
        exc = counted.refusal
        result.findings.append(Finding(_check_of(exc.code), False, exc.message, exc.field,
                                       exc.code, dict(exc.details)))
        return result
    prepared = policy.prepare(request) if policy is not None else request
    if prepared.text != request.text:
        result.findings.append(Finding("signature", True, "added", "text", "rewritten"))
    try:
        if len(prepared.to) > THREAD_RECIPIENTS:  # phonenumbers: ~30 µs a number
            valid = await asyncio.to_thread(check_request, prepared, now, default_ttl,
                                            max_recipients)
        else:
            valid = check_request(prepared, now, default_ttl, max_recipients)
    except InvalidRequest as exc:
        result.findings.append(Finding("request", False, exc.message, exc.field,
                                       getattr(exc, "code", "invalid")))
        return result
    if policy is None:
        return result
    draft = Draft(request=prepared, rows=valid.rows, count=valid.count, now=now)
    checks = [c for c in policy.checks if c.name in DRY_ADMIT]
    try:
        for check in checks:
            if not draft.rows:
                break
            before = len(draft.rejected)
            try:
                await check.admit(draft)
            except PolicyRefused as exc:
                result.findings.append(Finding(check.name, False, exc.message, exc.field,
                                               exc.code, dict(exc.details)))
                continue
            left = draft.rejected[before:]
            if left:
                result.findings.append(Finding(check.name, True, f"{len(left)}", "to",
                                               "left_out"))
            elif check.name == "quota" and "quota" in draft.notes:
                note = draft.notes["quota"]
                if "left" in note:
                    result.findings.append(Finding("quota", True, str(note["left"]), "to",
                                                   "left_after"))
    finally:
        for check in checks:
            check.abandoned(draft)
    result.left_out = list(draft.rejected)
    if valid.rows and not draft.rows:
        result.findings.append(Finding("request", False, "every recipient was left out",
                                       "to", "no_recipient_left"))
    result.needs_approval = await _needs_approval(policy, prepared, len(draft.rows), store)
    return result


async def _needs_approval(policy: PolicyLayer, request: SendRequest, recipients: int,
                          store) -> bool:  # noqa: ANN001
    from appliance.policy.approval import UNATTENDED_DOORS
    from appliance.store import approvals

    check = next((c for c in policy.checks if c.name == "approval"), None)
    if check is None or request.origin.door in UNATTENDED_DOORS or recipients == 0:
        return False
    department = request.origin.department_id
    rule = None
    store = store or getattr(check, "store", None)
    if department is not None and store is not None:
        rule = await store.read(lambda: approvals.rule_of(department))
    rule = rule or check.default
    return rule.needs_approval(recipients, request.category)


def _check_of(code: str) -> str:
    if code == "forbidden_word":
        return "forbidden_words"
    if code.startswith("signature"):
        return "signature"
    if code.startswith("recipient") or code == "too_many_recipients":
        return "recipient_cap"
    if code.startswith("skip_dedupe"):
        return "dedupe"
    return code


__all__ = ["DRY_ADMIT", "Counted", "DryRun", "Finding", "count_as_sent", "dry_run"]
