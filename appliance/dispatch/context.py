"""What the dispatcher's parts share: settings, the clock, the SIM slots, the waiting index,
and the ways they tell the world about changes.

Knows: the shared state of one dispatcher and small services over it (now, emit, wake,
background writes, a SIM's health saved, problems remembered and logged once).
Must not know: how a round is planned, how a message is sent, AT, HTTP. The scheduler and the
sender depend on this object, not on the engine; the engine owns it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import zoneinfo
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance.config import DispatchConfig
from appliance.dispatch import health as health_rules
from appliance.dispatch import rates
from appliance.dispatch.pending import PendingIndex
from appliance.dispatch.slots import SimSlot
from appliance.hub import EventHub, MessageStateChanged
from appliance.policy.holds import HoldSchedule
from appliance.store import sims as sim_store
from appliance.store.writer import Store

log = logging.getLogger("appliance.dispatch")

EventListener = Callable[[int, str, "str | None"], None]
STICKY_MAX = 100_000
"""Recipients whose last SIM the dispatcher remembers (sticky recipients). At ~150 bytes an
entry, 100k cost ~15 MB on the Pi; a recipient not written to or heard from since 100k others
were starts afresh on whichever SIM the balancer picks (then sticks again)."""
REPEAT_LOG_SECONDS = 60.0
"""A problem that keeps happening is logged again at most this often, with its count."""


class RecentRecipients(OrderedDict[str, str]):
    """recipient -> ICCID, at most `maxlen` entries; the least recently written or read goes
    first when full."""

    def __init__(self, maxlen: int = STICKY_MAX):
        super().__init__()
        self.maxlen = maxlen

    def __setitem__(self, recipient: str, iccid: str) -> None:
        super().__setitem__(recipient, iccid)
        self.move_to_end(recipient)
        while len(self) > self.maxlen:
            self.popitem(last=False)

    def get(self, recipient: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if recipient not in self:
            return default
        self.move_to_end(recipient)
        return super().__getitem__(recipient)


@dataclass
class Problem:
    """A failure that keeps the dispatcher from working normally, until it stops happening."""

    what: str
    message: str
    count: int = 1
    first: float = field(default_factory=time.monotonic)
    logged: float = field(default_factory=time.monotonic)


class DispatchContext:
    def __init__(self, config: DispatchConfig, store: Store, *,
                 clock: Callable[[], datetime], rng: random.Random, send_timeout: float = 60.0,
                 hub: EventHub | None = None):
        self.config = config
        self.send_timeout = send_timeout
        """The ceiling of a +CMGS answer's wait (modems.send_timeout)."""
        self.store = store
        self.tz = zoneinfo.ZoneInfo(config.timezone)
        self.limits = rates.RateLimits.from_config(config)
        self.health_policy = health_rules.HealthPolicy.from_config(config)
        self.clock = clock
        self.rng = rng
        self.slots: dict[str, SimSlot] = {}
        self.pending = PendingIndex()
        self.sticky = RecentRecipients(STICKY_MAX)
        self.recent_share: Counter = Counter()
        self.listeners: list[EventListener] = []
        self.hub = hub if hub is not None else EventHub()
        """Where every committed change is published (webhooks, the live console, metrics)."""
        self.holds: HoldSchedule | None = None
        """Quiet hours and maintenance (policy.holds): categories not to claim now. Set by
        the appliance; None holds nothing."""
        self.running = False
        self.problems: dict[str, Problem] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    def now(self) -> datetime:
        return self.clock()

    # -- telling -----------------------------------------------------------------------------
    def emit(self, message_id: int, state: str, iccid: str | None = None) -> None:
        """Tell of a state change already committed: the hub, then in-process listeners."""
        self.hub.publish(MessageStateChanged(message_id=message_id, state=state, sim=iccid))
        for listener in self.listeners:
            try:
                listener(message_id, state, iccid)
            except Exception:  # a subscriber's bug must not stop sending
                log.exception("message event listener failed")

    def wake(self) -> None:
        self._wake.set()

    # -- background work ---------------------------------------------------------------------
    def spawn(self, coro: Any, name: str | None = None) -> asyncio.Task:
        """A background task the dispatcher waits for at stop (a SIM's release, a write)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed: %r", t.get_name(), t.exception())

        task.add_done_callback(done)
        return task

    def spawn_write(self, fn: Callable[[], Any]) -> None:
        """A write whose result nobody waits for (the writer keeps its order)."""
        self.spawn(self.store.write(fn), name="write")

    async def drain_background(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def persist_health(self, slot: SimSlot) -> None:
        h = slot.health
        now = self.now()
        state = "barred" if h.barred else ("resting" if h.rest_until and h.rest_until > now
                                           else "active")
        self.spawn_write(lambda: sim_store.save_sim_health(
            slot.iccid, health_rules.to_dict(h), state=state, score=h.score,
            rest_until=h.rest_until, failures=h.consecutive_failures,
            barred_reason=h.barred_reason))

    # -- problems ----------------------------------------------------------------------------
    def problem(self, what: str, exc: BaseException) -> None:
        """`what` failed: logged with its traceback the first time, then once a minute with a
        count while the same message repeats; shown by `problems()` until `resolved(what)`."""
        message = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        known = self.problems.get(what)
        if known is None or known.message != message:
            self.problems[what] = Problem(what, message)
            log.error("%s failed: %s", what, message, exc_info=exc)
            return
        known.count += 1
        if now - known.logged >= REPEAT_LOG_SECONDS:
            known.logged = now
            log.error("%s still failing: %s (%d times since the first)", what, message,
                      known.count)

    def resolved(self, what: str) -> None:
        known = self.problems.pop(what, None)
        if known is not None:
            log.warning("%s recovered after %d failure(s): %s", what, known.count,
                        known.message)

    def problem_list(self) -> list[str]:
        return [f"{p.what} failing: {p.message}" + (f" ({p.count} times)" if p.count > 1 else "")
                for p in self.problems.values()]
