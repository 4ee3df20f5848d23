"""The policy layer: the ordered checks a send request passes on its way into the outbox.

Knows: the two moments a check acts on a request, and the order checks run in.
Must not know: HTTP, modems, the rules themselves (each check is its own module).

Intake's `submit_request` calls the layer twice:
1. `prepare(request)` before validation: a check may rewrite the request (a signature added,
   the unsubscribe hint appended), so that the part count intake computes, and shows the
   submitter, is the one the gateway will send; or refuse it (a forbidden word).
2. `await admit(draft)` after validation, before anything is stored: a check sees one row per
   recipient and may leave some out with a reason (`Draft.leave_out`: a duplicate, no
   consent), replace rows (held for approval, for the end of quiet hours), or refuse the whole
   request (over quota, too many recipients). A check that needs the database reads through
   the store's readers (never on the event loop).
After the rows are committed, `await accepted(draft, ids)` lets a check record what it must
(an approval request, a dedupe mark) about the messages now on disk; when they are not (a later
check refused, the store failed, the caller went away), `abandoned(draft)` lets each check undo
what it reserved in `admit` (dedupe's in-flight marks, a quota held).

A refusal is `PolicyRefused(code, field, message)`: a clear error naming the rule, which each
door renders in its own words (JSON API: `{"error": {"code", "message", "field"}}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.dispatch.intake import SendRequest
    from appliance.pdu import PartCount
    from appliance.store.messages import NewMessage


@dataclass
class Draft:
    """A validated send request before anything of it is stored: one row per recipient."""

    request: SendRequest
    rows: list[NewMessage]
    count: PartCount
    now: datetime
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """Recipients left out, with why: (normalised number, reason)."""
    notes: dict = field(default_factory=dict)
    """What a check tells the submitter besides (e.g. {"held": "approval"}), or leaves for its
    own `accepted` step; keyed by the check's name."""

    def leave_out(self, keep: Sequence[bool], reason: Sequence[str] | str) -> None:
        """Drop the rows whose `keep` is False, recording each one's reason."""
        reasons = [reason] * len(self.rows) if isinstance(reason, str) else list(reason)
        kept: list[NewMessage] = []
        for row, ok, why in zip(self.rows, keep, reasons, strict=True):
            if ok:
                kept.append(row)
            else:
                self.rejected.append((row.recipient, why))
        self.rows = kept


class Check:
    """One rule. Override what the rule needs; the defaults let everything through."""

    name = "check"

    def prepare(self, request: SendRequest) -> SendRequest:
        """The request as this rule wants it sent (rewritten), or PolicyRefused. Cheap: runs
        on the event loop for every request."""
        return request

    async def admit(self, draft: Draft) -> None:
        """Leave rows out, replace them, or raise PolicyRefused."""

    async def accepted(self, draft: Draft, ids: list[int]) -> None:
        """Record what this rule must about the messages now stored (`ids` match draft.rows)."""

    def abandoned(self, draft: Draft) -> None:
        """The draft this rule admitted was not stored after all (a later rule refused it, or
        the store failed): undo what `admit` reserved. Synchronous: it also runs when the
        request is cancelled. Called on every check, also one whose `admit` never ran."""


class PolicyLayer:
    """The checks, in the order they run. An empty layer lets every valid request through.

    Each moment calls only the checks that override it (most checks act at one or two of the
    four): awaiting a do-nothing coroutine for each of ten checks, twice per request, was a
    measurable share of a single-recipient send's CPU. The checks are fixed once the layer is
    built (a tuple)."""

    def __init__(self, checks: Sequence[Check] = ()):
        self.checks = tuple(checks)
        self._preparing = _overriding(self.checks, "prepare")
        self._admitting = _overriding(self.checks, "admit")
        self._accepting = _overriding(self.checks, "accepted")
        self._abandoning = _overriding(self.checks, "abandoned")

    def prepare(self, request: SendRequest) -> SendRequest:
        for check in self._preparing:
            request = check.prepare(request)
        return request

    async def admit(self, draft: Draft) -> None:
        for check in self._admitting:
            if not draft.rows:
                return
            await check.admit(draft)

    async def accepted(self, draft: Draft, ids: list[int]) -> None:
        for check in self._accepting:
            await check.accepted(draft, ids)

    def abandoned(self, draft: Draft) -> None:
        for check in self._abandoning:
            check.abandoned(draft)


def _overriding(checks: tuple[Check, ...], method: str) -> tuple[Check, ...]:
    """The checks whose `method` is their own, not Check's do-nothing default."""
    default = getattr(Check, method)
    return tuple(c for c in checks if getattr(type(c), method) is not default
                 or method in vars(c))
