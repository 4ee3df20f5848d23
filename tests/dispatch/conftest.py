"""Fixtures: the whole appliance (store, pool, dispatcher; no HTTP) on simulated modems.

Every test gets a real SQLite WAL file under tmp_path and a SimFleet whose modems are real
pseudo-terminals opened through the real AT channel and driver. Completion is awaited through
the dispatcher's `emit` events and the database, never by sleeping a fixed time; the timeouts
below are generous bounds against hangs only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.app import Appliance
from appliance.config import (
    AdminConfig,
    Config,
    DatabaseConfig,
    DispatchConfig,
    ModemsConfig,
    QuietHoursConfig,
)
from appliance.dispatch.engine import Dispatcher
from appliance.sim import SimFleet
from appliance.store.messages import NewMessage, get_message
from appliance.store.models import Message

WAIT = 30.0
"""Seconds any wait may take before the test fails as hung (nothing asserts on timing)."""

FINAL = {"sent", "delivered", "failed", "ambiguous", "expired", "cancelled"}


class FakeClock:
    """An injectable clock: starts at real now, moves only when told."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def dispatch_config(**overrides: Any) -> DispatchConfig:
    """Caps lifted (0) unless a test puts them back."""
    values: dict[str, Any] = {"per_sim_per_minute": 0, "per_sim_per_hour": 0,
                              "per_sim_per_day": 0, "per_sim_per_month": 0}
    values.update(overrides)
    return DispatchConfig(**values)


def make_config(tmp_path: Path, *, send_timeout: float = 5.0, **dispatch: Any) -> Config:
    return Config(
        database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'data' / 'cardgate.db'}"),
        modems=ModemsConfig(autodetect=False, ports=[str(tmp_path / "ports" / "modem*")],
                            poll_interval=60.0, command_timeout=3.0, send_timeout=send_timeout),
        dispatch=dispatch_config(**dispatch),
        admin=AdminConfig(socket=str(tmp_path / "admin.sock")),  # not the system's /run/cardgate
        quiet_hours=QuietHoursConfig(enabled=False),  # tests run at any hour on a real clock
    )


@dataclass
class Rig:
    """A running appliance over a running fleet; `events` collects the dispatcher's emits."""

    tmp_path: Path
    fleet: SimFleet
    config: Config
    clock: Callable[[], datetime] | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    appliance: Appliance | None = None
    events: list[tuple[int, str, str | None]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def dispatcher(self) -> Dispatcher:
        assert self.appliance is not None and self.appliance.dispatcher is not None
        return self.appliance.dispatcher

    def iccid(self, index: int) -> str:
        return self.fleet.modems[index].profile.iccid

    async def start(self) -> None:
        """Start the appliance and wait until every plugged modem's SIM can send."""
        self.appliance = Appliance(self.config)
        await self.appliance.start()
        # Appliance builds its own Dispatcher; the injected clock and rng take over before any
        # SIM is attached (the pool's supervisors are still opening their ports).
        if self.clock is not None:
            self.dispatcher.clock = self.clock
        self.dispatcher.rng = self.rng
        self.dispatcher.listeners.append(self._on_event)
        plugged = sum(1 for p in self.fleet.ports if p.plugged)
        await self.wait_for(lambda: len(self.attached()) >= plugged)

    async def stop(self) -> None:
        if self.appliance is not None:
            await self.appliance.stop()
            self.appliance = None

    def attached(self) -> list[str]:
        return [i for i, s in self.dispatcher.slots.items() if s.attached]

    def _on_event(self, message_id: int, state: str, iccid: str | None) -> None:
        self.events.append((message_id, state, iccid))
        self._changed.set()

    async def wait_for(self, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        """Until `condition()` holds; woken by events, and rechecked every 50 ms regardless."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    async def submit(self, messages: Iterable[NewMessage]) -> list[int]:
        return await self.dispatcher.submit(list(messages))

    async def states(self, ids: Iterable[int]) -> dict[int, str]:
        wanted = list(ids)

        def load() -> dict[int, str]:
            out: dict[int, str] = {}
            for chunk in range(0, len(wanted), 500):
                part = wanted[chunk:chunk + 500]
                out.update({m.id: m.state for m in Message.select(Message.id, Message.state)
                            .where(Message.id.in_(part))})
            return out

        return await self.dispatcher.store.read(load)

    async def wait_final(self, ids: Iterable[int], final: set[str] = FINAL,
                         timeout: float = WAIT) -> dict[int, str]:
        """Until every message is in one of `final` states (checked in the database)."""
        wanted = list(ids)
        result: dict[int, str] = {}

        async def done() -> bool:
            nonlocal result
            result = await self.states(wanted)
            return all(s in final for s in result.values())

        async with asyncio.timeout(timeout):
            while not await done():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.1)
        return result

    async def message(self, message_id: int) -> dict[str, Any]:
        return await self.dispatcher.store.read(lambda: get_message(message_id))

    def accepted(self) -> list[tuple[int, Any]]:
        """(modem index, AcceptedPdu) for every PDU any modem took, in no particular order."""
        return [(i, a) for i, m in enumerate(self.fleet.modems) for a in m.accepted]


RigFactory = Callable[..., contextlib.AbstractAsyncContextManager[Rig]]


@pytest.fixture
def make_rig(tmp_path: Path) -> RigFactory:
    @contextlib.asynccontextmanager
    async def factory(count: int = 4, *, latency: float = 0.0,
                      clock: Callable[[], datetime] | None = None, send_timeout: float = 5.0,
                      start: bool = True, **dispatch: Any) -> AsyncIterator[Rig]:
        fleet = SimFleet(count, tmp_path / "ports", latency=latency, record=True)
        await fleet.start()
        rig = Rig(tmp_path, fleet, make_config(tmp_path, send_timeout=send_timeout, **dispatch),
                  clock=clock)
        try:
            if start:
                await rig.start()
            yield rig
        finally:
            await rig.stop()
            await fleet.stop()

    return factory


def numbers(count: int, prefix: str = "139") -> list[str]:
    """`count` distinct valid mainland mobile numbers on one segment."""
    return [f"+86{prefix}{n:08d}" for n in range(10_000_000, 10_000_000 + count)]


def new(recipient: str, text: str = "hello", **kwargs: Any) -> NewMessage:
    return NewMessage(recipient=recipient, text=text, **kwargs)
