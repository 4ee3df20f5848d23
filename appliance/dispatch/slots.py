"""One SIM as the dispatcher runs it: its sender, counters, health, pacing and work queue.

Knows: the policy values of one SIM (rates.SimCounters, health.SimHealth) and how they turn
into the balancer's SimView. Must not know: AT commands, the database.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from appliance.dispatch import health as health_rules
from appliance.dispatch import rates
from appliance.dispatch.balancer import SimView
from appliance.modem.contract import PartSender


@dataclass
class SimSlot:
    iccid: str
    network: str | None
    sender: PartSender | None = None  # None while the SIM's modem is away
    port: str = ""
    counters: rates.SimCounters = field(default_factory=rates.SimCounters)
    health: health_rules.SimHealth = field(default_factory=health_rules.SimHealth)
    last_sent_at: datetime | None = None
    next_send_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    busy: bool = False  # a message of this SIM is being sent right now
    task: asyncio.Task | None = None
    sent_total: int = 0
    failed_total: int = 0

    @property
    def attached(self) -> bool:
        return self.sender is not None

    @property
    def idle(self) -> bool:
        return self.attached and not self.busy and self.queue.empty()

    def view(self, limits: rates.RateLimits, now: datetime, tz: tzinfo) -> SimView:
        room = rates.headroom(self.counters, limits, now, tz)
        c = self.counters.rolled(now, tz)
        return SimView(
            iccid=self.iccid,
            network=self.network,
            available=self.attached and health_rules.is_available(self.health, now),
            headroom=room,
            in_flight=(1 if self.busy else 0) + self.queue.qsize(),
            sent_today=c.count("day"),
            health=self.health.score,
            next_send_at=self.next_send_at,
            daily_cap=limits.per_day,
        )

    def plan_next_send(self, limits: rates.RateLimits, now: datetime, tz: tzinfo,
                       rng: random.Random, parts: int = 1) -> datetime:
        self.next_send_at = rates.next_send_time(self.last_sent_at, limits, self.counters, now,
                                                 tz, rng, parts=parts)
        return self.next_send_at

    def record_sent(self, now: datetime, tz: tzinfo, parts: int = 1) -> None:
        self.counters = rates.record_send(self.counters, now, tz, parts)
        self.last_sent_at = now
        self.sent_total += parts

    def counters_view(self, limits: rates.RateLimits, now: datetime, tz: tzinfo) -> dict:
        c = self.counters.rolled(now, tz)
        h = self.health
        return {
            "sent_minute": c.count("minute"),
            "sent_hour": c.count("hour"),
            "sent_today": c.count("day"),
            "sent_month": c.count("month"),
            "headroom": rates.headroom(self.counters, limits, now, tz),
            "sent_total": self.sent_total,
            "failed_total": self.failed_total,
            "health": round(h.score, 3),
            "resting_until": h.rest_until.isoformat() if h.rest_until and h.rest_until > now
            else None,
            "barred": h.barred,
            "barred_reason": h.barred_reason,
            "queued_on_sim": self.queue.qsize() + (1 if self.busy else 0),
        }
