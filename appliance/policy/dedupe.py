"""Dedupe: the same text to the same number is not sent twice within the window.

Knows: what makes two messages the same (their content identity), the window, who may lift
the rule for one send, and how a duplicate is reported.
Must not know: HTTP, modems, SQL (appliance.store.dedupe reads the outbox).

Content identity (appliance.policy.content_id): the text as it will be sent — after the checks
that rewrite it (signature, unsubscribe hint) in `prepare`; this check runs late in the layer,
so a row whose text a check replaced in `admit` is identified again — normalised and hashed.
Intake stamps every row with it (stored, even when dedupe is off or lifted), so turning dedupe
on, or a later send, sees it.

The window (`[dedupe] window`, in `[dispatch] timezone`):
- "working_day" (the default): since the same clock time on the previous working day —
  appliance.policy.workdays: weekends skipped, `[dedupe] holidays` are days off,
  `working_weekend_days` (调休) are working days. A notice sent Friday 16:00 is a duplicate
  when sent again on Monday at 15:59, not at 16:00;
- "<N>h": the last N hours.

What counts as sent: a message with the same identity to the same number accepted within the
window and not cancelled, failed or expired (queued and held ones count: a double click must
not send twice). The same number twice in one request is also a duplicate. A retry under the
same client_ref is not a duplicate of itself: acceptance answers it with the stored ids. Two
identical requests in flight at once: the second waits (at most IN_FLIGHT_WAIT) for the first
to be stored, then sees it.

The record of recent keys (`load`, then every admitted row): the outbox is read only for a
(content hash, recipient) pair that may have a copy. The record holds every pair stored within
the window — seeded from the outbox at start (`load`), and every row this check admits is added
before it is stored (also lifted and exempt ones: they are copies for a later send) — so a pair
not in it has no copy and needs no read; a pair in it is read as before (its state, its time,
its client_ref decide). It is a superset: a row refused later, a message cancelled since, a
hash collision only cost the read. It serves only when this process is the outbox's one writer
(`exclusive`: SQLite; a PostgreSQL fleet shares the outbox with other appliances), once seeded,
and while it holds at most RECENT_MAX pairs (beyond, every send reads, as without it). Pairs
last seen a day (RECENT_SLACK) before the window's start are dropped now and then.

A duplicate is left out (`Draft.leave_out`) with the reason "duplicate of message N accepted
at T", reported in the response's `rejected`; a request whose every recipient is a duplicate
is refused by the layer (`no_recipient_left`).

Lifting it (`SendRequest.skip_dedupe`; JSON `"skip_dedupe": true`): allowed for the categories
alert and otp (an alarm repeated is a new alarm; a one-time code asked again is a new code), and
for an admin (an admin API key, a user with the admin role); anyone else is refused
(`skip_dedupe_not_allowed`, 403) rather than silently deduplicated. Answers (EXEMPT_DOORS:
auto-answer rules) are not deduplicated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from appliance.policy.content_id import content_hash, normalise
from appliance.policy.layer import Check, Draft
from appliance.policy.workdays import WorkCalendar
from appliance.store import dedupe as dedupe_store
from appliance.store.writer import Store

if TYPE_CHECKING:
    from appliance.dispatch.intake import SendRequest

SKIP_CATEGORIES = frozenset({"alert", "otp"})
EXEMPT_DOORS = frozenset({"rules"})
"""Answers, not sends: an auto-answer rule (the unsubscribe confirmation among them) replies
each time it is asked, bounded by its own cooldown and loop limit. Dedupe guards what staff
and devices submit."""
IN_FLIGHT_WAIT = 10.0
"""Seconds a request waits at most for an identical one being stored to commit (a refused or
failed one releases it at once: `abandoned`); then the outbox alone decides."""
IN_FLIGHT_MARK = 60.0
"""Seconds a mark counts at most: a safety net, should a release ever be missed."""


RECENT_MAX = 200_000
"""Pairs the in-memory record holds at most (~100 bytes each); past it, every send reads."""
RECENT_SLACK = timedelta(days=1)
"""A pair is forgotten this long after the window has passed it: a row is stamped a little after
its request's `now`, and a clock set back must not bring back a forgotten copy."""
RECENT_PRUNE_EVERY = timedelta(minutes=10)

_Lookup = tuple[int, list[str], datetime, "tuple[str, str, str] | None"]
"""copies_since's arguments: content hash, recipients, since, replay_of."""
_Mark = tuple[asyncio.Event, float, set[str]]
"""A draft in flight, for one of its texts: (set once its rows are stored or given up,
monotonic deadline, its recipients with that text)."""


def may_skip(request: SendRequest) -> bool:
    """Whether this submitter may lift dedupe for this send (see the module docstring)."""
    return (request.category in SKIP_CATEGORIES or request.privileged
            or request.origin.role == "admin")


class Dedupe(Check):
    name = "dedupe"

    def __init__(self, store: Store, *, enabled: bool, tz: tzinfo,
                 calendar: WorkCalendar | None = None, window_hours: float | None = None,
                 exclusive: bool = False):
        self.store = store
        self.exclusive = exclusive
        self._recent: dict[int, float] = {}
        """_pair_keys (content hash, recipient) -> POSIX time it was last admitted or stored."""
        self._seeded = False  # `load` has put the outbox's recent pairs in `_recent`
        self._pruned_at: datetime | None = None
        self.enabled = enabled
        self.tz = tz
        self.calendar = calendar or WorkCalendar()
        self.window_hours = window_hours  # None: one working day
        self._in_flight: dict[int, list[_Mark]] = {}
        """content hash -> the marks of the drafts admitted with it and not yet stored."""
        self._drafts: dict[int, tuple[asyncio.Event, dict[int, list[str]], list]] = {}
        """id(draft) -> its marks' event, the recipients it marked by content hash, and the
        rows they came from (while the draft keeps those rows, `accepted` has nothing to
        note)."""
        self._lookups: list[tuple[list[_Lookup], asyncio.Future]] = []
        self._reading: set[asyncio.Task] = set()

    def window_start(self, now: datetime) -> datetime:
        if self.window_hours is not None:
            return now - timedelta(hours=self.window_hours)
        return self.calendar.one_working_day_before(now, self.tz)

    async def load(self, now: datetime) -> None:
        """Seed the record of recent pairs from the outbox (at start, before serving). Only
        for an exclusive outbox; without it every send reads the outbox."""
        if not self.exclusive or not self.enabled:
            return
        since = self.window_start(now) - RECENT_SLACK
        rows = await self.store.read(lambda: dedupe_store.recent_keys(since, RECENT_MAX + 1))
        if len(rows) > RECENT_MAX:
            return  # cut short: not every pair is there, so every send reads
        for h, recipient, created_at in rows:
            key = h ^ hash(recipient)  # as _pair_keys
            self._recent[key] = max(self._recent.get(key, 0.0), created_at.timestamp())
        self._seeded = True
        self._pruned_at = now

    def _may_have_copy(self) -> bool:
        """Whether the record can answer "no copy" (see the module docstring)."""
        return self._seeded

    def _remember(self, groups: dict[int, list[str]], now: datetime) -> None:
        """Note the pairs of `groups` (content hash -> recipients, `_by_text`) as sent now."""
        if not self._seeded:
            return
        stamp = now.timestamp()
        recent = self._recent
        for h, recipients in groups.items():
            recent.update(dict.fromkeys(_pair_keys(h, recipients), stamp))
        if self._pruned_at is None or now - self._pruned_at > RECENT_PRUNE_EVERY \
                or now < self._pruned_at or len(recent) > RECENT_MAX:
            self._pruned_at = now
            oldest = (self.window_start(now) - RECENT_SLACK).timestamp()
            self._recent = {k: t for k, t in recent.items() if t >= oldest}
            if len(self._recent) > RECENT_MAX:  # too many to hold: every send reads
                self._seeded, self._recent = False, {}

    def prepare(self, request: SendRequest) -> SendRequest:
        if request.skip_dedupe and not may_skip(request):
            from appliance.dispatch.intake import PolicyRefused

            raise PolicyRefused(
                "skip_dedupe_not_allowed", "skip_dedupe",
                f"skip_dedupe is allowed only for the categories alert and otp, or for an "
                f"admin; this {request.category} message may not lift dedupe", status=403)
        return request

    async def admit(self, draft: Draft) -> None:
        # Intake stamped every row with the hash of the request's text; a row whose text a
        # check has changed since gets its own (rows share one text object: `is` is enough).
        text = draft.request.text
        if any(r.text is not text or r.content_hash is None for r in draft.rows):
            draft.rows = [r if r.text is text and r.content_hash is not None
                          else dataclasses.replace(r, content_hash=content_hash(r.text))
                          for r in draft.rows]
        groups = _by_text(draft.rows)
        if (not self.enabled or draft.request.skip_dedupe
                or draft.request.origin.door in EXEMPT_DOORS):
            self._remember(groups, draft.now)  # copies for a later send all the same
            return
        await self._wait_for_in_flight(groups)
        # Marked before the read, with no await between the wait and the mark: a request
        # arriving while this one reads waits for this one to be stored.
        self._mark_in_flight(draft, groups)
        # Which rows may have a copy: all of them, unless the record of recent pairs says
        # (taken before this draft's own rows join it).
        by_hash: dict[int, list[str]] = {}
        if self._may_have_copy():
            for h, recipients in groups.items():
                known = self._recent.keys() & _pair_keys(h, recipients)
                if known:  # rarely: a text sent lately to some of these numbers
                    by_hash[h] = [r for r in recipients if h ^ hash(r) in known]
        else:
            by_hash = groups
        self._remember(groups, draft.now)
        found: dict[tuple[int, str], tuple[int, datetime]] = {}
        if by_hash:
            since = self.window_start(draft.now)
            request = draft.request
            replay_of = None if request.client_ref is None else (
                request.submitter_kind, request.submitter_id, request.client_ref)
            lookups = [(h, recipients, since, replay_of) for h, recipients in by_hash.items()]
            for (h, _, _, _), copies in zip(lookups, await self._look_up(lookups),
                                            strict=True):
                found.update(((h, number), copy) for number, copy in copies.items())
        if not found and all(len(set(rs)) == len(rs) for rs in groups.values()):
            return  # no copy stored, no number twice: every row goes
        keep: list[bool] = []
        reasons: list[str] = []
        seen: set[tuple[int, str]] = set()
        for row in draft.rows:
            key = (row.content_hash, row.recipient)
            copy = found.get(key)
            if copy is not None:
                keep.append(False)
                reasons.append(f"duplicate of message {copy[0]} accepted at "
                               f"{copy[1].astimezone(self.tz).isoformat(timespec='seconds')}")
            elif key in seen:
                keep.append(False)
                reasons.append("duplicate of an earlier recipient of this request")
            else:
                keep.append(True)
                reasons.append("")
            seen.add(key)
        if not all(keep):
            draft.leave_out(keep, reasons)

    async def _look_up(self, lookups: list[_Lookup]) -> list[dict[str, tuple[int, datetime]]]:
        """The copies for each look-up. Requests arriving in the same turn of the event loop
        share one read job: the hop to a reader thread cost more than the indexed read
        (measured: 32 single-recipient requests at once, ~0.2 ms of CPU each)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        if not self._lookups:
            loop.call_soon(self._flush_lookups)
        self._lookups.append((lookups, future))
        return await future

    def _flush_lookups(self) -> None:
        batch, self._lookups = self._lookups, []

        def read() -> list[list[dict[str, tuple[int, datetime]]]]:
            return [[dedupe_store.copies_since(*lookup) for lookup in lookups]
                    for lookups, _ in batch]

        async def run() -> None:
            try:
                results = await self.store.read(read)
            except Exception as exc:  # noqa: BLE001 - each request hears of it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

        task = asyncio.get_running_loop().create_task(run(), name="dedupe-read")
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)

    async def _wait_for_in_flight(self, groups: dict[int, list[str]]) -> None:
        if not self._in_flight:
            return
        now = time.monotonic()
        events = []
        for h, recipients in groups.items():
            for event, deadline, marked in self._in_flight.get(h, ()):
                if deadline > now and not event.is_set() and not marked.isdisjoint(recipients):
                    events.append(event)
        if events:
            waits = [asyncio.ensure_future(e.wait()) for e in set(events)]
            try:
                await asyncio.wait(waits, timeout=IN_FLIGHT_WAIT)
            finally:
                for w in waits:
                    w.cancel()

    def _mark_in_flight(self, draft: Draft, groups: dict[int, list[str]]) -> None:
        event = asyncio.Event()
        now = time.monotonic()
        deadline = now + IN_FLIGHT_MARK
        if len(self._in_flight) > 10_000:  # given-up marks past their deadline
            live = ((h, [m for m in marks if m[1] > now and not m[0].is_set()])
                    for h, marks in self._in_flight.items())
            self._in_flight = {h: marks for h, marks in live if marks}
        for h, recipients in groups.items():
            self._in_flight.setdefault(h, []).append((event, deadline, set(recipients)))
        self._drafts[id(draft)] = (event, groups, draft.rows)

    def _release(self, draft: Draft) -> None:
        mark = self._drafts.pop(id(draft), None)
        if mark is None:
            return
        event, groups, _ = mark
        event.set()
        for h in groups:
            others = [m for m in self._in_flight.get(h, ()) if m[0] is not event]
            if others:
                self._in_flight[h] = others
            else:
                self._in_flight.pop(h, None)

    async def accepted(self, draft: Draft, ids: list[int]) -> None:
        # `admit` noted the pairs it saw, at draft.now; noted again here only when a later
        # check replaced the rows (a signature changes the text, so its hash), as stored.
        mark = self._drafts.get(id(draft))
        if mark is None or mark[2] is not draft.rows:
            self._remember(_by_text(draft.rows), draft.now)
        self._release(draft)

    def abandoned(self, draft: Draft) -> None:
        self._release(draft)


def _pair_keys(content: int, recipients: list[str]) -> Iterator[int]:
    """The record's keys of (content hash, recipient) pairs: the two hashes combined, computed
    in C for a request's recipients (a collision only costs a read of the outbox)."""
    return map(content.__xor__, map(hash, recipients))


def _by_text(rows: list) -> dict[int, list[str]]:  # list[NewMessage]
    """The rows' recipients by content hash: one entry for a request's rows (they share their
    text), so the checks below go by text and hand the recipients to C-level set and dict
    operations instead of building a (hash, recipient) key per row."""
    if not rows:
        return {}
    first = rows[0].content_hash
    if all(r.content_hash == first for r in rows):
        return {first: [r.recipient for r in rows]}
    groups: dict[int, list[str]] = {}
    for row in rows:
        groups.setdefault(row.content_hash, []).append(row.recipient)
    return groups


def build_dedupe(config, store: Store, tz: tzinfo) -> Dedupe:  # noqa: ANN001 - config.Config
    """The check as `[dedupe]` configures it."""
    section = config.dedupe
    return Dedupe(store, enabled=section.enabled, tz=tz,
                  calendar=WorkCalendar.from_strings(section.holidays,
                                                     section.working_weekend_days),
                  window_hours=section.window_hours(),
                  # One appliance owns an SQLite outbox; a PostgreSQL one may be a fleet's.
                  exclusive=config.database.url.startswith("sqlite:"))

__all__ = ["Dedupe", "build_dedupe", "content_hash", "may_skip", "normalise"]  # re-exported
