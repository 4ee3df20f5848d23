"""The compose form, read and reviewed: every check the page shows before the user confirms,
computed the same way for the review and for the send itself.

Knows: the form's fields and what each must hold (named in `errors` by field, for a message
next to it), and the order of the review: the form, the recipients, the text (merge), the
policy dry run on the first merged text, the finish-time estimate.
Must not know: HTTP (the console hands in a plain dict of the form's values), SQL.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from appliance.compose import recurrence
from appliance.compose.checks import DryRun, count_as_sent, dry_run
from appliance.compose.merge import Merged, merge, placeholders
from appliance.compose.recipients import Candidate, Checked, RangeError
from appliance.compose.send import Sources, check, gather
from appliance.dispatch.estimate import Estimate, estimate_finish
from appliance.dispatch.intake import MAX_RECIPIENTS, SendRequest
from appliance.policy.origin import Origin

CATEGORIES = ("notice", "marketing", "alert")
PRIORITIES = {"": None, "low": 0, "high": 20}
"""The page's priority choices: the category's own (notice 10, marketing 0, alert 20), low
(after everything else, like marketing) or high (with alerts; the most a non-admin may ask)."""
WHEN = ("now", "at", "recurring")


@dataclass
class ComposeForm:
    to: str = ""
    group_ids: list[int] = field(default_factory=list)
    range_start: str = ""
    range_count: int | None = None
    import_token: str = ""
    text: str = ""
    category: str = "notice"
    priority: str = ""
    when: str = "now"
    send_at: str = ""  # datetime-local, appliance time zone
    repeat: str = "daily"
    repeat_at: str = "09:00"
    repeat_weekday: str = "1"
    repeat_monthday: str = "1"
    cron: str = ""
    name: str = ""  # campaign or schedule name

    @classmethod
    def from_form(cls, get, getlist) -> tuple[ComposeForm, dict[str, str]]:  # noqa: ANN001
        """From a form's `get(name)` / `getlist(name)`; errors by field."""
        errors: dict[str, str] = {}
        f = cls()
        for name in ("to", "range_start", "import_token", "text", "send_at", "repeat_at",
                     "repeat_weekday", "repeat_monthday", "cron", "name"):
            setattr(f, name, (get(name) or "").replace("\r\n", "\n"))
        f.text = f.text.strip("\n")
        for name, choices in (("category", CATEGORIES), ("priority", tuple(PRIORITIES)),
                              ("when", WHEN), ("repeat", recurrence.KINDS)):
            value = get(name) or getattr(cls, name)
            if value not in choices:
                errors[name] = "not one of the choices"
            else:
                setattr(f, name, value)
        ids = []
        for raw in getlist("group_id") or []:
            if str(raw).isdigit():
                ids.append(int(raw))
        f.group_ids = ids
        count = (get("range_count") or "").strip()
        if count:
            if not count.isdigit():
                errors["range_count"] = "a whole number"
            else:
                f.range_count = int(count)
        return f, errors

    def spec(self) -> dict[str, Any]:
        return {"text": self.text, "category": self.category,
                "priority": PRIORITIES.get(self.priority)}


@dataclass
class Review:
    form: ComposeForm
    errors: dict[str, str] = field(default_factory=dict)
    checked: Checked = field(default_factory=Checked)
    merged: Merged = field(default_factory=Merged)
    dry: DryRun | None = None
    estimate: Estimate | None = None
    send_at: datetime | None = None
    cron: str | None = None
    next_at: datetime | None = None
    parts: tuple[int, int] = (0, 0)  # fewest and most parts over the merged texts
    encoding: str = ""

    @property
    def recipients(self) -> int:
        return sum(len(r) for r in self.merged.texts.values())

    @property
    def ok(self) -> bool:
        return not self.errors and self.recipients > 0 and (self.dry is None
                                                             or not self.dry.refused)


def parse_local(value: str, tz: str) -> datetime | None:
    """A datetime-local value ("2026-12-02T14:30") in the appliance's time zone, or None."""
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(tz))


async def review(form: ComposeForm, errors: dict[str, str], *, store, dispatcher,  # noqa: ANN001
                 policy, blocked, config, origin: Origin,  # noqa: ANN001
                 imported: list[Candidate]) -> Review:
    """Everything the page shows before a send, with `errors` by field."""
    out = Review(form=form, errors=dict(errors))
    tz = config.dispatch.timezone
    now = dispatcher.now()
    if form.when == "at":
        out.send_at = parse_local(form.send_at, tz)
        if out.send_at is None:
            out.errors["send_at"] = "a date and time"
        elif out.send_at <= now:
            out.errors["send_at"] = "a time in the future"
        elif out.send_at > now + timedelta(days=365):
            out.errors["send_at"] = "at most a year ahead"
    elif form.when == "recurring":
        try:
            out.cron = recurrence.expression(form.repeat, form.repeat_at, form.repeat_weekday,
                                             form.repeat_monthday, form.cron)
            out.next_at = recurrence.next_after(out.cron, now, tz)
        except recurrence.RecurrenceError as exc:
            out.errors[exc.field] = exc.message
    if not form.text.strip():
        out.errors["text"] = "the text is empty"
    sources = Sources(typed=form.to, group_ids=form.group_ids, range_start=form.range_start,
                      range_count=form.range_count, imported=imported)
    if sources.empty:
        out.errors.setdefault("to", "no recipients: type numbers, pick a group, give a range "
                                    "or import a file")
        return out
    try:
        candidates = await gather(store, sources)
    except RangeError as exc:
        out.errors[exc.field] = exc.message
        return out
    out.checked = await check(store, candidates, region=config.contacts.default_region,
                              blocked=blocked, category=form.category,
                              consent_required=config.consent.required_for_marketing)
    if not out.checked.recipients:
        out.errors.setdefault("to", "no recipient left: every one is listed below")
    if "text" in out.errors:
        return out
    out.merged = merge(form.text, out.checked.recipients)
    priority = PRIORITIES.get(form.priority)
    counts = []
    for text in list(out.merged.texts)[:200]:  # the parts of a sample of the merged texts
        counted = count_as_sent(policy, SendRequest(to=[], text=text, category=form.category,
                                                    origin=origin, priority=priority))
        counts.append(counted.parts)
        out.encoding = out.encoding or counted.encoding
    out.parts = (min(counts), max(counts)) if counts else (0, 0)
    if out.merged.texts:
        text, people = next(iter(out.merged.texts.items()))
        numbers = [r.number for texts in out.merged.texts.values() for r in texts] \
            if not out.merged.merged else [r.number for r in people]
        request = SendRequest(to=numbers[:MAX_RECIPIENTS], text=text, category=form.category,
                              priority=priority, origin=origin,
                              privileged=origin.role == "admin")
        out.dry = await dry_run(policy, request, now, dispatcher.config.default_ttl,
                                dispatcher.config.max_recipients, store)
        sims, backlog = dispatcher.send_capacity()
        out.estimate = estimate_finish(out.recipients, max(out.parts[1], 1), sims, now,
                                       backlog_parts=backlog, start=out.send_at or out.next_at)
    return out


__all__ = ["CATEGORIES", "PRIORITIES", "WHEN", "ComposeForm", "Review", "parse_local",
           "review", "placeholders"]
