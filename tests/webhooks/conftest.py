"""A real store (SQLite file, writer thread), a hub, and Deliverers over them, for webhook tests.

`Rig.deliverer(...)` starts a Deliverer with a short-backoff config; `Rig.restart()` stops the
Deliverer and the store and opens the same file again, as a restart of the appliance does.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appliance.config import WebhooksConfig
from appliance.hub import EventHub
from appliance.store.db import open_database
from appliance.store.migrations import migrate
from appliance.store.writer import Store
from appliance.webhooks import Deliverer
from tests.webhooks.receiver import Receiver

FAST = {"timeout": 5.0, "backoff_base": 0.05, "backoff_cap": 0.2, "max_attempts": 50,
        "max_age": 3600.0, "concurrency": 8, "per_endpoint": 2}


class ManualClock:
    """A clock the test moves (aware UTC)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Rig:
    path: Path
    db: Any = None
    store: Store | None = None
    hub: EventHub = field(default_factory=EventHub)
    deliverers: list[Deliverer] = field(default_factory=list)
    receivers: list[Receiver] = field(default_factory=list)

    async def open(self) -> None:
        self.db = open_database(f"sqlite:///{self.path}")
        migrate(self.db)
        self.store = Store(self.db)
        await self.store.start()

    async def close(self) -> None:
        for d in self.deliverers:
            await d.stop()
        self.deliverers.clear()
        if self.store is not None:
            await self.store.stop()
            self.store = None
        if self.db is not None:
            self.db.close()
            self.db = None

    async def restart(self) -> None:
        await self.close()
        self.hub = EventHub()
        await self.open()

    async def deliverer(self, *, clock=None, seed: int = 7, **config: Any) -> Deliverer:
        d = Deliverer(WebhooksConfig(**(FAST | config)), self.store, self.hub, clock=clock,
                      rng=random.Random(seed))
        await d.start()
        self.deliverers.append(d)
        return d

    async def receiver(self, **kw: Any) -> Receiver:
        r = await Receiver(**kw).start()
        self.receivers.append(r)
        return r

    async def write(self, fn):
        assert self.store is not None
        return await self.store.write(fn)

    async def read(self, fn):
        assert self.store is not None
        return await self.store.read(fn)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path / "cg.db")
    await r.open()
    try:
        yield r
    finally:
        await r.close()
        for receiver in r.receivers:
            await receiver.stop()
