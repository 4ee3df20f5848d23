"""The recurring-send runner: one task, started with the appliance, that submits each schedule
through intake when it is due.

Knows: when to wake (the earliest `next_at`, at most POLL_CEILING away, or at once when the
console changes a schedule: `wake()`), and how a firing goes:
1. the occurrence is decided (`recurrence.decide`: the latest missed one fires once if recent,
   an older one is skipped and the skip recorded);
2. the schedule is CLAIMED by moving its `next_at` on, conditionally on the value read
   (`store.compose.claim_occurrence`): a second runner, or a restart, finds it moved and does
   not fire it again; a crash after the claim loses that one firing rather than sending it
   twice (at most once, as an SMS should be);
3. the recipients are gathered and checked now (a group's members as they are today, the
   blacklist and consent as they are today), the text merged, and each text submitted through
   intake under a client_ref naming the schedule and the occurrence;
4. what happened is written on the schedule (`last_result`), shown in the schedules list.
Must not know: HTTP, SQL (store.compose), cron arithmetic (compose.recurrence).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from appliance.compose import recurrence
from appliance.compose.merge import merge
from appliance.compose.recipients import Candidate, RangeError
from appliance.compose.send import Sources, Submitter, check, gather, submit
from appliance.dispatch.intake import InvalidRequest
from appliance.policy.origin import Origin
from appliance.store import compose as compose_store

log = logging.getLogger(__name__)

POLL_CEILING = 60.0
"""Seconds the runner sleeps at most: a safety net (a wall-clock step, a schedule written by
another process); a change made in the console wakes it at once."""


class ScheduleRunner:
    def __init__(self, store, dispatcher, *, region: str = "CN",  # noqa: ANN001
                 blocked=None, consent_required: bool = False,  # noqa: ANN001
                 clock: Callable[[], datetime] | None = None):
        self.store = store
        self.dispatcher = dispatcher
        self.region = region
        self.blocked = blocked
        self.consent_required = consent_required
        self.clock = clock or (lambda: datetime.now(UTC))
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="schedules")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def wake(self) -> None:
        """A schedule was created, resumed or changed: look again now."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
                earliest = await self.store.read(compose_store.earliest_due)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the runner outlives one bad round
                log.exception("recurring sends: a round failed; trying again shortly")
                earliest = None
            delay = POLL_CEILING
            if earliest is not None:
                delay = min(max((earliest - self.clock()).total_seconds(), 0.0), POLL_CEILING)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def run_due(self) -> int:
        """Fire (or skip) every schedule due now; how many fired."""
        now = self.clock()
        fired = 0
        for schedule in await self.store.read(lambda: compose_store.due_schedules(now)):
            if await self._one(schedule, now):
                fired += 1
        return fired

    async def _one(self, schedule: dict, now: datetime) -> bool:
        sid, due_at = schedule["id"], schedule["next_at"]
        try:
            occurrence, following = recurrence.decide(schedule["cron"], due_at, now,
                                                      schedule["timezone"])
        except Exception as exc:  # noqa: BLE001 - a bad row: pause it, say why
            why = f"error: {exc}"
            await self.store.write(lambda: (compose_store.set_schedule_state(sid, "paused"),
                                            compose_store.record_result(sid, why)))
            return False
        if occurrence is None:
            when = due_at.isoformat(timespec="minutes")
            await self.store.write(lambda: compose_store.skip_occurrence(
                sid, due_at, following, f"skipped: the send due at {when} was missed "
                                        f"while the appliance was off"))
            return False
        claimed = await self.store.write(
            lambda: compose_store.claim_occurrence(sid, due_at, following, now))
        if not claimed:
            return False  # fired by another runner, or changed meanwhile
        result = await self._fire(schedule, occurrence)
        await self.store.write(lambda: compose_store.record_result(sid, result))
        return True

    async def _fire(self, schedule: dict, occurrence: datetime) -> str:
        spec = schedule["spec"]
        origin = Origin(door="console", user_id=schedule["user_id"],
                        department_id=schedule["department_id"], role=schedule["role"])
        who = Submitter(origin, schedule["created_by"], privileged=schedule["role"] == "admin")
        sources = Sources(typed="\n".join(spec.get("numbers", [])),
                          group_ids=[int(g) for g in spec.get("group_ids", [])],
                          imported=[Candidate(r["number"], "import", r.get("name", ""),
                                              r.get("fields", {}))
                                    for r in spec.get("rows", [])])
        category = spec.get("category", "notice")
        try:
            candidates = await gather(self.store, sources)
            checked = await check(self.store, candidates, region=self.region,
                                  blocked=self.blocked, category=category,
                                  consent_required=self.consent_required)
            merged = merge(spec.get("text", ""), checked.recipients)
            stamp = occurrence.strftime("%Y%m%dT%H%M")
            done = await submit(self.dispatcher, self.store, merged, category=category,
                                priority=spec.get("priority"), send_at=None, who=who,
                                campaign_name=f"{schedule['name']} {stamp}",
                                client_ref=f"schedule:{schedule['id']}:{stamp}")
        except (InvalidRequest, RangeError) as exc:
            return f"refused: {getattr(exc, 'message', str(exc))}"
        except Exception as exc:  # noqa: BLE001 - recorded on the schedule, and logged
            log.exception("recurring send %s failed", schedule["id"])
            return f"error: {exc}"
        left = len(checked.problems) + len(merged.missing) + len(done.rejected)
        campaign = f" campaign {done.campaign_id}" if done.campaign_id else ""
        return f"sent: {len(done.ids)} message(s){campaign}; {left} left out"


__all__ = ["POLL_CEILING", "ScheduleRunner"]
