"""An appliance with its HTTP server over simulated modems on real ptys, restartable on the same
SQLite file while the fleet stays up (a modem keeps what it stores across the restart).

Built from tests/api/conftest.py's parts (config, keys, wait_for); `InboxRig.restart()` stops
the appliance and starts a new one on the same file, as a power cycle of the box would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.api.http_protocol import LenientHttpProtocol
from appliance.app import Appliance, create_app
from appliance.config import Config
from appliance.hub import SmsReceived, Subscription
from appliance.sim import SimFleet
from appliance.store.service import create_api_key_sync
from tests.api.conftest import DEFAULT_KEYS, make_config, wait_for

__all__ = ["FakeClock", "InboxRig", "wait_for"]


class FakeClock:
    """A clock the test moves; starts at the real now (SMSC stamps are real times)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class InboxRig:
    tmp: Path
    fleet: SimFleet
    config: Config
    keys: dict[str, str]
    appliance: Appliance | None = None
    client: httpx.AsyncClient | None = None
    received: Subscription | None = None
    _server: Any = None
    _starts: int = 0
    events: list[SmsReceived] = field(default_factory=list)

    async def start(self) -> None:
        self._starts += 1
        self.appliance = Appliance(self.config)
        app = create_app(self.appliance)
        server = await app.create_server(host=self.config.http.host, port=self.config.http.port,
                                         return_asyncio_server=True, access_log=False,
                                         protocol=LenientHttpProtocol)
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        self._server = server
        self.received = self.appliance.hub.subscribe("test", [SmsReceived])
        self.client = httpx.AsyncClient(base_url=f"http://{self.config.http.listen}",
                                        timeout=10.0)
        await wait_for(lambda: len(self.appliance.pool.ready()) >= self.fleet.count,
                       "every modem ready")

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
        if self._server is not None:
            server, self._server = self._server, None
            await server.before_stop()
            closing = server.close()
            if closing is not None:
                await closing
            await server.after_stop()
        self.appliance = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def inbox(self):
        assert self.appliance is not None and self.appliance.inbox is not None
        return self.appliance.inbox

    def iccid(self, index: int) -> str:
        return self.fleet.modems[index].profile.iccid

    def imei(self, index: int) -> str:
        return self.fleet.modems[index].profile.imei

    async def get(self, path: str, key: str | None = "full", **kw: Any) -> httpx.Response:
        assert self.client is not None
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return await self.client.get(path, headers=headers, **kw)

    async def inbox_list(self, **params: Any) -> list[dict]:
        response = await self.get("/api/v1/inbox", params=params)
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    async def wait_inbox(self, count: int, **params: Any) -> list[dict]:
        async def enough() -> list[dict] | None:
            got = await self.inbox_list(**params)
            return got if len(got) >= count else None

        return await wait_for(enough, f"{count} inbox message(s)")

    async def wait_modem_empty(self, index: int) -> None:
        """Until modem `index` holds no message: read, committed, and deleted."""
        store = self.fleet.modems[index].store
        await wait_for(lambda: not store.used, f"modem {index} emptied by the appliance")

    async def published(self) -> list[SmsReceived]:
        """Every SmsReceived the hub has carried since the rig started (across restarts)."""
        assert self.received is not None
        while self.received.pending():
            self.events.append(await self.received.get())  # type: ignore[arg-type]
        return list(self.events)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[InboxRig]:
    ports = tmp_path / "ports"
    config = make_config(tmp_path, ports)
    keys = {name: create_api_key_sync(config.database.url, name, scopes)
            for name, scopes in DEFAULT_KEYS.items()}
    async with SimFleet(2, ports, latency=0.0, record=True) as fleet:
        rig = InboxRig(tmp=tmp_path, fleet=fleet, config=config, keys=keys)
        await rig.start()
        try:
            yield rig
        finally:
            await rig.stop()
