"""One SIM as the dispatcher runs it: its sender, counters, health, pacing, +CMGS turnaround and
work queue.

Knows: the policy values of one SIM (rates.SimCounters, health.SimHealth,
turnaround.TurnaroundTracker) and how they turn into the balancer's SimView and the /modems
counters. Must not know: AT commands, the database.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from appliance.dispatch import health as health_rules
from appliance.dispatch import rates
from appliance.dispatch.balancer import SimView
from appliance.dispatch.turnaround import TurnaroundTracker

CAP_COUNTERS = {"minute": "sent_last_60s", "hour": "sent_last_hour", "day": "sent_last_24h",
                "month": "sent_month"}
"""A cap's window -> the `counters_view` key holding the parts it counts now."""

class WorkQueue:
    """Claimed message ids waiting on one SIM, in claim order.

    An asyncio.Queue cannot give back one item: a cancelled message, or the work of a SIM that
    went away, has to leave the queue without being sent.
    """

    def __init__(self) -> None:
        self._items: deque[int] = deque()
        self._ready = asyncio.Event()

    def put_nowait(self, message_id: int) -> None:
        self._items.append(message_id)
        self._ready.set()

    async def get(self) -> int:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def remove(self, message_id: int) -> bool:
        """Take `message_id` out if it is still waiting; True when it was."""
        try:
            self._items.remove(message_id)
        except ValueError:
            return False
        return True

    def peek(self) -> int | None:
        """The next waiting id, left in the queue; None when empty."""
        return self._items[0] if self._items else None

    def take_nowait(self) -> int | None:
        """The next waiting id, or None."""
        return self._items.popleft() if self._items else None

    def take_all(self) -> list[int]:
        items, self._items = list(self._items), deque()
        return items

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def __contains__(self, message_id: int) -> bool:
        return message_id in self._items

    def ids(self) -> set[int]:
        return set(self._items)


class SimSender(Protocol):
    """What a slot sends through (the pool's SupervisedSender; a wrapper in tests)."""

    @property
    def ready(self) -> bool:
        """False while the modem is reopening or gone."""

    async def send_part(self, pdu: str, tpdu_length: int, **options: Any) -> int: ...

    async def check_alive(self, timeout: float = 2.0) -> bool:
        """After an unanswered +CMGS: does the modem answer a bare AT?"""


@dataclass
class SimSlot:
    iccid: str
    network: str | None
    sender: SimSender | None = None  # None while the SIM's modem is away
    port: str = ""
    counters: rates.SimCounters = field(default_factory=rates.SimCounters)
    health: health_rules.SimHealth = field(default_factory=health_rules.SimHealth)
    turnaround: TurnaroundTracker = field(default_factory=TurnaroundTracker)
    """Its recent +CMGS answer times, fed by the sender (record_turnaround); they set its
    +CMGS timeout (send_timeout)."""
    last_sent_at: datetime | None = None
    next_send_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    queue: WorkQueue = field(default_factory=lambda: WorkQueue())
    busy: bool = False  # a message of this SIM is being sent right now
    current: int | None = None  # the id of that message (it can no longer be cancelled)
    reserved: dict[int, int] = field(default_factory=dict)
    """Parts of claimed, unfinished messages (queued or being sent): counted against the caps
    before they are sent, or a SIM near its cap would claim more than it may send."""
    prepared: dict[int, object] = field(default_factory=dict)
    """Claimed messages in the queue whose parts were stored with the claim (message id ->
    sender.PreparedMessage): their send starts without a round trip to the database."""
    task: asyncio.Task | None = None
    lost_at: datetime | None = None  # when its modem went away (None while attached)
    sent_total: int = 0
    failed_total: int = 0

    @property
    def attached(self) -> bool:
        return self.sender is not None

    @property
    def sender_ready(self) -> bool:
        return self.sender is not None and self.sender.ready

    @property
    def idle(self) -> bool:
        return self.attached and not self.busy and self.queue.empty()

    def view(self, limits: rates.RateLimits, now: datetime, tz: tzinfo) -> SimView:
        room = rates.headroom(self.counters, limits, now, tz)
        if room != rates.UNLIMITED:
            room = max(0, room - sum(self.reserved.values()))
        return SimView(
            iccid=self.iccid,
            network=self.network,
            available=self.attached and health_rules.is_available(self.health, now),
            headroom=room,
            in_flight=(1 if self.busy else 0) + self.queue.qsize(),
            # The load the daily cap limits: parts in the last 24 hours (sliding, like the cap),
            # which costs no calendar arithmetic per SIM per round.
            sent_today=self.counters.sent_within("day", now),
            health=self.health.score,
            next_send_at=self.next_send_at,
            daily_cap=limits.per_day,
        )

    def plan_next_send(self, limits: rates.RateLimits, now: datetime, tz: tzinfo,
                       rng: random.Random, parts: int | None = None) -> datetime:
        """When its next message of `parts` parts may start (pacing and every cap); without
        `parts`, the parts of the next message in its queue (1 when it is empty). A message
        claimed after this plan may have more parts than planned for: check caps_allow() with
        its parts right before it starts."""
        if parts is None:
            head = self.queue.peek()
            parts = self.reserved.get(head, 1) if head is not None else 1
        self.next_send_at = rates.next_send_time(self.last_sent_at, limits, self.counters, now,
                                                 tz, rng, parts=parts)
        return self.next_send_at

    def caps_allow(self, limits: rates.RateLimits, now: datetime, tz: tzinfo,
                   parts: int) -> datetime:
        """The earliest instant from `now` every cap allows `parts` parts (no pacing): a check
        right before a message starts, when it was planned for fewer parts."""
        return rates.caps_allow_at(self.counters, limits, now, tz, parts=parts)

    def record_sent(self, now: datetime, tz: tzinfo, parts: int = 1) -> None:
        self.counters = rates.record_send(self.counters, now, tz, parts)
        self.last_sent_at = now
        self.sent_total += parts

    def record_turnaround(self, seconds: float) -> None:
        """A +CMGS of this SIM was answered `seconds` after it was sent (a late answer too)."""
        self.turnaround.record(seconds)

    def send_timeout(self, floor: float, ceiling: float, factor: float) -> float:
        """Seconds its next +CMGS may go unanswered (turnaround.TurnaroundTracker.timeout)."""
        return self.turnaround.timeout(floor, ceiling, factor)

    def counters_view(self, limits: rates.RateLimits, now: datetime, tz: tzinfo) -> dict:
        """For /api/v1/modems: calendar counts (this local minute, hour, day, month), the sliding
        ones the caps apply to (last 60 s, 60 minutes, 24 hours), health and turnaround."""
        c = self.counters.rolled(now, tz)
        h = self.health
        p99 = self.turnaround.p99()
        return {
            "sent_minute": c.count("minute"),
            "sent_hour": c.count("hour"),
            "sent_today": c.count("day"),
            "sent_month": c.count("month"),
            "sent_last_60s": self.counters.sent_within("minute", now),
            "sent_last_hour": self.counters.sent_within("hour", now),
            "sent_last_24h": self.counters.sent_within("day", now),
            "headroom": rates.headroom(self.counters, limits, now, tz),
            "sent_total": self.sent_total,
            "failed_total": self.failed_total,
            "health": round(h.score, 3),
            "resting_until": h.rest_until.isoformat() if h.rest_until and h.rest_until > now
            else None,
            "consecutive_failures": h.consecutive_failures,
            "consecutive_silences": h.consecutive_silences,
            "barred": h.barred,
            "barred_reason": h.barred_reason,
            "queued_on_sim": self.queue.qsize() + (1 if self.busy else 0),
            "turnaround_p99": round(p99, 3) if p99 is not None else None,
        }
